"""GET /metrics: Prometheus text, no key needed, counting requests by status,
tokens and cost, refusals by limit and budget, and the usage ring."""

import re

from conftest import http_request


def metrics(g):
    r = http_request(g.port, "GET", "/metrics")
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("text/plain")
    out = {}
    for line in r.body.decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def test_metrics_count_what_happened(make_gateway):
    g = make_gateway(extra="rate_limiting: { defaults: { rpm: 3 } }\n")
    key = g.create_key("m")["key"]
    before = metrics(g)
    assert g.chat(key, "one two").status == 200
    assert g.chat(key, "x", stream=True).status == 200
    assert g.chat(key, "x", model="nope").status == 404
    assert g.chat(key, "x").status == 429
    assert g.chat("sk-gw-bogus", "x").status == 401
    g.usage_report()  # flushes the writer
    m = metrics(g)

    def delta(name):
        return m.get(name, 0) - before.get(name, 0)
    assert delta('gw_requests_total{status="200",stream="false"}') == 1
    assert delta('gw_requests_total{status="200",stream="true"}') == 1
    assert delta('gw_requests_total{status="404",stream="false"}') == 1
    assert delta('gw_requests_total{status="429",stream="false"}') == 1
    assert delta('gw_requests_total{status="401",stream="false"}') == 1
    assert delta('gw_rate_limited_total{subject="key",limit="rpm"}') == 1
    # "one two" = 2 prompt + 3 answer words; the stream "x" = 1 + 2
    assert delta('gw_tokens_total{type="prompt"}') == 3
    assert delta('gw_tokens_total{type="completion"}') == 5
    assert abs(delta("gw_cost_usd_total") - (3 * 1.0 + 5 * 2.0) / 1e6) < 1e-9
    assert delta("gw_overhead_seconds_count") == 5
    assert m['gw_overhead_seconds_bucket{le="+Inf"}'] == m["gw_overhead_seconds_count"]
    assert m["gw_usage_rows_written_total"] >= 5 and m["gw_in_flight"] >= 0


def test_budget_refusals_counted(gw):
    k = gw.create_key("mb", "--budget", "0.00001")["key"]
    before = metrics(gw)
    statuses = [gw.chat(k, "hello world", max_tokens=10).status for _ in range(2)]
    assert statuses == [429, 429], statuses  # $0.000030 reserved never fits in $0.00001
    after = metrics(gw)
    key = 'gw_budget_exceeded_total{subject="key"}'
    assert after[key] - before.get(key, 0) == 2


def test_metrics_format_is_prometheus(gw):
    body = http_request(gw.port, "GET", "/metrics").body.decode()
    for line in body.splitlines():
        assert re.match(r'^(# (HELP|TYPE) \w+ .+|\w+(\{[\w="+.,:/-]*\})? [0-9.e+-]+)$', line), line
