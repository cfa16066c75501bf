"""POST /v1/embeddings through the openai adapter (the mock) and the built-in
echo provider: string, array and token-array input; what the upstream
receives (the deployment's model, the provider key, never the client's key,
the rest of the body as sent); the answer passed on unchanged; a usage row
with the input price; every 400 naming its field; 401, 404; upstream errors,
garbage, refusals and timeouts as for chat; and the governance stages: rate
limits, budgets (no side door) and content policy.

Model `embed` is the mock's `text-embedding-3-small` (cl100k_base: counts
are exact) at $10 per million input tokens, so each token the mock reports
(one per word) costs $0.00001 = 10,000 nano-USD."""

import base64
import json
import math
import struct
import time

import pytest

from conftest import (PROVIDER_KEY, SLOW, Gateway, assert_gw_headers, assert_openai_error,
                      serve)

EMBED_MODELS = """\
  - name: embed
    deployments: [ { provider: mock, model: text-embedding-3-small } ]
    pricing: { input_per_mtok: 10.0, output_per_mtok: 99.0 }
"""

POLICY = """content_policy:
  enabled: true
  max_input_tokens: 4096
  blocked_patterns: ["launch codes"]
"""

TOKEN_PRICE = 10.0 / 1e6  # USD per input token of `embed`


@pytest.fixture(scope="module")
def egw(mock, dead_port, tmp_path_factory):
    yield from serve(Gateway(tmp_path_factory.mktemp("egw"), mock.port, dead_port,
                             extra_models=EMBED_MODELS, extra=POLICY, name="egw"))


@pytest.fixture(scope="module")
def ekey(egw):
    return egw.create_key("embedder")["key"]


def embed(g, key, body, path="/v1/embeddings", headers=None):
    return g.request("POST", path, body=body, key=key, headers=headers)


def marker():
    return "emb-%d" % time.time_ns()


def unit_length(vec):
    return abs(math.sqrt(sum(x * x for x in vec)) - 1.0) < 1e-5


# --------------------------------------------------------------------------
# through the openai adapter (the mock)


def test_string_input_relayed(egw, ekey, mock):
    m = marker()
    body = {"model": "embed", "input": "hello %s world" % m, "user": "u-1",
            "encoding_format": "float", "dimensions": 8}
    r = embed(egw, ekey, body)
    assert r.status == 200, r
    assert_gw_headers(r)
    assert r.headers.get("x-gw-provider") == "mock"
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["object"] == "list" and doc["model"] == "text-embedding-3-small", doc
    assert [d["index"] for d in doc["data"]] == [0]
    assert doc["data"][0]["object"] == "embedding"
    vec = doc["data"][0]["embedding"]
    assert len(vec) == 8 and unit_length(vec), vec
    assert doc["usage"] == {"prompt_tokens": 3, "total_tokens": 3}

    seen = mock.find(m)
    assert len(seen) == 1, seen
    q = seen[0]
    assert q["method"] == "POST" and q["path"] == "/v1/embeddings", q
    assert q["headers"].get("authorization") == "Bearer " + PROVIDER_KEY
    assert ekey not in json.dumps(q), "the client's key must never go upstream"
    sent = json.loads(q["body"])
    assert sent == dict(body, model="text-embedding-3-small"), sent


def test_answer_passed_on_unchanged(egw, ekey, mock):
    # what the gateway answers is byte for byte what the mock answered for
    # the same body sent to it directly
    from conftest import http_request
    body = {"model": "embed", "input": ["one two", "three"]}
    r = embed(egw, ekey, body)
    assert r.status == 200, r
    direct = http_request(mock.port, "POST", "/v1/embeddings",
                          body=dict(body, model="text-embedding-3-small"))
    assert direct.status == 200
    assert r.body == direct.body


def test_array_input(egw, ekey):
    r = embed(egw, ekey, {"model": "embed", "input": ["a b", "c d e", "a b"]})
    assert r.status == 200, r
    doc = r.json()
    assert [d["index"] for d in doc["data"]] == [0, 1, 2]
    vecs = [d["embedding"] for d in doc["data"]]
    assert vecs[0] == vecs[2] != vecs[1], "equal inputs give equal vectors"
    assert doc["usage"]["prompt_tokens"] == 2 + 3 + 2
    single = embed(egw, ekey, {"model": "embed", "input": "c d e"}).json()
    assert single["data"][0]["embedding"] == vecs[1]


def test_token_array_inputs(egw, ekey, mock):
    m = marker()
    body = {"model": "embed", "input": [[1, 2, 3], [4, 5]], "user": m}
    r = embed(egw, ekey, body)
    assert r.status == 200, r
    assert r.json()["usage"]["prompt_tokens"] == 5
    assert json.loads(mock.find(m)[0]["body"])["input"] == [[1, 2, 3], [4, 5]]
    r = embed(egw, ekey, {"model": "embed", "input": [7, 8, 9, 10]})
    assert r.status == 200, r
    assert len(r.json()["data"]) == 1 and r.json()["usage"]["prompt_tokens"] == 4


def test_base64_relayed(egw, ekey):
    r = embed(egw, ekey, {"model": "embed", "input": "same text", "encoding_format": "base64"})
    f = embed(egw, ekey, {"model": "embed", "input": "same text"})
    assert r.status == 200 and f.status == 200, (r, f)
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    got = struct.unpack("<8f", raw)
    want = f.json()["data"][0]["embedding"]
    assert all(abs(a - b) < 1e-6 for a, b in zip(got, want)), (got, want)


def test_usage_row_and_cost(egw, ekey):
    r = embed(egw, ekey, {"model": "embed", "input": ["four words right here", "and two"]})
    assert r.status == 200, r
    row = egw.usage_row(r.headers["x-request-id"])
    assert row["endpoint"] == "/v1/embeddings", row
    assert row["model"] == "embed" and row["provider"] == "mock", row
    assert row["upstream_model"] == "text-embedding-3-small", row
    assert row["status"] == 200 and row["stream"] == 0 and row["error"] is None, row
    assert row["prompt_tokens"] == 6 and row["completion_tokens"] == 0, row
    assert abs(row["cost_usd"] - 6 * TOKEN_PRICE) < 1e-12, row


def test_bare_path(egw, ekey):
    r = embed(egw, ekey, {"model": "embed", "input": "no v1 prefix"}, path="/embeddings")
    assert r.status == 200, r
    assert r.json()["usage"]["prompt_tokens"] == 3
    row = egw.usage_row(r.headers["x-request-id"])
    assert row["prompt_tokens"] == 3 and abs(row["cost_usd"] - 3 * TOKEN_PRICE) < 1e-12


def test_usage_counted_when_upstream_reports_none(egw, ekey):
    # `gpt-4o-mini` goes to the mock's mock-upstream-model, which has no
    # OpenAI encoding: the gateway's count is ceil(bytes / 4) per string
    text = "no usage here [[mock:no_usage]]"
    r = embed(egw, ekey, {"model": "gpt-4o-mini", "input": [text, "abcde"]})
    assert r.status == 200, r
    assert "usage" not in r.json()
    row = egw.usage_row(r.headers["x-request-id"])
    want = (len(text) + 3) // 4 + 2
    assert row["prompt_tokens"] == want, row
    assert abs(row["cost_usd"] - want * 1.0 / 1e6) < 1e-12, row


def test_metrics_count_embeddings(egw, ekey):
    def prompt_tokens():
        text = egw.request("GET", "/metrics").body.decode()
        line = [x for x in text.splitlines() if x.startswith('gw_tokens_total{type="prompt"}')]
        return int(line[0].split()[-1])
    before = prompt_tokens()
    r = embed(egw, ekey, {"model": "embed", "input": "one two three four five six seven"})
    assert r.status == 200, r
    egw.usage_row(r.headers["x-request-id"])  # the request has ended
    assert prompt_tokens() == before + 7


# --------------------------------------------------------------------------
# the built-in echo provider


def test_echo_embeddings(egw, ekey):
    r = embed(egw, ekey, {"model": "echo", "input": "hello world"})
    assert r.status == 200, r
    assert r.headers.get("x-gw-provider") == "echo"
    doc = r.json()
    assert doc["object"] == "list" and doc["model"] == "echo", doc
    vec = doc["data"][0]["embedding"]
    assert len(vec) == 8 and unit_length(vec), vec
    assert all(round(x, 6) == x for x in vec)
    # echo counts with the tokenizer: no OpenAI encoding, so ceil(11 / 4)
    assert doc["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    again = embed(egw, ekey, {"model": "echo", "input": ["x", "hello world", "abcdefghi"]}).json()
    assert again["data"][1]["embedding"] == vec, "deterministic"
    assert again["data"][0]["embedding"] != vec
    assert again["usage"]["prompt_tokens"] == 1 + 3 + 3
    row = egw.usage_row(r.headers["x-request-id"])
    assert row["endpoint"] == "/v1/embeddings" and row["provider"] == "echo", row
    assert row["prompt_tokens"] == 3 and row["completion_tokens"] == 0, row


def test_echo_base64_and_dimensions(egw, ekey):
    f = embed(egw, ekey, {"model": "echo", "input": ["abc", "def"], "dimensions": 16}).json()
    b = embed(egw, ekey, {"model": "echo", "input": ["abc", "def"], "dimensions": 16,
                          "encoding_format": "base64"}).json()
    for fi, bi in zip(f["data"], b["data"]):
        assert len(fi["embedding"]) == 16 and unit_length(fi["embedding"])
        got = struct.unpack("<16f", base64.b64decode(bi["embedding"]))
        assert all(abs(x - y) < 1e-6 for x, y in zip(got, fi["embedding"]))
    r = embed(egw, ekey, {"model": "echo", "input": "x", "dimensions": 5000})
    assert_openai_error(r, 400, code="invalid_value", param="dimensions")


def test_echo_token_arrays(egw, ekey):
    r = embed(egw, ekey, {"model": "echo", "input": [5, 6, 7]})
    assert r.status == 200, r
    one = r.json()
    assert len(one["data"]) == 1 and one["usage"]["prompt_tokens"] == 3
    many = embed(egw, ekey, {"model": "echo", "input": [[5, 6, 7], [8]]}).json()
    assert many["data"][0]["embedding"] == one["data"][0]["embedding"]
    assert many["usage"]["prompt_tokens"] == 4


# --------------------------------------------------------------------------
# refusals


@pytest.mark.parametrize("body,status,code,param", [
    ({"input": "x"}, 400, "missing_required_parameter", "model"),
    ({"model": "embed"}, 400, "missing_required_parameter", "input"),
    ({"model": 5, "input": "x"}, 400, "invalid_type", "model"),
    ({"model": "", "input": "x"}, 400, "invalid_type", "model"),
    ({"model": "embed", "input": 5}, 400, "invalid_type", "input"),
    ({"model": "embed", "input": {"text": "x"}}, 400, "invalid_type", "input"),
    ({"model": "embed", "input": None}, 400, "invalid_type", "input"),
    ({"model": "embed", "input": []}, 400, "invalid_value", "input"),
    ({"model": "embed", "input": ""}, 400, "invalid_value", "input"),
    ({"model": "embed", "input": ["a", ""]}, 400, "invalid_value", "input[1]"),
    ({"model": "embed", "input": ["a", 1]}, 400, "invalid_type", "input[1]"),
    ({"model": "embed", "input": [[1, 2], "x"]}, 400, "invalid_type", "input[1]"),
    ({"model": "embed", "input": ["a", [1]]}, 400, "invalid_type", "input[1]"),
    ({"model": "embed", "input": [True]}, 400, "invalid_type", "input[0]"),
    ({"model": "embed", "input": [[]]}, 400, "invalid_value", "input[0]"),
    ({"model": "embed", "input": [[1, -1]]}, 400, "invalid_type", "input[0][1]"),
    ({"model": "embed", "input": [1, 2.5]}, 400, "invalid_type", "input[1]"),
    ({"model": "embed", "input": [1, "a"]}, 400, "invalid_type", "input[1]"),
    ({"model": "embed", "input": ["x"] * 2049}, 400, "invalid_value", "input"),
    ({"model": "embed", "input": "x", "encoding_format": "int8"}, 400, "invalid_value",
     "encoding_format"),
    ({"model": "embed", "input": "x", "encoding_format": 1}, 400, "invalid_type",
     "encoding_format"),
    ({"model": "embed", "input": "x", "dimensions": 0}, 400, "invalid_value", "dimensions"),
    ({"model": "embed", "input": "x", "dimensions": 1.5}, 400, "invalid_value", "dimensions"),
    ({"model": "embed", "input": "x", "dimensions": "8"}, 400, "invalid_type", "dimensions"),
    ({"model": "embed", "input": "x", "user": 7}, 400, "invalid_type", "user"),
    ({"model": "no-such-model", "input": "x"}, 404, "model_not_found", "model"),
], ids=lambda v: json.dumps(v)[:40] if isinstance(v, dict) else str(v))
def test_bad_requests(egw, ekey, mock, body, status, code, param):
    before = mock.stats()["requests"]
    r = embed(egw, ekey, body)
    err = assert_openai_error(r, status, code=code, param=param)
    assert err["type"] == "invalid_request_error", err
    assert_gw_headers(r)
    assert mock.stats()["requests"] == before, "a refused request must not reach the upstream"


@pytest.mark.parametrize("raw", [b"", b"{not json", b'["model"]', b'{"model":"embed","input":"x"} x'])
def test_bad_json(egw, ekey, raw):
    r = egw.request("POST", "/v1/embeddings", body=raw, key=ekey,
                    headers={"Content-Type": "application/json"})
    err = assert_openai_error(r, 400)
    assert err["code"] in ("invalid_json", "invalid_type"), err


def test_bad_key(egw, mock):
    before = mock.stats()["requests"]
    r = embed(egw, "sk-gw-not-a-real-key", {"model": "embed", "input": "x"})
    assert_openai_error(r, 401, code="invalid_api_key")
    r = embed(egw, None, {"model": "embed", "input": "x"})
    assert_openai_error(r, 401, code="invalid_api_key")
    assert mock.stats()["requests"] == before


def test_wrong_method(egw, ekey):
    r = egw.request("GET", "/v1/embeddings", key=ekey)
    assert_openai_error(r, 405, code="method_not_allowed")


# --------------------------------------------------------------------------
# upstream faults: as chat's non-streamed path answers them


@pytest.mark.parametrize("status", [400, 429, 500, 503])
def test_upstream_status_passed_on(egw, ekey, status):
    r = embed(egw, ekey, {"model": "embed",
                          "input": ["ok", "[[mock:status=%d,retry_after=3]] fail" % status]})
    err = assert_openai_error(r, status)
    assert err["code"] == "mock_%d" % status and err["message"] == "mock error %d" % status
    assert r.headers.get("retry-after") == "3"
    assert r.headers.get("x-gw-provider") == "mock"
    row = egw.usage_row(r.headers["x-request-id"])
    assert row["status"] == status and row["error"] == "upstream_http_%d" % status, row
    assert row["prompt_tokens"] == 0 and row["cost_usd"] == 0, row


def test_upstream_garbage(egw, ekey):
    r = embed(egw, ekey, {"model": "embed", "input": "[[mock:garbage]] x"})
    assert_openai_error(r, 502, code="upstream_bad_response")


def test_upstream_refused(egw, ekey):
    r = embed(egw, ekey, {"model": "dead-model", "input": "anyone there"})
    assert_openai_error(r, 502, code="upstream_unreachable")
    row = egw.usage_row(r.headers["x-request-id"])
    assert row["status"] == 502 and row["endpoint"] == "/v1/embeddings", row


def test_upstream_timeout(egw, ekey):
    t0 = time.monotonic()
    r = embed(egw, ekey, {"model": "slow-model", "input": "[[mock:hang]] wait"})
    assert_openai_error(r, 504, code="upstream_timeout")
    assert time.monotonic() - t0 < 5 * SLOW


def test_many_inputs(egw, ekey):
    r = embed(egw, ekey, {"model": "embed", "input": ["w"] * 2048})
    assert r.status == 200, r
    assert len(r.json()["data"]) == 2048 and r.json()["usage"]["prompt_tokens"] == 2048


# --------------------------------------------------------------------------
# governance: the same stages as chat


def test_rate_limit_applies(egw):
    k = egw.create_key("emb-rpm", "--rpm", "2")["key"]
    rs = [embed(egw, k, {"model": "embed", "input": "x"}) for _ in range(3)]
    assert [r.status for r in rs] == [200, 200, 429], rs
    assert rs[0].headers["x-ratelimit-limit-requests"] == "2"
    assert rs[1].headers["x-ratelimit-remaining-requests"] == "0"
    err = assert_openai_error(rs[2], 429, code="rate_limit_exceeded")
    assert "key 'emb-rpm'" in err["message"] and int(rs[2].headers["retry-after"]) > 0


def test_tokens_per_minute_count_the_input_alone(egw):
    # a chat request reserves its prompt + rate_limiting.default_max_tokens
    # (1024) and cannot fit in 30 tokens a minute; an embedding reserves its
    # input only (8 tokens here), and is settled at what the mock reports
    k = egw.create_key("emb-tpm", "--tpm", "30")["key"]
    assert egw.chat(k, "hi", model="echo").status == 429
    r = embed(egw, k, {"model": "embed", "input": "one two three four five six seven eight"})
    assert r.status == 200, r
    assert r.headers["x-ratelimit-limit-tokens"] == "30"
    assert int(r.headers["x-ratelimit-remaining-tokens"]) == 30 - 8
    big = embed(egw, k, {"model": "embed", "input": " ".join(["word"] * 31)})
    err = assert_openai_error(big, 429, code="rate_limit_exceeded")
    assert err["type"] == "tokens" and "tpm: 30" in err["message"], err


def test_budget_applies_no_side_door(egw, mock):
    # $0.0001 = 100,000 nano-USD: "hello world" reserves 2 tokens (exact,
    # cl100k_base) = 20,000 and costs 2 mock words = 20,000, so five fit
    k = egw.create_key("emb-budget", "--budget", "0.0001")
    statuses = [embed(egw, k["key"], {"model": "embed", "input": "hello world"}).status
                for _ in range(6)]
    assert statuses == [200] * 5 + [429], statuses
    r = embed(egw, k["key"], {"model": "embed", "input": "hello world"})
    err = assert_openai_error(r, 429, code="budget_exceeded")
    assert err["type"] == "insufficient_quota" and "key 'emb-budget'" in err["message"], err
    # the embeddings spend counts against the same budget as chat
    assert_openai_error(egw.chat(k["key"], "hi", model="gpt-4o-mini"), 429,
                        code="budget_exceeded")
    rows = egw.usage_report("key")["rows"]
    row = [x for x in rows if x["key_id"] == k["id"]][0]
    assert abs(row["cost_usd"] - 5 * 2 * TOKEN_PRICE) < 1e-12, row


def test_budget_refuses_an_input_larger_than_it(egw, mock):
    # $0.00005 holds 5 tokens: an input of 6 is refused before the upstream
    k = egw.create_key("emb-small-budget", "--budget", "0.00005")["key"]
    m = marker()
    r = embed(egw, k, {"model": "embed", "input": ["one two three four five", m]})
    assert_openai_error(r, 429, code="budget_exceeded")
    assert not mock.find(m)
    assert embed(egw, k, {"model": "embed", "input": "one two"}).status == 200


def test_content_policy_blocked_phrase(egw, ekey, mock):
    m = marker()
    r = embed(egw, ekey, {"model": "embed", "input": [m, "the LAUNCH codes are here"]})
    err = assert_openai_error(r, 400, code="content_policy_violation", param="input")
    assert "input[1]" in err["message"] and "launch" not in err["message"].lower(), err
    r = embed(egw, ekey, {"model": "embed", "input": "launch codes " + m})
    assert_openai_error(r, 400, code="content_policy_violation", param="input")
    assert not mock.find(m), "a refused request must not reach the upstream"
    row = egw.usage_row(r.headers["x-request-id"])
    assert row["status"] == 400 and row["error"] == "content_policy_violation", row


def test_content_policy_sees_through_token_arrays(egw, ekey):
    # cl100k_base ids of "the launch codes are here" (js-tiktoken)
    ids = [1820, 7195, 14236, 527, 1618]
    r = embed(egw, ekey, {"model": "embed", "input": [[1820, 1618], ids]})
    err = assert_openai_error(r, 400, code="content_policy_violation", param="input")
    assert "input[1]" in err["message"], err
    r = embed(egw, ekey, {"model": "embed", "input": ids})
    assert_openai_error(r, 400, code="content_policy_violation", param="input")
    assert embed(egw, ekey, {"model": "embed", "input": ids[:2]}).status == 200


def test_max_input_tokens(egw, ekey, mock):
    m = marker()
    r = embed(egw, ekey, {"model": "embed", "input": [m, " ".join(["word"] * 4096)]})
    err = assert_openai_error(r, 400, code="context_length_exceeded", param="input")
    assert "at most 4096" in err["message"], err
    assert not mock.find(m)
    r = embed(egw, ekey, {"model": "embed", "input": [list(range(3000)), list(range(1097))]})
    assert_openai_error(r, 400, code="context_length_exceeded", param="input")
    r = embed(egw, ekey, {"model": "embed", "input": [list(range(3000)), list(range(1096))]})
    assert r.status == 200, r
