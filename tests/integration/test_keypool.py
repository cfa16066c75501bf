"""Provider key pools (docs/routing.md#provider-key-pools): several API keys
per provider, load spread over them by the capacity each has left, a key
answered with 429 resting for its Retry-After (or key_cooldown_s) while the
retry goes out at once with another key of the pool, a pool whose keys all
rest making its deployment unavailable (429 provider_keys_cooling with
Retry-After, or the next deployment), the wait for the first key back, the
adapters of every keyed type (openai, anthropic, gemini) sending the key
chosen for the attempt, and what status and /metrics show per key (its
reference, never the secret). Which key each upstream call carried is read
from the mock's request log; the 429s come from its control API."""

import os
import re
import subprocess
import time

import pytest

from conftest import (GATEWAYD, PROVIDER_KEY, SLOW, gateway_config, http_request, marker,
                      post_messages)

SECRETS = {n: "pool-%s-%s" % (n.lower(), os.urandom(6).hex()) for n in ("A", "B", "C")}
BY_SECRET = {v: k for k, v in SECRETS.items()}


@pytest.fixture(scope="module", autouse=True)
def pool_env():
    """The pool's keys, in the environment every gateway of this module
    inherits."""
    for n, v in SECRETS.items():
        os.environ["GW_POOL_" + n] = v
    yield
    for n in SECRETS:
        os.environ.pop("GW_POOL_" + n, None)


def pool_provider(mock_port, name, keys, ptype="openai", path="/v1", extra=""):
    """A provider line whose api_keys are the YAML items in keys."""
    return '  - { name: %s, type: %s, base_url: "http://127.0.0.1:%d%s", api_keys: [%s]%s }\n' % (
        name, ptype, mock_port, path, ", ".join(keys), extra)


def model(name, deployments, retries="retries: { attempts: 3, backoff_ms: 10, max_backoff_ms: 2000 }",
          strategy=None):
    lines = ["  - name: %s\n" % name, "    %s\n" % retries]
    if strategy:
        lines.append("    strategy: %s\n" % strategy)
    lines.append("    deployments:\n")
    lines += ["      - { %s }\n" % d for d in deployments]
    return "".join(lines)


@pytest.fixture
def arm(mock):
    def arm_(status, count=1, retry_after=None):
        spec = {"status": status, "count": count}
        if retry_after is not None:
            spec["retry_after"] = retry_after
        assert http_request(mock.port, "POST", "/_mock/faults", spec).status == 200
    yield arm_
    http_request(mock.port, "DELETE", "/_mock/faults")


def keys_used(mock, m, header="authorization"):
    """The pool key names (A, B, C) the upstream calls with marker m carried,
    in order."""
    out = []
    for q in mock.find(m):
        v = q["headers"].get(header, "")
        out.append(BY_SECRET.get(v[7:] if v.startswith("Bearer ") else v, "?" + v))
    return out


def status_keys(g, provider):
    return {k["key"]: k for k in g.gwctl("status")["provider_keys"] if k["provider"] == provider}


def metrics(g):
    out = {}
    for line in http_request(g.port, "GET", "/metrics").body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_load_spread_by_capacity(make_gateway, mock):
    g = make_gateway(
        extra_providers=pool_provider(mock.port, "pool", [
            "{ key: env:GW_POOL_A, rpm: 100 }", "{ key: env:GW_POOL_B, rpm: 300 }"]),
        extra_models=model("spread", ["provider: pool, model: spread-up"]))
    key = g.create_key("spread")["key"]
    used = []
    for _ in range(40):
        m = marker()
        r = g.chat(key, "hi " + m, model="spread")
        assert r.status == 200, r
        used += keys_used(mock, m)
    # each key gets the share of its capacity: a quarter and three quarters
    assert len(used) == 40 and set(used) <= {"A", "B"}, used
    assert 8 <= used.count("A") <= 12, used
    st = status_keys(g, "pool")
    assert set(st) == {"env:GW_POOL_A", "env:GW_POOL_B"}
    a, b = st["env:GW_POOL_A"], st["env:GW_POOL_B"]
    assert a["requests"] == used.count("A") and b["requests"] == used.count("B")
    assert a["rpm_used"] == used.count("A") and a["rpm"] == 100 and b["rpm"] == 300
    assert a["cooling"] is False and a["cooling_until"] is None and a["in_flight"] == 0
    # the secrets appear nowhere in status or metrics
    text = g.gwctl_run("status", json_out=False).stdout
    body = http_request(g.port, "GET", "/metrics").body.decode()
    for s in SECRETS.values():
        assert s not in text and s not in body
    assert re.search(r"^pool +env:GW_POOL_B +0 +%d +%d +300 " % (b["requests"], b["rpm_used"]),
                     text, re.M), text
    m = metrics(g)
    assert m['gw_provider_key_requests_total{provider="pool",key="env:GW_POOL_A"}'] == \
        used.count("A")
    assert m['gw_provider_key_cooling{provider="pool",key="env:GW_POOL_B"}'] == 0


def test_weights_spread_keys_without_limits(make_gateway, mock):
    g = make_gateway(
        extra_providers=pool_provider(mock.port, "pool", [
            "env:GW_POOL_A", "{ key: env:GW_POOL_B, weight: 3 }"]),
        extra_models=model("wt", ["provider: pool, model: wt-up"]))
    key = g.create_key("wt")["key"]
    used = []
    for _ in range(120):
        m = marker()
        assert g.chat(key, "hi " + m, model="wt").status == 200
        used += keys_used(mock, m)
    share = used.count("B") / len(used)
    assert 0.62 <= share <= 0.88, share  # 3:1, within ±13 points (4 standard deviations)


def test_429_rests_the_key_and_the_retry_takes_another(make_gateway, mock, arm):
    g = make_gateway(
        extra_providers=pool_provider(mock.port, "pool", ["env:GW_POOL_A", "env:GW_POOL_B"]),
        extra_models=model("rl", ["provider: pool, model: rl-up"]))
    key = g.create_key("rl")["key"]
    arm(429, retry_after=30)
    m = marker()
    t0 = time.monotonic()
    r = g.chat(key, "hi " + m, model="rl")
    assert r.status == 200, r
    assert time.monotonic() - t0 < 5 * SLOW  # the other key at once: no wait for Retry-After
    assert r.headers["x-gw-attempts"] == "2"
    first, second = keys_used(mock, m)
    assert first != second
    # while the first key rests, every call carries the other one
    for _ in range(8):
        m = marker()
        assert g.chat(key, "hi " + m, model="rl").status == 200
        assert keys_used(mock, m) == [second]
    st = status_keys(g, "pool")
    rest = st["env:GW_POOL_" + first]
    assert rest["cooling"] is True and rest["cooldowns"] == 1
    assert 25 <= rest["cooling_for_s"] <= 30
    assert abs(rest["cooling_until"] - (time.time() + rest["cooling_for_s"])) <= 2
    assert st["env:GW_POOL_" + second]["cooling"] is False
    # a 429 on a pooled key is the key's, not the deployment's: no breaker failure
    dep = [d for d in g.gwctl("status")["deployments"] if d["model"] == "rl"][0]
    assert dep["failures"] == 0
    text = g.gwctl_run("status", json_out=False).stdout
    assert re.search(r"^pool +env:GW_POOL_%s .* \d{4}-\d\d-\d\d \d\d:\d\d:\d\d +1$" % first,
                     text, re.M), text
    m = metrics(g)
    assert m['gw_provider_key_cooling{provider="pool",key="env:GW_POOL_%s"}' % first] == 1
    assert m['gw_provider_key_cooldowns_total{provider="pool",key="env:GW_POOL_%s"}' % first] == 1
    assert m['gw_retries_total{reason="rate_limited"}'] == 1
    assert m["gw_fallbacks_total"] == 0


def test_all_keys_resting(make_gateway, mock, arm):
    g = make_gateway(
        extra_providers=pool_provider(mock.port, "pool", ["env:GW_POOL_A", "env:GW_POOL_B"],
                                      extra=", key_cooldown_s: 7"),
        extra_models=model("rest", ["provider: pool, model: rest-up"],
                           retries="retries: { attempts: 1 }") +
        model("rest2", ["provider: pool, model: rest2-up, priority: 0",
                        "provider: mock, model: rest2-mock, priority: 1"],
              retries="retries: { attempts: 1 }"))
    key = g.create_key("rest")["key"]
    arm(429, count=2, retry_after=20)
    for _ in range(2):  # no retries here: each 429 is the answer, and rests its key
        r = g.chat(key, "hi " + marker(), model="rest")
        assert r.status == 429 and r.headers["retry-after"] == "20", r
    # both keys rest: no upstream call, 429 with the time until the first is back
    m = marker()
    r = g.chat(key, "hi " + m, model="rest")
    assert r.status == 429, r
    assert r.json()["error"]["code"] == "provider_keys_cooling", r
    assert 18 <= int(r.headers["retry-after"]) <= 20
    assert mock.find(m) == []
    # on /v1/messages in Anthropic's shape
    r = post_messages(g, key, {"model": "rest", "max_tokens": 10,
                               "messages": [{"role": "user", "content": "hi"}]})
    assert r.status == 429 and r.json()["error"]["type"] == "rate_limit_error", r
    # a model with another deployment goes there meanwhile
    r = g.chat(key, "hi " + marker(), model="rest2")
    assert r.status == 200 and r.headers["x-gw-deployment"] == "mock/rest2-mock", r
    # a 429 without Retry-After rests the key key_cooldown_s
    g2 = make_gateway(
        extra_providers=pool_provider(mock.port, "pool", ["env:GW_POOL_A", "env:GW_POOL_B"],
                                      extra=", key_cooldown_s: 7"),
        extra_models=model("rest", ["provider: pool, model: rest-up"],
                           retries="retries: { attempts: 1 }"))
    key2 = g2.create_key("rest")["key"]
    arm(429)
    assert g2.chat(key2, "hi " + marker(), model="rest").status == 429
    resting = [k for k in status_keys(g2, "pool").values() if k["cooling"]]
    assert len(resting) == 1 and 6 <= resting[0]["cooling_for_s"] <= 7, resting


def test_retry_waits_for_the_first_key_back(make_gateway, mock, arm):
    g = make_gateway(
        extra_providers=pool_provider(mock.port, "pool", ["env:GW_POOL_A", "env:GW_POOL_B"]),
        extra_models=model("wait", ["provider: pool, model: wait-up"]))
    key = g.create_key("wait")["key"]
    arm(429, count=2, retry_after=1)
    m = marker()
    t0 = time.monotonic()
    r = g.chat(key, "hi " + m, model="wait")
    assert r.status == 200, r
    assert time.monotonic() - t0 >= 0.9
    assert r.headers["x-gw-attempts"] == "3"
    a, b, c = keys_used(mock, m)
    assert a != b and c in (a, b)  # both rested; the third call waited for one to be back


@pytest.mark.parametrize("ptype,header", [("anthropic", "x-api-key"),
                                          ("gemini", "x-goog-api-key")])
def test_every_keyed_adapter_sends_the_chosen_key(make_gateway, mock, arm, ptype, header):
    # weight 0: B only gets calls when A rests
    g = make_gateway(
        extra_providers=pool_provider(mock.port, "kp", ["env:GW_POOL_A",
                                                        "{ key: env:GW_POOL_B, weight: 0 }"],
                                      ptype=ptype, path=""),
        extra_models=model("kp", ["provider: kp, model: kp-up"]))
    key = g.create_key("kp")["key"]
    m = marker()
    assert g.chat(key, "hi " + m, model="kp").status == 200
    assert keys_used(mock, m, header) == ["A"]
    arm(429, retry_after=30)
    m = marker()
    r = g.chat(key, "hi " + m, model="kp")
    assert r.status == 200, r
    assert keys_used(mock, m, header) == ["A", "B"]
    for q in mock.find(m):  # the one key header of the provider's format, nothing else
        assert "authorization" not in q["headers"]


def test_single_key_429_keeps_the_retry_rules(make_gateway, mock, arm):
    # one key: a 429 is retried after its Retry-After, on the same key
    g = make_gateway(extra_models=model("one", ["provider: mock, model: one-up"]))
    key = g.create_key("one")["key"]
    arm(429, retry_after=1)
    t0 = time.monotonic()
    r = g.chat(key, "hi " + marker(), model="one")
    assert r.status == 200 and time.monotonic() - t0 >= 1.0, r
    st = status_keys(g, "mock")
    assert st["env:MOCK_PROVIDER_KEY"]["cooling"] is False
    assert st["env:MOCK_PROVIDER_KEY"]["cooldowns"] == 0


def test_config_errors(tmp_path, mock, dead_port):
    path = tmp_path / "gatewayd.yaml"
    cases = [
        (pool_provider(mock.port, "p", []), "non-empty list"),
        (pool_provider(mock.port, "p", ["env:GW_POOL_A", "env:GW_POOL_A"]), "listed twice"),
        (pool_provider(mock.port, "p", ["sk-in-clear"]), "never written in clear"),
        (pool_provider(mock.port, "p", ["{ key: env:GW_POOL_A, rpm: -1 }"]), "rpm"),
        (pool_provider(mock.port, "p", ["{ key: env:GW_POOL_A, burst: 1 }"]), "unknown key"),
        (pool_provider(mock.port, "p", ["env:GW_POOL_A"], extra=", api_key: env:GW_POOL_B"),
         "not both"),
    ]
    for providers, what in cases:
        path.write_text(gateway_config(1, tmp_path / "var", mock.port, dead_port,
                                       extra_providers=providers))
        res = subprocess.run([str(GATEWAYD), "--check-config", "-c", str(path)],
                             capture_output=True, text=True,
                             env=dict(os.environ, MOCK_PROVIDER_KEY=PROVIDER_KEY))
        assert res.returncode != 0, providers
        assert what in res.stderr and "gatewayd.yaml:" in res.stderr, res.stderr
