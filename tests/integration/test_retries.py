"""Retries and fallbacks (docs/routing.md): a call that fails before any
byte reached the client (unreachable, a 429/500/502/503/504, a stream whose
head is an error) is retried, on another deployment when the model has one,
with Retry-After honoured and a Retry-After above max_backoff_ms not waited
for; the attempt limit ends in the provider's error; a model group that
fails as a whole falls back to its `fallbacks`, a prompt over the context
window to its `context_window_fallbacks` (both front doors); a stream that
broke after its head and a 400 are never retried. x-gw-attempts counts the
upstream calls, x-gw-provider / x-gw-deployment name the one that answered,
and the usage row records it.

The test config sets `retries: { attempts: 1 }` globally (so the fault
tests elsewhere see every failure); the models here set their own. Faults
for one request come from the mock's control API (POST /_mock/faults), so
the retry finds the mock healthy again."""

import os
import subprocess
import time

import pytest

from conftest import (GATEWAYD, PROVIDER_KEY, SLOW, assert_openai_error, chat_body, content_of, gateway_config,
                      http_request,
                      marker, mock_provider, parse_events, post_messages, read_chat_stream)

FAST = "retries: { attempts: 3, backoff_ms: 10, max_backoff_ms: 2000 }"


def model(name, deployments, strategy=None, retries=FAST, fallbacks=None, cw=None):
    lines = ["  - name: %s\n" % name]
    if strategy:
        lines.append("    strategy: %s\n" % strategy)
    if retries:
        lines.append("    %s\n" % retries)
    if fallbacks:
        lines.append("    fallbacks: [%s]\n" % ", ".join(fallbacks))
    if cw:
        lines.append("    context_window_fallbacks: [%s]\n" % ", ".join(cw))
    lines.append("    deployments:\n")
    for d in deployments:
        lines.append("      - { %s }\n" % d)
    return "".join(lines)


@pytest.fixture
def arm(mock):
    """arm(status, count=1, retry_after=None): the next count mock calls fail."""
    def arm_(status, count=1, retry_after=None):
        spec = {"status": status, "count": count}
        if retry_after is not None:
            spec["retry_after"] = retry_after
        r = http_request(mock.port, "POST", "/_mock/faults", spec)
        assert r.status == 200, r
    yield arm_
    http_request(mock.port, "DELETE", "/_mock/faults")


def usage(g, r):
    return g.usage_row(r.headers["x-request-id"])


def test_failover_to_the_next_deployment_is_invisible(make_gateway):
    g = make_gateway(extra_models=model("fo", [
        "provider: dead, model: gone", "provider: mock, model: fo-live"], strategy="fallback"))
    key = g.create_key("fo")["key"]
    r = g.chat(key, "hello " + marker(), model="fo")
    assert r.status == 200, r
    assert r.headers["x-gw-attempts"] == "2"
    assert r.headers["x-gw-provider"] == "mock"
    assert r.headers["x-gw-deployment"] == "mock/fo-live"
    row = usage(g, r)
    assert row["provider"] == "mock" and row["upstream_model"] == "fo-live"
    assert row["model"] == "fo"  # what the client asked for


def test_503_retried_on_the_same_deployment(make_gateway, arm, mock):
    g = make_gateway(extra_models=model("one", ["provider: mock, model: one-up"]))
    key = g.create_key("one")["key"]
    arm(503)
    m = marker()
    r = g.chat(key, "hi " + m, model="one")
    assert r.status == 200, r
    assert r.headers["x-gw-attempts"] == "2"
    assert r.headers["x-gw-deployment"] == "mock/one-up"
    assert "retry-after" not in r.headers


def test_retry_after_is_honoured(make_gateway, arm):
    g = make_gateway(extra_models=model("ra", ["provider: mock, model: ra-up"]))
    key = g.create_key("ra")["key"]
    arm(429, retry_after=1)
    t0 = time.monotonic()
    r = g.chat(key, "hi " + marker(), model="ra")
    assert r.status == 200, r
    assert time.monotonic() - t0 >= 1.0
    assert r.headers["x-gw-attempts"] == "2"


def test_retry_after_over_max_backoff_moves_on_at_once(make_gateway, arm):
    g = make_gateway(extra_models=model("ra2", [
        "provider: mock, model: ra2-a", "provider: mock, model: ra2-b"], strategy="fallback"))
    key = g.create_key("ra2")["key"]
    arm(429, retry_after=30)
    t0 = time.monotonic()
    r = g.chat(key, "hi " + marker(), model="ra2")
    assert r.status == 200, r
    assert time.monotonic() - t0 < 5 * SLOW
    assert r.headers["x-gw-attempts"] == "2"
    assert r.headers["x-gw-deployment"] == "mock/ra2-b"
    # a single deployment with nothing else to go to: the 429 at once
    g2 = make_gateway(extra_models=model("ra3", ["provider: mock, model: ra3-a"]))
    key2 = g2.create_key("ra3")["key"]
    arm(429, retry_after=30)
    t0 = time.monotonic()
    r = g2.chat(key2, "hi " + marker(), model="ra3")
    assert r.status == 429, r
    assert time.monotonic() - t0 < 5 * SLOW
    assert r.headers["x-gw-attempts"] == "1"
    assert r.headers["retry-after"] == "30"


def test_attempt_limit_ends_in_the_providers_error(make_gateway, arm, mock):
    g = make_gateway(extra_models=model("lim", ["provider: mock, model: lim-up"]))
    key = g.create_key("lim")["key"]
    arm(502, count=5)
    r = g.chat(key, "hi " + marker(), model="lim")
    assert_openai_error(r, 502)
    assert r.headers["x-gw-attempts"] == "3"
    left = http_request(mock.port, "GET", "/_mock/faults").json()
    assert left["count"] == 2  # exactly three calls went upstream


def test_no_retry_on_a_400(make_gateway):
    g = make_gateway(extra_models=model("bad", ["provider: mock, model: bad-up"]))
    key = g.create_key("bad")["key"]
    r = g.chat(key, "hi [[mock:status=400]] " + marker(), model="bad")
    assert r.status == 400, r
    assert r.headers["x-gw-attempts"] == "1"


def test_fallbacks_when_the_whole_group_fails(make_gateway):
    g = make_gateway(extra_models=model("primary", ["provider: dead, model: p1"],
                                        retries="retries: { attempts: 2, backoff_ms: 1 }",
                                        fallbacks=["backup"]) +
                     model("backup", ["provider: mock, model: backup-up"]))
    key = g.create_key("fb")["key"]
    r = g.chat(key, "hi " + marker(), model="primary")
    assert r.status == 200, r
    assert r.headers["x-gw-attempts"] == "3"
    assert r.headers["x-gw-deployment"] == "mock/backup-up"
    row = usage(g, r)
    assert row["model"] == "primary" and row["upstream_model"] == "backup-up"


def test_context_window_fallbacks(make_gateway, mock):
    anth = mock_provider(mock.port, "anth", "anthropic")
    g = make_gateway(
        extra_providers=anth,
        extra_models=model("small", ["provider: mock, model: small-up"],
                           fallbacks=["never"], cw=["big"]) +
        model("asmall", ["provider: anth, model: claude-small"], cw=["big"]) +
        model("never", ["provider: mock, model: never-up"]) +
        model("big", ["provider: echo, model: big-echo"]))
    key = g.create_key("cw")["key"]
    r = g.chat(key, "long [[mock:context_exceeded]] " + marker(), model="small")
    assert r.status == 200, r
    assert r.headers["x-gw-attempts"] == "2"
    assert r.headers["x-gw-deployment"] == "echo/big-echo"
    r = post_messages(g, key, {"model": "asmall", "max_tokens": 50, "messages": [
        {"role": "user", "content": "long [[mock:context_exceeded]] " + marker()}]})
    assert r.status == 200, r
    assert r.headers["x-gw-attempts"] == "2"
    assert r.headers["x-gw-deployment"] == "echo/big-echo"
    # without a context-window list the 400 is the answer
    r = g.chat(key, "long [[mock:context_exceeded]] " + marker(), model="never")
    assert r.status == 400 and r.headers["x-gw-attempts"] == "1", r


def test_stream_with_an_error_head_is_retried(make_gateway, arm):
    g = make_gateway(extra_models=model("st", ["provider: mock, model: st-up"]))
    key = g.create_key("st")["key"]
    arm(503)
    s = read_chat_stream(g.port, key, chat_body("one two three " + marker(), model="st",
                                                stream=True))
    assert s.status == 200
    assert s.headers["x-gw-attempts"] == "2"
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors
    assert "one two three" in content_of(chunks)


def test_stream_broken_midway_is_not_retried(make_gateway):
    g = make_gateway(extra_models=model("br", ["provider: mock, model: br-up"]))
    key = g.create_key("br")["key"]
    s = read_chat_stream(g.port, key, chat_body("one two three [[mock:drop_after=1]] " +
                                                marker(), model="br", stream=True))
    assert s.status == 200
    assert s.headers["x-gw-attempts"] == "1"
    _, _, errors, _ = parse_events(s.events)
    assert errors


def test_config_rejects_unknown_and_self_fallbacks(tmp_path, mock, dead_port):
    path = tmp_path / "gatewayd.yaml"
    for models, what in ((model("x", ["provider: mock"], fallbacks=["nope"]), "no model named"),
                         (model("x", ["provider: mock"], cw=["x"]), "itself")):
        path.write_text(gateway_config(1, tmp_path / "var", mock.port, dead_port,
                                       extra_models=models))
        res = subprocess.run([str(GATEWAYD), "--check-config", "-c", str(path)],
                             capture_output=True, text=True,
                             env=dict(os.environ, MOCK_PROVIDER_KEY=PROVIDER_KEY))
        assert res.returncode != 0
        assert what in res.stderr and "gatewayd.yaml:" in res.stderr, res.stderr


def test_retry_and_fallback_counters(make_gateway, arm):
    g = make_gateway(extra_models=model("cnt", ["provider: mock, model: c1"],
                                        retries="retries: { attempts: 2, backoff_ms: 1 }",
                                        fallbacks=["cnt-backup"]) +
                     model("cntd", ["provider: dead, model: c2"], retries="retries: { attempts: 1 }",
                           fallbacks=["cnt-backup"]) +
                     model("cnt-backup", ["provider: mock, model: c3"]))
    key = g.create_key("cnt")["key"]
    arm(503, count=1)
    r = g.chat(key, "hi " + marker(), model="cnt")  # 503, retried on the same deployment
    assert r.status == 200 and r.headers["x-gw-attempts"] == "2", r
    arm(503, count=2)
    r = g.chat(key, "hi " + marker(), model="cnt")  # 503 twice: the group is used up
    assert r.status == 200 and r.headers["x-gw-deployment"] == "mock/c3", r
    r = g.chat(key, "hi " + marker(), model="cntd")  # unreachable, straight to the fallback
    assert r.status == 200 and r.headers["x-gw-deployment"] == "mock/c3", r
    c = {}
    for line in http_request(g.port, "GET", "/metrics").body.decode().splitlines():
        if line.startswith(("gw_retries_total", "gw_fallbacks_total")):
            name, _, value = line.rpartition(" ")
            c[name] = float(value)
    assert c['gw_retries_total{reason="server_error"}'] == 3
    assert c['gw_retries_total{reason="unreachable"}'] == 1
    assert c['gw_retries_total{reason="rate_limited"}'] == 0
    assert c['gw_retries_total{reason="timeout"}'] == 0
    assert c["gw_fallbacks_total"] == 2
    st = g.gwctl("status")["retries"]
    assert st["server_error"] == 3 and st["unreachable"] == 1 and st["fallbacks"] == 2
