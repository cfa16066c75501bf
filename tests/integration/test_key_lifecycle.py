"""Key lifecycle: rotation keeps the key id (and so its usage) and issues a
new secret; the old secret works until --grace ends (or stops at once
without it); keys can carry an expiry; a live key name is unique."""

import time

from conftest import assert_openai_error


def status_of(gw, secret):
    return gw.request("GET", "/v1/models", key=secret).status


def test_rotate_without_grace_stops_old_secret_at_once(gw):
    k = gw.create_key("rot-now")
    assert status_of(gw, k["key"]) == 200
    r = gw.gwctl("key", "rotate", k["id"])
    assert r["id"] == k["id"], "rotation must keep the public id"
    assert r["key"].startswith("sk-gw-") and r["key"] != k["key"]
    assert r["prefix"] == r["key"][:len(r["prefix"])]
    assert r["rotated_at"] is not None and r["previous_valid_until"] is None
    assert_openai_error(gw.request("GET", "/v1/models", key=k["key"]), 401,
                        code="invalid_api_key")
    assert status_of(gw, r["key"]) == 200


def test_rotate_with_grace_keeps_both_until_it_ends(gw):
    k = gw.create_key("rot-grace")
    before = time.time()
    r = gw.gwctl("key", "rotate", "rot-grace", "--grace", "2s")
    assert r["previous_prefix"] == k["prefix"]
    assert before + 1 <= r["previous_valid_until"] <= before + 3
    assert status_of(gw, k["key"]) == 200, "old secret refused during the grace period"
    assert status_of(gw, r["key"]) == 200
    time.sleep(max(0, r["previous_valid_until"] - time.time()) + 0.2)
    assert_openai_error(gw.request("GET", "/v1/models", key=k["key"]), 401,
                        code="invalid_api_key")
    assert status_of(gw, r["key"]) == 200
    shown = gw.gwctl("key", "show", k["id"])["key"]
    assert shown["previous_prefix"] is None and "key" not in shown


def test_usage_follows_the_key_id_across_rotation(gw):
    k = gw.create_key("rot-usage")
    assert gw.chat(k["key"], "one two three").status == 200
    r = gw.gwctl("key", "rotate", k["id"], "--grace", "1h")
    assert gw.chat(r["key"], "four five").status == 200
    assert gw.chat(k["key"], "six").status == 200  # old secret, in grace
    rows = [x for x in gw.usage_report("key")["rows"] if x["key_id"] == k["id"]]
    assert len(rows) == 1 and rows[0]["requests"] == 3, rows


def test_second_rotation_replaces_the_previous_secret(gw):
    k = gw.create_key("rot-twice")
    r1 = gw.gwctl("key", "rotate", k["id"], "--grace", "1h")
    r2 = gw.gwctl("key", "rotate", k["id"], "--grace", "1h")
    assert status_of(gw, r2["key"]) == 200
    assert status_of(gw, r1["key"]) == 200, "the secret rotated out last is in grace"
    assert status_of(gw, k["key"]) == 401, "only one previous secret is kept"


def test_rotating_a_revoked_key_is_refused(gw):
    k = gw.create_key("rot-revoked")
    gw.gwctl("key", "revoke", k["id"])
    p = gw.gwctl_run("key", "rotate", k["id"])
    assert p.returncode == 1 and "conflict" in p.stdout, (p.stdout, p.stderr)


def test_expiring_key(gw):
    k = gw.create_key("expiring", "--expires", "2s")
    assert k["expires_at"] is not None
    assert status_of(gw, k["key"]) == 200
    time.sleep(max(0, k["expires_at"] - time.time()) + 0.2)
    assert_openai_error(gw.request("GET", "/v1/models", key=k["key"]), 401,
                        code="invalid_api_key")


def test_expiry_in_the_past_is_refused(gw):
    p = gw.gwctl_run("key", "create", "--name", "past", "--expires", "2020-01-01")
    assert p.returncode == 2, (p.stdout, p.stderr)
    p = gw.gwctl_run("key", "rotate", "whoever", "--grace", "soon")
    assert p.returncode == 2, (p.stdout, p.stderr)


def test_live_key_names_are_unique(gw):
    gw.create_key("only-one")
    p = gw.gwctl_run("key", "create", "--name", "only-one")
    assert p.returncode == 1 and "conflict" in p.stdout, (p.stdout, p.stderr)
    gw.gwctl("key", "revoke", "only-one")
    again = gw.create_key("only-one")  # the name is free once revoked
    assert gw.gwctl("key", "show", "only-one")["key"]["id"] == again["id"]
