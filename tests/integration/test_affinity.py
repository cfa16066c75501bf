"""Prefix-cache affinity (docs/routing.md#prefix-cache-affinity): every turn
of a conversation (the same system prompt and opening question, the
history growing) goes to the deployment and the key that served its first
turn, while requests with other prefixes are spread by the strategy; the
affinity gives way when that deployment's breaker opens (the next turn is
routed normally and sticks to its new home); x-gw-affinity says hit or miss,
/metrics and gwctl status count lookups and hits; a model with nothing to
choose between looks nothing up; routing.affinity.enabled: false switches it
off; a provider with prompt_cache_ttl_s: 0 has none; the provider-reported
cached prompt tokens land in the usage row."""

import os
import subprocess

import pytest

from conftest import GATEWAYD, PROVIDER_KEY, gateway_config, http_request, marker, post_messages

SECRETS = {n: "aff-%s-%s" % (n.lower(), os.urandom(6).hex()) for n in ("A", "B", "C")}
BY_SECRET = {v: k for k, v in SECRETS.items()}


@pytest.fixture(scope="module", autouse=True)
def pool_env():
    for n, v in SECRETS.items():
        os.environ["GW_AFF_" + n] = v
    yield
    for n in SECRETS:
        os.environ.pop("GW_AFF_" + n, None)


def model(name, deployments, strategy="round-robin", extra=""):
    lines = ["  - name: %s\n" % name, "    strategy: %s\n" % strategy]
    if extra:
        lines.append("    %s\n" % extra)
    lines.append("    deployments:\n")
    lines += ["      - { %s }\n" % d for d in deployments]
    return "".join(lines)


TWO = ["provider: mock, model: up-a", "provider: mock, model: up-b"]


def conversation(system, opening):
    """A conversation as the client keeps it: send(text) adds a user turn,
    posts the whole history and adds the answer."""
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": opening}]

    def send(g, key, model_name, text=None):
        if text is not None:
            msgs.append({"role": "user", "content": text})
        r = g.request("POST", "/v1/chat/completions", key=key,
                      body={"model": model_name, "messages": msgs})
        if r.status == 200:
            msgs.append({"role": "assistant",
                         "content": r.json()["choices"][0]["message"]["content"]})
        return r
    return send


def metrics(g):
    out = {}
    for line in http_request(g.port, "GET", "/metrics").body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_a_conversation_stays_on_its_deployment(make_gateway, mock):
    g = make_gateway(extra_models=model("conv", TWO))
    key = g.create_key("conv")["key"]
    send = conversation("You answer briefly.", "first question " + marker())
    r = send(g, key, "conv")
    assert r.status == 200 and r.headers["x-gw-affinity"] == "miss", r
    home = r.headers["x-gw-deployment"]
    others = []
    for turn in range(5):
        # a request with another prefix in between: the strategy moves on
        o = g.chat(key, "unrelated " + marker(), model="conv")
        assert o.status == 200 and o.headers["x-gw-affinity"] == "miss"
        others.append(o.headers["x-gw-deployment"])
        r = send(g, key, "conv", "follow-up %d" % turn)
        assert r.status == 200, r
        assert r.headers["x-gw-affinity"] == "hit"
        assert r.headers["x-gw-deployment"] == home
    assert set(others) == {"mock/up-a", "mock/up-b"}  # round-robin went on for the others
    m = metrics(g)
    assert m["gw_affinity_lookups_total"] == 11 and m["gw_affinity_hits_total"] == 5
    assert m["gw_affinity_entries"] >= 1
    st = g.gwctl("status")["affinity"]
    assert st["enabled"] is True and st["lookups"] == 11 and st["hits"] == 5
    assert st["hit_ratio"] == round(5 / 11, 3)
    text = g.gwctl_run("status", json_out=False).stdout
    assert "affinity.hit_ratio:" in text and "affinity.lookups:" in text, text


def test_the_key_follows_too(make_gateway, mock):
    pool = ('  - { name: kp, type: openai, base_url: "http://127.0.0.1:%d/v1", '
            "api_keys: [env:GW_AFF_A, env:GW_AFF_B, env:GW_AFF_C] }\n" % mock.port)
    g = make_gateway(extra_providers=pool, extra_models=model("convk", ["provider: kp, model: k1"]))
    key = g.create_key("convk")["key"]
    opening = "opening " + marker()
    send = conversation("sys", opening)

    def key_of(m):
        q = [q for q in mock.find(m)][-1]
        return BY_SECRET[q["headers"]["authorization"][7:]]

    assert send(g, key, "convk").headers["x-gw-affinity"] == "miss"
    home = key_of(opening)
    for turn in range(4):
        t = "again %s" % marker()
        r = send(g, key, "convk", t)
        assert r.headers["x-gw-affinity"] == "hit"
        assert key_of(t) == home
    spread = set()
    for _ in range(12):
        m = marker()
        assert g.chat(key, "other " + m, model="convk").status == 200
        spread.add(key_of(m))
    assert len(spread) > 1  # without a warm prefix the pool is used as a whole


def test_breaker_opening_releases_the_affinity(make_gateway, mock):
    g = make_gateway(extra_models=model(
        "convb", TWO, extra="circuit_breaker: { enabled: true, failures: 1, cooldown_s: 60 }"))
    key = g.create_key("convb")["key"]
    send = conversation("sys", "start " + marker())
    r = send(g, key, "convb")
    home = r.headers["x-gw-deployment"]
    # the home deployment fails this turn (no retries in the test config): its breaker opens
    r = send(g, key, "convb", "break [[mock:status=503]]")
    assert r.status == 503 and r.headers["x-gw-deployment"] == home, r
    dep = {d["deployment"]: d for d in g.gwctl("status")["deployments"] if d["model"] == "convb"}
    assert dep[home]["state"] == "open"
    # the next turn is routed as if new, and its new home sticks
    r = send(g, key, "convb", "next")
    assert r.status == 200 and r.headers["x-gw-affinity"] == "miss", r
    new_home = r.headers["x-gw-deployment"]
    assert new_home != home
    r = send(g, key, "convb", "and next")
    assert r.headers["x-gw-affinity"] == "hit" and r.headers["x-gw-deployment"] == new_home


def test_nothing_to_choose_nothing_looked_up(gw, key):
    r = gw.chat(key, "hello " + marker())  # gpt-4o-mini: one deployment, one key
    assert r.status == 200 and "x-gw-affinity" not in r.headers


def test_switched_off(make_gateway):
    g = make_gateway(extra_models=model("off", TWO),
                     extra="routing: { affinity: { enabled: false } }\n")
    key = g.create_key("off")["key"]
    send = conversation("sys", "q " + marker())
    seen = set()
    for turn in range(4):
        r = send(g, key, "off", None if turn == 0 else "t%d" % turn)
        assert r.status == 200 and "x-gw-affinity" not in r.headers
        seen.add(r.headers["x-gw-deployment"])
    assert len(seen) == 2  # round-robin, conversation or not
    assert g.gwctl("status")["affinity"]["enabled"] is False


def test_no_cache_ttl_no_affinity(make_gateway, mock):
    cold = ('  - { name: cold, type: vllm, base_url: "http://127.0.0.1:%d/v1", '
            "api_key: env:MOCK_PROVIDER_KEY }\n" % mock.port)
    g = make_gateway(extra_providers=cold,
                     extra_models=model("cold", ["provider: cold, model: c1",
                                                 "provider: cold, model: c2"]))
    key = g.create_key("cold")["key"]
    r = g.chat(key, "hi " + marker(), model="cold")
    assert r.status == 200 and "x-gw-affinity" not in r.headers


def test_messages_front_door_and_cached_tokens(make_gateway, mock):
    g = make_gateway(extra_models=model("convm", TWO))
    key = g.create_key("convm")["key"]
    msgs = [{"role": "user", "content": "open " + marker()}]
    body = {"model": "convm", "max_tokens": 50, "system": "be brief", "messages": msgs}
    r = post_messages(g, key, body)
    assert r.status == 200 and r.headers["x-gw-affinity"] == "miss", r
    home = r.headers["x-gw-deployment"]
    msgs.append({"role": "assistant", "content": r.json()["content"][0]["text"]})
    msgs.append({"role": "user", "content": "more [[mock:cached=3]]"})
    r = post_messages(g, key, body)
    assert r.status == 200 and r.headers["x-gw-affinity"] == "hit", r
    assert r.headers["x-gw-deployment"] == home
    assert r.json()["usage"]["cache_read_input_tokens"] == 3
    row = g.usage_row(r.headers["x-request-id"])
    assert row["cached_tokens"] == 3


def test_config_errors(tmp_path, mock, dead_port):
    path = tmp_path / "gatewayd.yaml"
    for extra, what in (("routing: { affinity: { enabled: true, size: 5 } }\n", "affinity"),
                        ("routing: { affinity: { max_entries: 1 } }\n", "max_entries"),
                        ("routing: { affinity: { enabled: maybe } }\n", "enabled")):
        path.write_text(gateway_config(1, tmp_path / "var", mock.port, dead_port, extra=extra))
        res = subprocess.run([str(GATEWAYD), "--check-config", "-c", str(path)],
                             capture_output=True, text=True,
                             env=dict(os.environ, MOCK_PROVIDER_KEY=PROVIDER_KEY))
        assert res.returncode != 0 and what in res.stderr and "gatewayd.yaml:" in res.stderr, \
            res.stderr
