"""Usage accounting: one row per completed request in gateway.db (written by
the writer thread), with the upstream's exact token counts and the cost from
the model's pricing; `gwctl usage report` by key, model and team."""

import pytest

from conftest import parse_events, words

PRICE_IN, PRICE_OUT = 1.0, 2.0  # gpt-4o-mini in the test config, USD per million tokens


def cost(p, c):
    return (p * PRICE_IN + c * PRICE_OUT) / 1e6


@pytest.fixture(scope="module")
def traffic(gw):
    """A fresh key with a known set of requests: 2 non-streamed, 2 streamed
    (one with include_usage), 1 echo."""
    k = gw.create_key("usage-bob")
    key = k["key"]
    texts = ["alpha beta gamma", "one two three four five six"]
    stream_texts = ["stream alpha beta", "stream with usage shown"]
    expected = {"requests": 0, "prompt": 0, "completion": 0, "mock_prompt": 0,
                "mock_completion": 0, "ids": []}
    for t in texts:
        r = gw.chat(key, t)
        assert r.status == 200, r
        expected["ids"].append(("chat", r.headers["x-request-id"], t))
        expected["mock_prompt"] += words(t)
        expected["mock_completion"] += words("echo: " + t)
    for i, t in enumerate(stream_texts):
        s = gw.stream(key, t, include_usage=True if i else None)
        assert parse_events(s.events)[1], s.events[-2:]
        expected["ids"].append(("stream", s.headers["x-request-id"], t))
        expected["mock_prompt"] += words(t)
        expected["mock_completion"] += words("echo: " + t)
    r = gw.chat(key, "echo usage row", model="echo")
    assert r.status == 200, r
    u = r.json()["usage"]
    expected["ids"].append(("echo", r.headers["x-request-id"], "echo usage row"))
    expected["echo_prompt"] = u["prompt_tokens"]
    expected["echo_completion"] = u["completion_tokens"]
    expected["requests"] = 5
    expected["prompt"] = expected["mock_prompt"] + u["prompt_tokens"]
    expected["completion"] = expected["mock_completion"] + u["completion_tokens"]
    expected["key_id"] = k["id"]
    expected["key"] = key
    # the writer commits within ~100 ms
    for _, rid, _ in expected["ids"]:
        gw.usage_row(rid)
    return expected


def test_usage_rows_in_database(gw, traffic):
    for kind, rid, text in traffic["ids"]:
        row = gw.usage_row(rid)
        assert row["request_id"] == rid
        assert row["key_id"] == traffic["key_id"]
        assert row["status"] == 200
        assert row["endpoint"] in ("/v1/chat/completions", "chat.completions", "chat"), row
        assert row["created_at"] and row["latency_ms"] is not None and row["latency_ms"] >= 0
        assert row["overhead_us"] is not None and row["overhead_us"] >= 0
        assert row["client_gone"] == 0
        assert not row["error"], row
        if kind == "echo":
            assert row["model"] == "echo"
            assert row["provider"] == "echo"
            assert row["prompt_tokens"] == traffic["echo_prompt"]
            assert row["completion_tokens"] == traffic["echo_completion"]
            continue
        assert row["model"] == "gpt-4o-mini"
        assert row["provider"] == "mock"
        assert row["upstream_model"] == "mock-upstream-model"
        assert row["stream"] == (1 if kind == "stream" else 0)
        assert row["prompt_tokens"] == words(text), (row, text)
        assert row["completion_tokens"] == words("echo: " + text), (row, text)
        assert row["cached_tokens"] == 0
        assert row["cost_usd"] == pytest.approx(
            cost(row["prompt_tokens"], row["completion_tokens"]), rel=1e-9, abs=1e-15)
        if kind == "stream":
            assert row["ttfb_ms"] is not None and 0 <= row["ttfb_ms"] <= row["latency_ms"]


def test_usage_report_by_key(gw, traffic):
    doc = gw.usage_report("key")
    rows = [r for r in doc["rows"] if r.get("key_id") == traffic["key_id"]]
    assert len(rows) == 1, doc
    row = rows[0]
    assert row["key_name"] == "usage-bob"
    assert row["requests"] == traffic["requests"]
    assert row["prompt_tokens"] == traffic["prompt"]
    assert row["completion_tokens"] == traffic["completion"]
    assert row["cost_usd"] == pytest.approx(
        cost(traffic["mock_prompt"], traffic["mock_completion"]), rel=1e-9, abs=1e-15)
    t = doc["totals"]
    for field in ("requests", "prompt_tokens", "completion_tokens"):
        assert t[field] == sum(r[field] for r in doc["rows"]), (field, doc)
    assert t["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in doc["rows"]))


def test_usage_report_by_model(gw, traffic):
    doc = gw.usage_report("model")
    by = {r["model"]: r for r in doc["rows"]}
    assert "gpt-4o-mini" in by and "echo" in by, doc
    # this module's other tests also use these models: at least our traffic
    assert by["gpt-4o-mini"]["requests"] >= 4
    assert by["gpt-4o-mini"]["prompt_tokens"] >= traffic["mock_prompt"]
    db = gw.db_query("SELECT count(*) AS n, sum(prompt_tokens) AS p, sum(completion_tokens) AS c "
                     "FROM usage WHERE model = 'gpt-4o-mini'")[0]
    assert by["gpt-4o-mini"]["requests"] == db["n"]
    assert by["gpt-4o-mini"]["prompt_tokens"] == db["p"]
    assert by["gpt-4o-mini"]["completion_tokens"] == db["c"]


def test_usage_report_flushes(gw):
    """A request that completed is in the very next report (the ring is flushed)."""
    k = gw.create_key("flush-me")
    before = gw.usage_report("key")
    assert not [r for r in before["rows"] if r.get("key_id") == k["id"]]
    r = gw.chat(k["key"], "flush me now")
    assert r.status == 200
    doc = gw.usage_report("key")
    rows = [x for x in doc["rows"] if x.get("key_id") == k["id"]]
    assert len(rows) == 1 and rows[0]["requests"] == 1, doc
    assert rows[0]["prompt_tokens"] == 3 and rows[0]["completion_tokens"] == 4


def test_usage_report_table(gw, traffic):
    p = gw.gwctl_run("usage", "report", json_out=False)
    assert p.returncode == 0, p.stderr
    assert "usage-bob" in p.stdout


def test_usage_by_team(gw):
    team = gw.gwctl("team", "create", "research")
    assert team["team"]["name"] == "research", team
    k = gw.create_key("team-bob", "--team", "research")
    assert k.get("team") == "research", k
    for t in ("team request one", "team request two"):
        assert gw.chat(k["key"], t).status == 200
    doc = gw.usage_report("team")
    rows = [r for r in doc["rows"] if r.get("team") == "research"]
    assert len(rows) == 1, doc
    assert rows[0]["requests"] == 2
    assert rows[0]["prompt_tokens"] == words("team request one") + words("team request two")
    assert rows[0]["completion_tokens"] == 2 * 4
    ids = gw.db_query("SELECT team_id FROM usage WHERE key_id = ?", (k["id"],))
    assert len(ids) == 2 and all(r["team_id"] for r in ids), ids
