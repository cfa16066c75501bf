"""The RAG-cache query API (docs/caching.md, "The RAG-cache query API"):
POST /api/v1/query runs the chat stages and answers {query, response,
provider, model, cache_hit, cache_type, latency_ms, tokens_used, timestamp};
a repeat is an exact cache hit; use_cache false skips the cache; errors are
{detail, error_code, timestamp} on every path, those of the shared stages
(401, 429 rate limit and budget) included; GET /api/v1/cache/stats counts
the API's queries; GET /api/v1/cache/entry finds the entry a query would
hit; DELETE /api/v1/cache is for admin keys only."""

import json
import re
import time
import urllib.parse

import pytest

from conftest import Gateway, marker, mock_provider, serve, wait_for

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ANSWER_FIELDS = {"query", "response", "provider", "model", "cache_hit", "cache_type",
                 "latency_ms", "tokens_used", "timestamp"}
STATS_FIELDS = {"total_queries", "cache_hits", "cache_misses", "hit_rate", "exact_hits",
                "semantic_hits", "avg_latency_ms", "avg_cache_latency_ms",
                "avg_llm_latency_ms", "tokens_saved", "uptime_seconds"}


@pytest.fixture(scope="module")
def qgw(mock, dead_port, tmp_path_factory):
    spare = mock_provider(mock.port, "spare", "openai", "/v1")
    yield from serve(Gateway(tmp_path_factory.mktemp("qgw"), mock.port, dead_port,
                             extra="cache: { enabled: true }\n", name="qgw",
                             extra_providers=spare))


@pytest.fixture(scope="module")
def qkey(qgw):
    return qgw.create_key("query-alice")["key"]


@pytest.fixture(scope="module")
def admin_key(qgw):
    return qgw.create_key("query-admin", "--admin")["key"]


def query(gw, key, body, headers=None):
    return gw.request("POST", "/api/v1/query", body, key=key, headers=headers)


def assert_error(resp, status, code):
    assert resp.status == status, resp
    j = resp.json()
    assert set(j) == {"detail", "error_code", "timestamp"}, j
    assert j["error_code"] == code, j
    assert isinstance(j["detail"], str) and j["detail"], j
    assert ISO.match(j["timestamp"]), j
    return j


def test_answer_fields_and_exact_hit(qgw, qkey, mock):
    m = marker()
    r = query(qgw, qkey, {"query": "what is %s" % m, "max_tokens": 50, "temperature": 0})
    assert r.status == 200, r
    a = r.json()
    assert set(a) == ANSWER_FIELDS, a
    assert a["query"] == "what is %s" % m
    assert a["response"] == "echo: what is %s" % m
    assert a["provider"] == "mock" and a["model"] == "mock-upstream-model", a
    assert a["cache_hit"] is False and a["cache_type"] is None, a
    assert a["tokens_used"] == 3 + 4, a  # the mock counts words: 3 in, 4 out
    assert isinstance(a["latency_ms"], float) and a["latency_ms"] > 0, a
    assert ISO.match(a["timestamp"]), a
    assert r.headers["x-gw-cache"] == "miss"
    sent = mock.find(m)
    assert len(sent) == 1
    body = sent[0]["body"] if "body" in sent[0] else sent[0]
    assert "what is %s" % m in str(body)

    def hit():
        h = query(qgw, qkey, {"query": "what is %s" % m, "max_tokens": 50, "temperature": 0})
        return h if h.json().get("cache_hit") else None
    h = wait_for(hit, 5, what="a cache hit")
    b = h.json()
    assert set(b) == ANSWER_FIELDS, b
    assert b["cache_type"] == "exact" and b["response"] == a["response"], b
    assert b["provider"] == "mock" and b["model"] == "mock-upstream-model", b
    assert b["tokens_used"] == 0, b  # nothing was billed for it
    assert h.headers["x-gw-cache"] == "hit-exact"
    assert len(mock.find(m)) == 1  # no second upstream call
    # another temperature is another request
    c = query(qgw, qkey, {"query": "what is %s" % m, "max_tokens": 50, "temperature": 0.5})
    assert c.status == 200 and c.json()["cache_hit"] is False
    assert len(mock.find(m)) == 2


def test_use_cache_false(qgw, qkey, mock):
    m = marker()
    for _ in range(2):
        r = query(qgw, qkey, {"query": m, "use_cache": False})
        assert r.status == 200, r
        assert r.json()["cache_hit"] is False
        assert r.headers["x-gw-cache"] == "off"
        time.sleep(0.1)
    assert len(mock.find(m)) == 2
    # and nothing was stored by them
    assert query(qgw, qkey, {"query": m}).json()["cache_hit"] is False


def test_provider_and_model(qgw, qkey, mock):
    m = marker()
    r = query(qgw, qkey, {"query": m, "provider": "spare", "model": "up-x", "use_cache": False})
    assert r.status == 200, r
    a = r.json()
    assert a["provider"] == "spare" and a["model"] == "up-x", a
    assert json.loads(mock.find(m)[0]["body"])["model"] == "up-x"
    # provider without a model: the first deployment's upstream model on it
    r = query(qgw, qkey, {"query": m, "provider": "echo", "use_cache": False})
    assert r.status == 200 and r.json()["provider"] == "echo", r
    r = query(qgw, qkey, {"query": m, "model": "echo", "use_cache": False})
    assert r.status == 200 and r.json()["provider"] == "echo", r


def test_invalid_query(qgw, qkey):
    for body in ({}, {"query": ""}, {"query": "   "}, {"query": 5}, {"query": None},
                 {"query": "x" * 32769}, "not json", [1, 2]):
        assert_error(query(qgw, qkey, body), 400, "INVALID_QUERY")
    assert query(qgw, qkey, {"query": "x" * 32768, "model": "echo"}).status == 200


def test_invalid_threshold(qgw, qkey):
    for t in (-0.1, 1.5, "0.5", True, [0.5]):
        assert_error(query(qgw, qkey, {"query": "hi", "semantic_threshold": t}), 400,
                     "INVALID_THRESHOLD")
    r = query(qgw, qkey, {"query": marker(), "semantic_threshold": 0.9, "model": "echo"})
    assert r.status == 200, r


def test_other_field_errors(qgw, qkey):
    for body in ({"query": "hi", "use_cache": "no"}, {"query": "hi", "max_tokens": 0},
                 {"query": "hi", "max_tokens": 1.5}, {"query": "hi", "temperature": 3},
                 {"query": "hi", "model": ""}, {"query": "hi", "colour": "red"}):
        assert_error(query(qgw, qkey, body), 400, "INVALID_REQUEST")


def test_provider_not_found(qgw, qkey):
    j = assert_error(query(qgw, qkey, {"query": "hi", "provider": "nope"}), 400,
                     "PROVIDER_NOT_FOUND")
    assert "nope" in j["detail"]
    assert_error(qgw.request("GET", "/api/v1/cache/entry?query=hi&provider=nope", key=qkey),
                 400, "PROVIDER_NOT_FOUND")


def test_model_not_found(qgw, qkey):
    assert_error(query(qgw, qkey, {"query": "hi", "model": "no-such-model"}), 404,
                 "MODEL_NOT_FOUND")


def test_llm_error(qgw, qkey):
    assert_error(query(qgw, qkey, {"query": "boom [[mock:status=500]]"}), 502, "LLM_ERROR")
    assert_error(query(qgw, qkey, {"query": "bad [[mock:status=400]]"}), 502, "LLM_ERROR")
    assert_error(query(qgw, qkey, {"query": "hi", "model": "dead-model"}), 502, "LLM_ERROR")


def test_service_unavailable(qgw, qkey):
    # a provider no configured model uses: no model to reach on it
    assert_error(query(qgw, qkey, {"query": "hi", "provider": "spare"}), 503,
                 "SERVICE_UNAVAILABLE")


def test_auth_errors_in_its_shape(qgw):
    assert_error(query(qgw, None, {"query": "hi"}), 401, "UNAUTHORIZED")
    assert_error(query(qgw, "sk-gw-wrong", {"query": "hi"}), 401, "UNAUTHORIZED")
    assert_error(qgw.request("GET", "/api/v1/cache/stats"), 401, "UNAUTHORIZED")
    assert_error(qgw.request("DELETE", "/api/v1/cache"), 401, "UNAUTHORIZED")
    assert_error(qgw.request("GET", "/api/v1/query"), 405, "METHOD_NOT_ALLOWED")


def test_rate_limit_applies(qgw):
    k = qgw.create_key("query-rpm", "--rpm", "2")["key"]
    for _ in range(2):
        assert query(qgw, k, {"query": marker(), "model": "echo"}).status == 200
    r = query(qgw, k, {"query": marker(), "model": "echo"})
    assert_error(r, 429, "RATE_LIMITED")
    assert "retry-after" in r.headers


def test_budget_applies(qgw):
    k = qgw.create_key("query-budget", "--budget", "0.000001")["key"]
    assert_error(query(qgw, k, {"query": "hi " + marker(), "max_tokens": 100000}), 429,
                 "BUDGET_EXCEEDED")


def test_entry_lookup(qgw, qkey):
    m = marker()
    q = "entry %s" % m
    assert_error(qgw.request("GET", "/api/v1/cache/entry?query=entry%%20%s" % m, key=qkey),
                 404, "NOT_FOUND")
    assert query(qgw, qkey, {"query": q}).status == 200

    def found():
        r = qgw.request("GET", "/api/v1/cache/entry?query=entry%%20%s" % m, key=qkey)
        return r if r.status == 200 else None
    e = wait_for(found, 5, what="the entry").json()
    assert set(e) == {"query", "response", "created_at", "ttl", "hits"}, e
    assert e["query"] == q and e["response"] == "echo: " + q, e
    assert ISO.match(e["created_at"]), e
    assert 3500 <= e["ttl"] <= 3600, e  # the default cache.ttl: an hour
    assert query(qgw, qkey, {"query": q}).json()["cache_hit"] is True

    def hit_counted():
        r = qgw.request("GET", "/api/v1/cache/entry?query=entry%%20%s" % m, key=qkey)
        return r.json()["hits"] >= 1 or None
    wait_for(hit_counted, 5, what="the hit counted")
    # another key's partition does not see it; another model is another entry
    other = qgw.create_key("query-bob")["key"]
    assert_error(qgw.request("GET", "/api/v1/cache/entry?query=entry%%20%s" % m, key=other),
                 404, "NOT_FOUND")
    assert_error(qgw.request("GET", "/api/v1/cache/entry?query=entry%%20%s&model=echo" % m,
                             key=qkey), 404, "NOT_FOUND")
    assert_error(qgw.request("GET", "/api/v1/cache/entry", key=qkey), 400, "INVALID_QUERY")


def test_stats_arithmetic(qgw, qkey):
    s0 = qgw.request("GET", "/api/v1/cache/stats", key=qkey).json()
    assert set(s0) == STATS_FIELDS, s0
    m = marker()
    assert query(qgw, qkey, {"query": "stats " + m}).json()["cache_hit"] is False
    wait_for(lambda: query(qgw, qkey, {"query": "stats " + m}).json()["cache_hit"] or None, 5,
             what="a hit")
    query(qgw, qkey, {"query": "stats " + m})
    assert_error(query(qgw, qkey, {"query": ""}), 400, "INVALID_QUERY")  # not counted
    s = qgw.request("GET", "/api/v1/cache/stats", key=qkey).json()
    assert s["total_queries"] - s0["total_queries"] >= 3
    assert s["cache_hits"] - s0["cache_hits"] >= 2
    assert s["cache_hits"] + s["cache_misses"] == s["total_queries"]
    assert s["exact_hits"] + s["semantic_hits"] == s["cache_hits"]
    assert s["hit_rate"] == pytest.approx(s["cache_hits"] / s["total_queries"], abs=1e-4)
    # every hit saves the 2 + 3 tokens of "stats mXXX" / "echo: stats mXXX"
    assert s["tokens_saved"] - s0["tokens_saved"] >= 2 * 5
    assert s["avg_cache_latency_ms"] > 0 and s["avg_llm_latency_ms"] > 0
    total = s["avg_cache_latency_ms"] * s["cache_hits"] + \
        s["avg_llm_latency_ms"] * s["cache_misses"]
    assert s["avg_latency_ms"] * s["total_queries"] == pytest.approx(total, rel=1e-2, abs=0.05)
    assert s["uptime_seconds"] >= 0
    # chat requests are not the query API's
    qgw.chat(qkey, marker())
    s2 = qgw.request("GET", "/api/v1/cache/stats", key=qkey).json()
    assert s2["total_queries"] == s["total_queries"]


def test_delete_admin_only(qgw, qkey, admin_key):
    m = marker()
    assert query(qgw, qkey, {"query": m}).status == 200
    url = "/api/v1/cache/entry?query=" + m
    wait_for(lambda: qgw.request("GET", url, key=qkey).status == 200 or None, 5, what="entry")
    assert_error(qgw.request("DELETE", "/api/v1/cache", key=qkey), 403, "FORBIDDEN")
    assert qgw.request("GET", url, key=qkey).status == 200
    r = qgw.request("DELETE", "/api/v1/cache", key=admin_key)
    assert r.status == 200, r
    d = r.json()
    assert set(d) == {"deleted", "timestamp"} and d["deleted"] >= 1, d
    assert ISO.match(d["timestamp"])
    assert_error(qgw.request("GET", url, key=qkey), 404, "NOT_FOUND")
    assert query(qgw, qkey, {"query": m}).json()["cache_hit"] is False


def test_usage_row(qgw, qkey):
    r = query(qgw, qkey, {"query": marker(), "model": "echo", "use_cache": False})
    row = qgw.usage_row(r.headers["x-request-id"])
    assert row["endpoint"] == "/api/v1/query" and row["status"] == 200, row


def test_semantic_hit(make_gateway):
    g = make_gateway(extra="cache: { enabled: true, semantic: { enabled: true, "
                           "threshold: 0.99 } }\n")
    k = g.create_key("query-sem")["key"]
    first = query(g, k, {"query": "How do I reset my password?", "model": "echo"})
    assert first.status == 200 and first.json()["cache_hit"] is False, first

    def near(th):
        r = query(g, k, {"query": "How can I reset my password?", "model": "echo",
                         "semantic_threshold": th})
        assert r.status == 200, r
        return r.json()
    # the store is asynchronous: wait until the first answer is kept (a
    # paraphrase sent before that would miss and be stored as an entry of
    # its own, which the next try would hit exactly)
    path = "/api/v1/cache/entry?" + urllib.parse.urlencode(
        {"query": "How do I reset my password?", "model": "echo"})
    wait_for(lambda: g.request("GET", path, key=k).status == 200, 5, what="the stored answer")
    a = near(0.5)  # the request's own threshold
    assert a["cache_hit"] is True, a
    assert a["cache_type"] == "semantic", a
    assert a["response"] == first.json()["response"], a
    s = g.request("GET", "/api/v1/cache/stats", key=k).json()
    assert s["semantic_hits"] >= 1 and s["exact_hits"] + s["semantic_hits"] == s["cache_hits"]
    b = query(g, k, {"query": "How could I reset my password?", "model": "echo",
                     "semantic_threshold": 0.5, "use_cache": False})
    assert b.status == 200 and b.json()["cache_hit"] is False, b
