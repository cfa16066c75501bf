"""Routing over model groups (docs/routing.md): each strategy's choice over
many requests (fallback always the first by priority, round-robin in exact
turn, weighted within a stated tolerance, least-busy and latency avoiding a
slow deployment, cost the cheapest and billed at its price), the circuit
breaker (opening after consecutive failures, traffic moving to a healthy
deployment, exactly one half-open probe after the cooldown, closing on its
success and re-opening on its failure, a stream that breaks counting as a
failure, client errors not counting, the state kept across a reload), the
503 no_healthy_deployment with Retry-After in both front doors, the
x-gw-provider / x-gw-deployment / x-gw-attempts headers, and the
deployments in /metrics and `gwctl status`.

Several deployments point at the mock with different upstream model names;
which one served a request is read from x-gw-deployment and checked against
the model the mock received. A slow deployment is the mock behind a small
delaying proxy (SlowUpstream). The test config switches breakers off (so
the fault tests elsewhere see every upstream failure); the models here that
test them switch theirs on."""

import http.client
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import (PROVIDER_KEY, SLOW, assert_openai_error, chat_body, http_request,
                      marker, messages_headers, post_messages, read_chat_stream, wait_for)


class SlowUpstream:
    """An OpenAI-format upstream that waits delay_s, then answers with what
    the mock answers (the request forwarded as it came)."""

    def __init__(self, mock_port, delay_s):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(outer.delay_s)
                conn = http.client.HTTPConnection("127.0.0.1", mock_port, timeout=30)
                try:
                    hdrs = {k: v for k, v in self.headers.items()
                            if k.lower() in ("authorization", "content-type")}
                    conn.request("POST", self.path, body=body, headers=hdrs)
                    r = conn.getresponse()
                    data = r.read()
                    self.send_response(r.status)
                    self.send_header("Content-Type", r.getheader("Content-Type") or "")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    conn.close()

            def log_message(self, *args):
                pass

        self.delay_s = delay_s
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def provider(self, name="slow"):
        return ('  - { name: %s, type: openai, base_url: "http://127.0.0.1:%d/v1", '
                'api_key: "env:MOCK_PROVIDER_KEY" }\n' % (name, self.port))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_upstream(mock):
    s = SlowUpstream(mock.port, 0.3)
    yield s
    s.close()


def group(name, deployments, strategy=None, breaker=None, pricing=None):
    """A model entry (YAML lines under models:) with the given deployments."""
    lines = ["  - name: %s\n" % name]
    if strategy:
        lines.append("    strategy: %s\n" % strategy)
    if breaker:  # the test config switches breakers off: on for this model
        lines.append("    circuit_breaker: { enabled: true, %s }\n" % breaker)
    if pricing:
        lines.append("    pricing: { %s }\n" % pricing)
    lines.append("    deployments:\n")
    for d in deployments:
        lines.append("      - { %s }\n" % d)
    return "".join(lines)


def served_by(resp):
    """The deployment that served a response (x-gw-deployment)."""
    return resp.headers.get("x-gw-deployment")


def ask(g, key, model, text="hello", **kw):
    return g.chat(key, text + " " + marker(), model=model, **kw)


def deployments_of(g, model):
    """gwctl status --json: the deployments of model, by deployment label."""
    st = g.gwctl("status")
    return {d["deployment"]: d for d in st["deployments"] if d["model"] == model}


def metrics(g):
    r = http_request(g.port, "GET", "/metrics")
    assert r.status == 200, r
    out = {}
    for line in r.body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def series(name, model, provider, upstream):
    return '%s{model="%s",provider="%s",upstream_model="%s"}' % (name, model, provider, upstream)


# --------------------------------------------------------------------------
# strategies


def test_fallback_takes_the_first_by_priority(make_gateway, mock):
    g = make_gateway(extra_models=group("fb", [
        "provider: mock, model: fb-b, priority: 1",
        "provider: mock, model: fb-a",
        "provider: mock, model: fb-c, priority: 1"]))
    key = g.create_key("fb")["key"]
    for _ in range(20):
        m = marker()
        r = g.chat(key, "hi " + m, model="fb")
        assert r.status == 200, r
        assert served_by(r) == "mock/fb-a"
        assert r.headers["x-gw-provider"] == "mock"
        assert r.headers["x-gw-attempts"] == "1"
        sent = json.loads(mock.find(m)[0]["body"])
        assert sent["model"] == "fb-a"  # what the header says is what went upstream


def test_round_robin_takes_turns(make_gateway):
    g = make_gateway(extra_models=group("rr", [
        "provider: mock, model: rr-1", "provider: mock, model: rr-2",
        "provider: mock, model: rr-3"], strategy="round-robin"))
    key = g.create_key("rr")["key"]
    seq = [served_by(ask(g, key, "rr")) for _ in range(30)]
    assert set(seq) == {"mock/rr-1", "mock/rr-2", "mock/rr-3"}
    for i in range(3, 30):
        assert seq[i] == seq[i - 3], seq  # exact rotation, period 3
    assert len(set(seq[:3])) == 3, seq


def test_weighted_follows_the_weights(make_gateway):
    # 300 requests at 3:1: the heavy one's share within 75% +- 10 points;
    # a weight of 0 is a standby that gets nothing while another can serve
    g = make_gateway(extra_models=group("wt", [
        "provider: mock, model: wt-heavy, weight: 3",
        "provider: mock, model: wt-light, weight: 1",
        "provider: mock, model: wt-standby, weight: 0"], strategy="weighted"))
    key = g.create_key("wt")["key"]
    counts = {}
    for _ in range(300):
        r = ask(g, key, "wt")
        assert r.status == 200, r
        counts[served_by(r)] = counts.get(served_by(r), 0) + 1
    assert "mock/wt-standby" not in counts, counts
    share = counts.get("mock/wt-heavy", 0) / 300.0
    assert 0.65 <= share <= 0.85, counts
    assert counts.get("mock/wt-light", 0) > 0, counts


def test_least_busy_sends_less_to_the_slow_one(make_gateway, slow_upstream):
    # the slow deployment comes first, so it wins every tie: it still gets
    # the smaller part, because its requests stay in flight 300 ms
    g = make_gateway(extra_providers=slow_upstream.provider(), extra_models=group("lb", [
        "provider: slow, model: lb-slow", "provider: mock, model: lb-fast"],
        strategy="least-busy"))
    key = g.create_key("lb")["key"]
    with ThreadPoolExecutor(8) as pool:
        resps = list(pool.map(lambda _: ask(g, key, "lb"), range(48)))
    assert all(r.status == 200 for r in resps), [r for r in resps if r.status != 200][:2]
    slow = sum(served_by(r) == "slow/lb-slow" for r in resps)
    fast = sum(served_by(r) == "mock/lb-fast" for r in resps)
    assert slow + fast == 48
    assert 1 <= slow <= 16, (slow, fast)
    d = deployments_of(g, "lb")
    assert d["slow/lb-slow"]["in_flight"] == 0 and d["mock/lb-fast"]["in_flight"] == 0


def test_latency_prefers_the_faster_once_measured(make_gateway, slow_upstream):
    g = make_gateway(extra_providers=slow_upstream.provider(), extra_models=group("lat", [
        "provider: slow, model: lat-slow", "provider: mock, model: lat-fast"],
        strategy="latency"))
    key = g.create_key("lat")["key"]
    seq = [served_by(ask(g, key, "lat")) for _ in range(12)]
    # each is tried once (never measured: tried first), then the faster one
    assert seq[:2] == ["slow/lat-slow", "mock/lat-fast"], seq
    assert seq[2:] == ["mock/lat-fast"] * 10, seq
    d = deployments_of(g, "lat")
    assert d["slow/lat-slow"]["ttfb_ms"] >= 250, d
    assert d["mock/lat-fast"]["ttfb_ms"] < d["slow/lat-slow"]["ttfb_ms"], d


def test_cost_picks_the_cheapest_and_bills_its_price(make_gateway):
    g = make_gateway(extra_models=group("cheap", [
        "provider: mock, model: c-dear, pricing: { input_per_mtok: 5, output_per_mtok: 10 }",
        "provider: mock, model: c-list",
        "provider: mock, model: c-cheap, pricing: { input_per_mtok: 0.1, output_per_mtok: 0.2 }"],
        strategy="cost", pricing="input_per_mtok: 1.0, output_per_mtok: 2.0") + group("flat", [
        "provider: mock, model: f-1", "provider: mock, model: f-2"], strategy="cost"))
    key = g.create_key("cost")["key"]
    for _ in range(5):
        r = ask(g, key, "cheap", text="one two three")
        assert r.status == 200 and served_by(r) == "mock/c-cheap", r
    row = g.usage_row(r.headers["x-request-id"])
    assert row["upstream_model"] == "c-cheap"
    expect = (row["prompt_tokens"] * 0.1 + row["completion_tokens"] * 0.2) / 1e6
    assert row["prompt_tokens"] > 0 and abs(row["cost_usd"] - expect) < 1e-12, row
    # no prices at all: every deployment costs the same, priority order decides
    assert {served_by(ask(g, key, "flat")) for _ in range(5)} == {"mock/f-1"}


def test_direct_provider_model_headers(make_gateway, mock):
    g = make_gateway()
    key = g.create_key("direct")["key"]
    m = marker()
    r = g.chat(key, "hi " + m, model="mock/some-upstream")
    assert r.status == 200, r
    assert served_by(r) == "mock/some-upstream"
    assert r.headers["x-gw-provider"] == "mock" and r.headers["x-gw-attempts"] == "1"
    assert json.loads(mock.find(m)[0]["body"])["model"] == "some-upstream"


def test_attempts_zero_when_the_gateway_refuses_after_routing(make_gateway):
    g = make_gateway()
    key = g.create_key("poor", "--budget", "0.00001")["key"]
    r = g.chat(key, "hello world", max_tokens=10)
    assert_openai_error(r, 429, code="budget_exceeded")
    assert served_by(r) == "mock/mock-upstream-model"
    assert r.headers["x-gw-attempts"] == "0"  # no upstream call was made
    d = deployments_of(g, "gpt-4o-mini")["mock/mock-upstream-model"]
    assert d["requests"] == 0 and d["in_flight"] == 0, d


# --------------------------------------------------------------------------
# circuit breakers


def test_breaker_opens_and_traffic_moves(make_gateway):
    g = make_gateway(extra_models=group("cb", [
        "provider: dead, model: cb-dead", "provider: mock, model: cb-good"],
        breaker="failures: 3, cooldown_s: 1"))
    key = g.create_key("cb")["key"]
    for _ in range(3):  # retries are off in the test config: the caller sees each failure
        r = ask(g, key, "cb")
        assert_openai_error(r, 502, code="upstream_unreachable")
        assert served_by(r) == "dead/cb-dead"
    d = deployments_of(g, "cb")
    assert d["dead/cb-dead"]["state"] == "open" and d["dead/cb-dead"]["failures"] == 3, d
    assert 1 <= d["dead/cb-dead"]["half_open_in_s"] <= 1
    m = metrics(g)
    assert m[series("gw_deployment_breaker_state", "cb", "dead", "cb-dead")] == 1
    assert m[series("gw_deployment_breaker_state", "cb", "mock", "cb-good")] == 0
    assert m[series("gw_deployment_failures_total", "cb", "dead", "cb-dead")] == 3
    assert m[series("gw_deployment_breaker_opened_total", "cb", "dead", "cb-dead")] == 1
    for _ in range(5):  # an open deployment gets no traffic
        r = ask(g, key, "cb")
        assert r.status == 200 and served_by(r) == "mock/cb-good", r
    time.sleep(1.1)
    assert deployments_of(g, "cb")["dead/cb-dead"]["state"] == "half-open"
    assert metrics(g)[series("gw_deployment_breaker_state", "cb", "dead", "cb-dead")] == 2
    r = ask(g, key, "cb")  # the probe, which fails: open again for a cooldown
    assert r.status == 502 and served_by(r) == "dead/cb-dead", r
    assert deployments_of(g, "cb")["dead/cb-dead"]["state"] == "open"
    r = ask(g, key, "cb")
    assert r.status == 200 and served_by(r) == "mock/cb-good", r
    assert "circuit breaker closed -> open for 1 s" in g.stderr_text()


def test_probe_success_closes(make_gateway):
    g = make_gateway(extra_models=group("hp", [
        "provider: mock, model: hp-a", "provider: mock, model: hp-b"],
        breaker="failures: 2, cooldown_s: 1"))
    key = g.create_key("hp")["key"]
    for _ in range(2):
        r = ask(g, key, "hp", text="[[mock:status=500]]")
        assert r.status == 500 and served_by(r) == "mock/hp-a", r
    assert served_by(ask(g, key, "hp")) == "mock/hp-b"
    time.sleep(1.1)
    r = ask(g, key, "hp")  # the probe succeeds
    assert r.status == 200 and served_by(r) == "mock/hp-a", r
    assert deployments_of(g, "hp")["mock/hp-a"]["state"] == "closed"
    assert {served_by(ask(g, key, "hp")) for _ in range(5)} == {"mock/hp-a"}
    # closed afresh: one more failure does not open it again
    assert ask(g, key, "hp", text="[[mock:status=503]]").status == 503
    assert served_by(ask(g, key, "hp")) == "mock/hp-a"


def test_all_open_is_503_with_retry_after_and_one_probe(make_gateway):
    g = make_gateway(extra_models=group("solo", ["provider: mock, model: solo-1"],
                                        breaker="failures: 1, cooldown_s: 1") +
                     group("long", ["provider: mock, model: long-1"],
                           breaker="failures: 2, cooldown_s: 30"))
    key = g.create_key("solo")["key"]
    assert ask(g, key, "solo", text="[[mock:status=429]]").status == 429  # 429 is a failure
    r = ask(g, key, "solo")
    err = assert_openai_error(r, 503, code="no_healthy_deployment")
    assert "solo" in err["message"] and r.headers["retry-after"] == "1", r.headers
    assert "x-gw-deployment" not in r.headers
    # the other front door, in its own shape
    body = {"model": "solo", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    r = post_messages(g, key, body)
    assert r.status == 503 and r.headers["retry-after"] == "1", r
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "overloaded_error"
    # after the cooldown exactly one request goes through as the probe
    time.sleep(1.1)
    barrier = threading.Barrier(6)

    def one(_):
        barrier.wait()
        return ask(g, key, "solo", text="[[mock:delay_ms=500]]")
    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(r.status for r in pool.map(one, range(6)))
    assert statuses == [200, 503, 503, 503, 503, 503], statuses
    assert ask(g, key, "solo").status == 200  # the probe's success closed it

    for _ in range(2):
        assert ask(g, key, "long", text="[[mock:status=502]]").status == 502
    r = ask(g, key, "long")
    assert r.status == 503 and 29 <= int(r.headers["retry-after"]) <= 30, r.headers


def test_client_errors_do_not_count(make_gateway):
    g = make_gateway(extra_models=group("ce", ["provider: mock, model: ce-1"],
                                        breaker="failures: 2, cooldown_s: 30"))
    key = g.create_key("ce")["key"]
    for status in (400, 404, 422, 400, 413):
        assert ask(g, key, "ce", text="[[mock:status=%d]]" % status).status == status
    d = deployments_of(g, "ce")["mock/ce-1"]
    assert d["state"] == "closed" and d["failures"] == 0 and d["requests"] == 5, d
    assert ask(g, key, "ce").status == 200


def test_failure_rate_opens(make_gateway):
    g = make_gateway(extra_models=group("fr", ["provider: mock, model: fr-1"], breaker=(
        "failures: 0, failure_rate: 0.5, min_requests: 6, window_s: 60, cooldown_s: 30")))
    key = g.create_key("fr")["key"]
    for i in range(5):  # 2 of 5 failed: too few requests to judge
        text = "[[mock:status=500]]" if i % 2 else "fine"
        ask(g, key, "fr", text=text)
    assert deployments_of(g, "fr")["mock/fr-1"]["state"] == "closed"
    assert ask(g, key, "fr", text="[[mock:status=500]]").status == 500  # 3 of 6
    assert deployments_of(g, "fr")["mock/fr-1"]["state"] == "open"
    assert ask(g, key, "fr").status == 503


def test_broken_streams_count_and_good_ones_close(make_gateway):
    g = make_gateway(extra_models=group("st", [
        "provider: mock, model: st-a", "provider: mock, model: st-b"],
        breaker="failures: 2, cooldown_s: 1"))
    key = g.create_key("st")["key"]
    for _ in range(2):  # cut mid-answer after the stream had started
        s = read_chat_stream(g.port, key, chat_body("one two three [[mock:drop_after=1]]",
                                                    model="st", stream=True))
        assert s.status == 200 and s.headers["x-gw-deployment"] == "mock/st-a"
    # the outcome of a stream is recorded as it ends: wait for it
    wait_for(lambda: deployments_of(g, "st")["mock/st-a"]["state"] == "open", 3 * SLOW,
             what="the breaker to open")
    s = read_chat_stream(g.port, key, chat_body("hi", model="st", stream=True))
    assert s.headers["x-gw-deployment"] == "mock/st-b"
    time.sleep(1.1)
    s = read_chat_stream(g.port, key, chat_body("all good", model="st", stream=True))
    assert s.status == 200 and s.headers["x-gw-deployment"] == "mock/st-a"
    wait_for(lambda: deployments_of(g, "st")["mock/st-a"]["state"] == "closed", 3 * SLOW,
             what="the probe's success to close the breaker")


def test_all_open_goes_to_the_fallbacks(make_gateway):
    """A group whose every breaker is open has failed: its fallbacks answer
    (503 only when they have nothing either)."""
    g = make_gateway(extra_models=group("fo", ["provider: mock, model: fo-1"],
                                        breaker="failures: 1, cooldown_s: 30") +
                     "    fallbacks: [fo-spare]\n" +
                     group("fo-spare", ["provider: mock, model: fo-spare-1"]))
    key = g.create_key("fo")["key"]
    # the failure is retried on the fallback at once, and opens fo-1's breaker
    r = ask(g, key, "fo", text="[[mock:status=500]]")
    assert deployments_of(g, "fo")["mock/fo-1"]["state"] == "open", r
    r = ask(g, key, "fo")
    assert r.status == 200 and served_by(r) == "mock/fo-spare-1", r.headers
    assert r.headers["x-gw-attempts"] == "1", r.headers


def test_breaker_state_survives_reload(make_gateway):
    models = group("rl", ["provider: mock, model: rl-1"], breaker="failures: 1, cooldown_s: 30")
    g = make_gateway(extra_models=models)
    key = g.create_key("rl")["key"]
    assert ask(g, key, "rl", text="[[mock:status=500]]").status == 500
    assert ask(g, key, "rl").status == 503
    g.write_config(extra_models=models + group("other", ["provider: echo, model: echo"]))
    assert g.gwctl("reload") == {"reloaded": True}
    assert ask(g, key, "rl").status == 503  # still open: the state outlives configs
    d = deployments_of(g, "rl")["mock/rl-1"]
    assert d["state"] == "open" and d["failures"] == 1


# --------------------------------------------------------------------------
# what operators see


def test_status_and_metrics_list_deployments(make_gateway):
    g = make_gateway(extra_models=group("vis", [
        "provider: mock, model: vis-1, weight: 2", "provider: echo, model: echo, priority: 5"],
        strategy="weighted"))
    key = g.create_key("vis")["key"]
    assert ask(g, key, "vis").status == 200
    st = g.gwctl("status")
    vis = [d for d in st["deployments"] if d["model"] == "vis"]
    assert [d["deployment"] for d in vis] == ["mock/vis-1", "echo/echo"]
    assert vis[0]["strategy"] == "weighted" and vis[0]["weight"] == 2
    assert vis[1]["priority"] == 5
    for d in vis:
        assert set(d) >= {"provider", "upstream_model", "state", "half_open_in_s", "in_flight",
                          "requests", "failures", "ttfb_ms"}
        assert d["state"] == "closed" and d["half_open_in_s"] is None
    assert sum(d["requests"] for d in vis) == 1
    # the human view: the counters, then a table of deployments
    p = g.gwctl_run("status", json_out=False)
    assert p.returncode == 0, p.stderr
    assert re.search(r"^MODEL +DEPLOYMENT +STRATEGY +STATE", p.stdout, re.M), p.stdout
    assert re.search(r"^vis +mock/vis-1 +weighted +closed", p.stdout, re.M), p.stdout
    body = http_request(g.port, "GET", "/metrics").body.decode()
    for line in body.splitlines():  # the exposition stays valid
        assert re.match(r'^(# (HELP|TYPE) \w+ .+|\w+(\{[\w="+.,:/-]*\})? [0-9.e+-]+)$', line), line
    m = metrics(g)
    for name in ("gw_deployment_in_flight", "gw_deployment_breaker_state",
                 "gw_deployment_requests_total", "gw_deployment_failures_total"):
        assert series(name, "vis", "mock", "vis-1") in m, name
        assert series(name, "gpt-4o-mini", "mock", "mock-upstream-model") in m, name
    served = [d for d in vis if d["requests"] == 1][0]
    if served["ttfb_ms"] is not None:  # the mock's deployment has a measured time
        ttfb = m[series("gw_deployment_ttfb_seconds", "vis", served["provider"],
                        served["upstream_model"])]
        assert 0 < ttfb < 5
