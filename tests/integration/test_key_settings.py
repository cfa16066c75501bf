"""A key's own stage switches (`gwctl key create` / `key update` --pii,
--pii-entities, --output-guard, --firewall, --cache, --cache-ttl,
--cache-threshold; docs/gwctl.md, docs/safety.md): PII scrubbing switched on
for one key on a gateway that has it off (the mock's record holds
placeholders for that key only) and off for one key where it is on, a key's
own entity list, the output guard switched on and off per key, `default`
going back to the config, the next request seeing a change, the settings in
`key show` (text and JSON) and the admin protocol, kept across a restart,
and bad values refused with a message that names the option."""

import json
import re
import socket

import pytest

from conftest import (SLOW, Gateway, assert_openai_error, chat_body, content_of, marker,
                      parse_events, post_chat, post_chat_stream, serve)

EMAIL = "jane.roe@example.org"
PHONE = "+1 415 555 2671"
SSN = "123-45-6789"
PLACEHOLDER = re.compile(r"<<PII_([A-Z_]+)_[0-9a-f]{8}>>")
BLOCKED = "forbidden phrase"

# Everything off in the config; the guard has its phrase, so a key can turn it on.
OFF = """output_guard: { enabled: false, blocked_patterns: ["%s"] }
""" % BLOCKED
# PII (email, phone) and the guard on in the config.
ON = """pii: { enabled: true, entities: [email, phone] }
output_guard: { enabled: true, blocked_patterns: ["%s"] }
""" % BLOCKED


@pytest.fixture(scope="module")
def gw_off(mock, dead_port, tmp_path_factory):
    yield from serve(Gateway(tmp_path_factory.mktemp("gw-ks-off"), mock.port, dead_port,
                             name="gw-ks-off", extra=OFF))


@pytest.fixture(scope="module")
def gw_on(mock, dead_port, tmp_path_factory):
    yield from serve(Gateway(tmp_path_factory.mktemp("gw-ks-on"), mock.port, dead_port,
                             name="gw-ks-on", extra=ON))


def upstream_body(mock, m):
    rec = mock.find(m)
    assert len(rec) == 1, rec
    return rec[0]["body"]


def send(gw, mock, key, text):
    """One chat request with a fresh marker; returns (response, what the mock got)."""
    m = marker()
    r = post_chat(gw, key, chat_body("%s %s" % (m, text)))
    assert r.status == 200, r
    return r, upstream_body(mock, m)


def reply(r):
    return r.json()["choices"][0]["message"]["content"]


def settings_of(gw, name):
    k = gw.gwctl("key", "show", name)["key"]
    return {f: k[f] for f in ("pii", "pii_entities", "output_guard", "firewall", "cache",
                              "cache_ttl", "cache_threshold")}


INHERIT = {"pii": None, "pii_entities": None, "output_guard": None, "firewall": None,
           "cache": None, "cache_ttl": None, "cache_threshold": None}


def test_pii_on_for_one_key(gw_off, mock):
    a = gw_off.create_key("ks-pii-a")
    b = gw_off.create_key("ks-pii-b")
    _, body = send(gw_off, mock, a["key"], "mail " + EMAIL)
    assert EMAIL in body, "the config has PII off: nothing is scrubbed yet"

    out = gw_off.gwctl("key", "update", "ks-pii-a", "--pii", "on")
    assert out["key"]["pii"] is True and out["key"]["pii_entities"] is None, out

    # the next request of key a is scrubbed (the config's default entities)
    r, body = send(gw_off, mock, a["key"], "mail %s call %s card 4111 1111 1111 1111"
                   % (EMAIL, PHONE))
    assert EMAIL not in body and "555 2671" not in body and "4111 1111" not in body, body
    assert sorted(PLACEHOLDER.findall(body)) == ["CREDIT_CARD", "EMAIL", "PHONE"], body
    assert r.headers.get("x-gw-pii-replaced") == "3", r.headers
    assert EMAIL in reply(r) and PHONE in reply(r), "values restored in the answer"

    # streamed too
    m = marker()
    s = post_chat_stream(gw_off, a["key"], chat_body("%s write to %s" % (m, EMAIL), stream=True))
    chunks, done, errors, _ = parse_events(s.events)
    text = content_of(chunks)
    assert done and not errors and EMAIL in text and not PLACEHOLDER.search(text), s.events
    assert EMAIL not in upstream_body(mock, m)

    # key b is untouched
    r, body = send(gw_off, mock, b["key"], "mail " + EMAIL)
    assert EMAIL in body and not PLACEHOLDER.search(body), body
    assert "x-gw-pii-replaced" not in r.headers

    # back to the config
    out = gw_off.gwctl("key", "update", "ks-pii-a", "--pii", "default")
    assert out["key"]["pii"] is None
    _, body = send(gw_off, mock, a["key"], "mail " + EMAIL)
    assert EMAIL in body, body


def test_pii_off_for_one_key(gw_on, mock):
    a = gw_on.create_key("ks-nopii-a", "--pii", "off")
    b = gw_on.create_key("ks-nopii-b")
    assert a["pii"] is False, a
    _, body = send(gw_on, mock, a["key"], "mail " + EMAIL)
    assert EMAIL in body and not PLACEHOLDER.search(body), body
    _, body = send(gw_on, mock, b["key"], "mail " + EMAIL)
    assert EMAIL not in body and PLACEHOLDER.findall(body) == ["EMAIL"], body

    gw_on.gwctl("key", "update", "ks-nopii-a", "--pii", "default")
    _, body = send(gw_on, mock, a["key"], "mail " + EMAIL)
    assert EMAIL not in body, body


def test_entities_per_key(gw_on, gw_off, mock):
    # on a PII-on gateway (email, phone): this key scrubs ssn and phone, not email
    secret = gw_on.create_key("ks-ent", "--pii-entities", "ssn,phone")["key"]
    k = gw_on.gwctl("key", "show", "ks-ent")["key"]
    assert k["pii_entities"] == ["phone", "ssn"] and k["pii"] is None, k
    _, body = send(gw_on, mock, secret, "mail %s ssn %s call %s" % (EMAIL, SSN, PHONE))
    assert EMAIL in body and SSN not in body and "555 2671" not in body, body
    assert sorted(PLACEHOLDER.findall(body)) == ["PHONE", "SSN"], body

    # entities alone do not switch the stage on where the config has it off
    a = gw_off.create_key("ks-ent-off", "--pii-entities", "ssn")
    _, body = send(gw_off, mock, a["key"], "ssn " + SSN)
    assert SSN in body, body
    gw_off.gwctl("key", "update", "ks-ent-off", "--pii", "on")
    _, body = send(gw_off, mock, a["key"], "ssn %s mail %s" % (SSN, EMAIL))
    assert SSN not in body and EMAIL in body and PLACEHOLDER.findall(body) == ["SSN"], body

    # "all", then back to the config's list
    gw_on.gwctl("key", "update", "ks-ent", "--pii-entities", "all")
    assert settings_of(gw_on, "ks-ent")["pii_entities"] == [
        "email", "phone", "credit_card", "ssn", "iban", "ip", "secret"]
    _, body = send(gw_on, mock, secret, "host 10.1.2.3 mail " + EMAIL)
    assert sorted(PLACEHOLDER.findall(body)) == ["EMAIL", "IP"], body
    gw_on.gwctl("key", "update", "ks-ent", "--pii-entities", "default")
    _, body = send(gw_on, mock, secret, "host 10.1.2.3 ssn %s mail %s" % (SSN, EMAIL))
    assert "10.1.2.3" in body and SSN in body and PLACEHOLDER.findall(body) == ["EMAIL"], body


def test_output_guard_off_for_one_key(gw_on):
    a = gw_on.create_key("ks-guard-a", "--output-guard", "off")
    b = gw_on.create_key("ks-guard-b")
    r = post_chat(gw_on, a["key"], chat_body("say the %s please" % BLOCKED))
    assert r.status == 200 and BLOCKED in reply(r), r
    r = post_chat(gw_on, b["key"], chat_body("say the %s please" % BLOCKED))
    assert_openai_error(r, 400, "output_blocked")


def test_output_guard_on_for_one_key(gw_off):
    a = gw_off.create_key("ks-guard-on-a")
    b = gw_off.create_key("ks-guard-on-b")
    r = post_chat(gw_off, a["key"], chat_body("say the %s please" % BLOCKED))
    assert r.status == 200, r
    gw_off.gwctl("key", "update", "ks-guard-on-a", "--output-guard", "on")
    r = post_chat(gw_off, a["key"], chat_body("say the %s please" % BLOCKED))
    assert_openai_error(r, 400, "output_blocked")
    s = post_chat_stream(gw_off, a["key"], chat_body("say the %s please" % BLOCKED,
                                                     stream=True))
    chunks, done, errors, _ = parse_events(s.events)
    assert not done and BLOCKED not in content_of(chunks), s.events
    assert [e["error"]["code"] for e in errors] == ["output_blocked"], s.events
    r = post_chat(gw_off, b["key"], chat_body("say the %s please" % BLOCKED))
    assert r.status == 200 and BLOCKED in reply(r), r


def test_key_show_text_and_json(gw_off):
    k = gw_off.create_key("ks-show")
    assert {f: k[f] for f in INHERIT} == INHERIT, k
    out = gw_off.gwctl("key", "update", "ks-show", "--pii", "on", "--pii-entities",
                       "email,iban", "--output-guard", "off", "--firewall", "off", "--cache",
                       "on", "--cache-ttl", "600", "--cache-threshold", "0.92")
    want = {"pii": True, "pii_entities": ["email", "iban"], "output_guard": False,
            "firewall": False, "cache": True, "cache_ttl": 600, "cache_threshold": 0.92}
    assert {f: out["key"][f] for f in want} == want, out
    assert settings_of(gw_off, "ks-show") == want
    assert [x for x in gw_off.gwctl("key", "list")["keys"] if x["name"] == "ks-show"][0][
        "cache_ttl"] == 600

    p = gw_off.gwctl_run("key", "show", "ks-show", json_out=False)
    assert p.returncode == 0, p.stderr
    lines = dict(re.match(r"^(\S+):\s*(.*)$", ln).groups() for ln in p.stdout.splitlines())
    assert lines["pii"] == "yes" and lines["pii_entities"] == "email, iban", p.stdout
    assert lines["output_guard"] == "no" and lines["firewall"] == "no", p.stdout
    assert lines["cache"] == "yes" and lines["cache_ttl"] == "600", p.stdout
    assert lines["cache_threshold"] == "0.92", p.stdout

    # a change leaves the other settings alone; default clears one
    out = gw_off.gwctl("key", "update", "ks-show", "--cache-ttl", "default", "--rpm", "50")
    assert out["key"]["cache_ttl"] is None and out["key"]["rpm"] == 50
    assert out["key"]["pii_entities"] == ["email", "iban"] and out["key"]["cache"] is True
    p = gw_off.gwctl_run("key", "show", "ks-show", json_out=False)
    assert re.search(r"^cache_ttl:\s+default$", p.stdout, re.M), p.stdout

    # the stored columns: NULL inherits
    row = gw_off.db_query("SELECT pii, pii_entities, output_guard, firewall, cache, cache_ttl, "
                          "cache_threshold FROM keys WHERE name = 'ks-show'")[0]
    assert row == {"pii": 1, "pii_entities": '["email","iban"]', "output_guard": 0,
                   "firewall": 0, "cache": 1, "cache_ttl": None, "cache_threshold": 0.92}, row


def admin(gw, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10 * SLOW)
    s.connect(str(gw.sock))
    try:
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            b = s.recv(65536)
            assert b, "the daemon closed the socket"
            buf += b
        return json.loads(buf.split(b"\n", 1)[0])
    finally:
        s.close()


def test_admin_protocol_values(gw_off):
    gw_off.create_key("ks-proto")
    out = admin(gw_off, {"id": 1, "cmd": "key.update", "args": {
        "id": "ks-proto", "pii": True, "pii_entities": ["phone", "email"], "firewall": False,
        "cache_ttl": 120, "cache_threshold": 0.5}})
    assert out["ok"] is True, out
    k = out["result"]["key"]
    assert (k["pii"], k["pii_entities"], k["firewall"], k["cache_ttl"], k["cache_threshold"]) == (
        True, ["email", "phone"], False, 120, 0.5), k
    out = admin(gw_off, {"id": 2, "cmd": "key.update", "args": {
        "id": "ks-proto", "pii": None, "pii_entities": None, "firewall": "default"}})
    assert out["ok"] is True, out
    k = out["result"]["key"]
    assert (k["pii"], k["pii_entities"], k["firewall"], k["cache_ttl"]) == (None, None, None,
                                                                             120), k
    for args, what in (({"pii": 1}, '"pii" must be on, off or default'),
                       ({"pii_entities": []}, '"pii_entities" must be a non-empty list'),
                       ({"pii_entities": [3]}, '"pii_entities" must hold entity names'),
                       ({"cache_ttl": 1.5}, '"cache_ttl" must be a whole number'),
                       ({"cache_threshold": "x"}, '"cache_threshold" must be a similarity')):
        args["id"] = "ks-proto"
        out = admin(gw_off, {"id": 3, "cmd": "key.update", "args": args})
        assert out["ok"] is False and out["error"]["code"] == "bad_request", out
        assert what in out["error"]["message"], out


@pytest.mark.parametrize("opt,value,code,msg", [
    ("--pii", "maybe", 2, "--pii wants one of on|off|default, not 'maybe'"),
    ("--output-guard", "yes", 2, "--output-guard wants one of on|off|default"),
    ("--pii-entities", "email,passport", 1, "unknown entity 'passport'"),
    ("--pii-entities", "email,,phone", 1, "is not an entity name"),
    ("--pii-entities", "email,email", 1, "'email' is listed twice"),
    ("--cache-ttl", "0", 1, '"cache_ttl" must be a whole number of seconds from 1 to 31536000'),
    ("--cache-ttl", "1h", 1, '"cache_ttl" must be a whole number of seconds'),
    ("--cache-threshold", "1.5", 1, '"cache_threshold" must be a similarity above 0 and at '
                                    'most 1'),
    ("--cache-threshold", "0", 1, '"cache_threshold" must be a similarity'),
])
def test_bad_values_refused(gw_off, opt, value, code, msg):
    name = "ks-bad" + re.sub(r"[^a-z0-9]", "", opt + value)
    gw_off.create_key(name, "--pii", "on")
    for argv in (("key", "update", name, opt, value),
                 ("key", "create", "--name", name + "-new", opt, value)):
        p = gw_off.gwctl_run(*argv, json_out=False)
        assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
        assert msg in p.stderr, p.stderr
    # nothing changed, nothing created
    assert settings_of(gw_off, name)["pii"] is True
    assert not [k for k in gw_off.gwctl("key", "list")["keys"] if k["name"] == name + "-new"]


def test_settings_survive_restart(make_gateway, mock):
    g = make_gateway(extra=OFF)
    k = g.create_key("ks-restart", "--pii", "on", "--pii-entities", "email",
                     "--output-guard", "on", "--cache-threshold", "0.8")
    g.stop()
    g.start()
    assert settings_of(g, "ks-restart") == dict(INHERIT, pii=True, pii_entities=["email"],
                                                output_guard=True, cache_threshold=0.8)
    _, body = send(g, mock, k["key"], "mail %s call %s" % (EMAIL, PHONE))
    assert EMAIL not in body and PHONE in body and PLACEHOLDER.findall(body) == ["EMAIL"], body
    r = post_chat(g, k["key"], chat_body("say the %s please" % BLOCKED))
    assert_openai_error(r, 400, "output_blocked")
