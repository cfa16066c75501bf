"""Rate limits per key and per team: requests per minute (exact under
concurrency), tokens per minute with reservation and reconciliation, tokens
per day, requests in flight; 429 with Retry-After and a message naming the
limit; OpenAI's x-ratelimit-* headers on every response; changes through
gwctl apply to the next request; the stage can be switched off."""

import json
import threading
import time

from conftest import assert_openai_error, chat_body, http_request


def parallel(g, key, n, text="hi", model="echo", **extra):
    """n requests at once, each on its own connection; returns the responses."""
    out = [None] * n
    start = threading.Barrier(n)

    def one(i):
        start.wait()
        out[i] = g.request("POST", "/v1/chat/completions", key=key,
                           body=chat_body(text, model=model, **extra))
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def test_rpm_exact_under_concurrency(gw):
    k = gw.create_key("rpm60", "--rpm", "60")
    rs = parallel(gw, k["key"], 100)
    ok = [r for r in rs if r.status == 200]
    limited = [r for r in rs if r.status == 429]
    assert len(ok) == 60 and len(limited) == 40, [r.status for r in rs]
    for r in limited:
        assert_openai_error(r, 429, code="rate_limit_exceeded")
        msg = r.json()["error"]["message"]
        assert "key 'rpm60'" in msg and "rpm: 60" in msg, msg
        assert 1 <= int(r.headers["retry-after"]) <= 2
        assert r.headers["x-ratelimit-limit-requests"] == "60"
        assert r.headers["x-ratelimit-remaining-requests"] == "0"
    remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in ok)
    assert remaining == list(range(60)), remaining
    assert all(r.headers["x-ratelimit-limit-requests"] == "60" for r in ok)


def test_headers_on_every_response(gw, key):
    r = gw.chat(key, "headers please")
    assert r.status == 200
    for h in ("limit", "remaining", "reset"):
        assert ("x-ratelimit-%s-requests" % h) in r.headers, r.headers
        assert ("x-ratelimit-%s-tokens" % h) in r.headers, r.headers
    assert r.headers["x-ratelimit-limit-requests"] == "1000000"


def test_team_limit_caps_its_keys_together(gw):
    gw.gwctl("team", "create", "capped", "--rpm", "10")
    a = gw.create_key("team-a", "--team", "capped")["key"]
    b = gw.create_key("team-b", "--team", "capped")["key"]
    rs = parallel(gw, a, 8) + parallel(gw, b, 8)
    ok = sum(r.status == 200 for r in rs)
    assert ok == 10, [r.status for r in rs]
    limited = [r for r in rs if r.status == 429]
    assert all("team 'capped'" in r.json()["error"]["message"] for r in limited)
    # a key outside the team is not affected
    assert gw.chat(gw.create_key("outsider")["key"], "x", model="echo").status == 200


def test_tpm_reserves_then_reconciles(gw):
    key = gw.create_key("tpm", "--tpm", "1000")["key"]
    # reserves prompt + 600 of the 1000; the answer uses a handful, and the
    # rest is given back at the end, so the next one fits too
    for _ in range(3):
        r = gw.chat(key, "short", model="echo", max_tokens=600)
        assert r.status == 200, r
    # two in flight at once cannot both reserve 600
    rs = parallel(gw, key, 2, text="short [[mock:delay_ms=500]]", model="gpt-4o-mini",
                  max_tokens=600)
    assert sorted(r.status for r in rs) == [200, 429], [r.status for r in rs]
    limited = [r for r in rs if r.status == 429][0]
    assert limited.json()["error"]["type"] == "tokens"
    assert "tpm: 1000" in limited.json()["error"]["message"]


def test_request_larger_than_tpm_is_refused(gw):
    key = gw.create_key("tpm-small", "--tpm", "100")["key"]
    r = gw.chat(key, "x", model="echo", max_tokens=5000)
    assert_openai_error(r, 429, code="rate_limit_exceeded")
    assert int(r.headers["retry-after"]) == 60


def test_tokens_per_day(gw):
    key = gw.create_key("tpd", "--tpd", "100")["key"]
    # each echo request uses 11 tokens (9 prompt + 2 answer, the tokenizer's
    # estimate) and reserves 9 + 20: after 7 requests (77 used) the next
    # reservation no longer fits
    statuses = [gw.chat(key, "a b c", model="echo", max_tokens=20).status for _ in range(10)]
    assert statuses == [200] * 7 + [429] * 3, statuses
    r = gw.chat(key, "a b c", model="echo", max_tokens=20)
    assert "tpd: 100" in r.json()["error"]["message"]


def test_concurrent_requests(gw):
    key = gw.create_key("conc", "--concurrent", "2")["key"]
    rs = parallel(gw, key, 4, text="slow [[mock:delay_ms=800]]", model="gpt-4o-mini")
    assert sorted(r.status for r in rs) == [200, 200, 429, 429], [r.status for r in rs]
    msg = [r for r in rs if r.status == 429][0].json()["error"]["message"]
    assert "concurrent: 2" in msg, msg
    # the slots are given back when the requests end
    assert [r.status for r in parallel(gw, key, 2, model="gpt-4o-mini")] == [200, 200]


def test_limit_change_applies_at_once(gw):
    k = gw.create_key("changing", "--rpm", "1")
    assert gw.chat(k["key"], "x", model="echo").status == 200
    assert gw.chat(k["key"], "x", model="echo").status == 429
    out = gw.gwctl("key", "update", "changing", "--rpm", "100")
    assert out["key"]["rpm"] == 100
    changed = time.monotonic()
    while gw.chat(k["key"], "x", model="echo").status != 200:
        assert time.monotonic() - changed < 1.0, "new limit not applied within 1 s"
        time.sleep(0.05)
    team = gw.gwctl("team", "create", "later")["team"]
    assert team["rpm"] is None
    assert gw.gwctl("team", "update", "later", "--rpm", "5", "--tpd", "9000")["team"]["tpd"] == 9000


def test_rate_limiting_disabled(make_gateway):
    g = make_gateway(extra="rate_limiting: { enabled: false }\n")
    key = g.create_key("free", "--rpm", "1")["key"]
    rs = [g.chat(key, "x", model="echo") for _ in range(3)]
    assert [r.status for r in rs] == [200, 200, 200]
    assert "x-ratelimit-limit-requests" not in rs[0].headers


def test_defaults_apply_to_keys_without_limits(make_gateway):
    g = make_gateway(extra="rate_limiting: { defaults: { rpm: 3, tpm: 1000000 } }\n")
    key = g.create_key("dflt")["key"]
    statuses = [g.chat(key, "x", model="echo").status for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429], statuses
    own = g.create_key("own", "--rpm", "10")["key"]
    assert all(g.chat(own, "x", model="echo").status == 200 for _ in range(5))
