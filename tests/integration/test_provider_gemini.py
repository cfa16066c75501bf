"""The gemini provider type (the Gemini API's generateContent,
streamGenerateContent?alt=sse and batchEmbedContents), through a gateway of
its own whose gemini provider points at the mock: the data-driven
translation cases of provider_cases/gemini/ in both directions, through
both front doors, streamed and not; the provider's key in x-goog-api-key
and the caller's key never upstream; usage rows with cached tokens and
their price; finish reasons; upstream errors re-shaped into the caller's
format (Retry-After kept); broken and undecodable streams ending in an
error event; every parameter the Gemini API cannot take refused with a 400
that names it, before anything goes upstream; embeddings as floats and
base64, with dimensions, several inputs and token arrays, and their usage
rows."""

import base64
import json
import math
import re
import struct
from pathlib import Path

import pytest

from conftest import (PROVIDER_KEY, Gateway, assert_gw_headers, assert_openai_error,
                      chat_stream_parts, http_request, marker, mock_provider, parse_events,
                      post_chat, post_chat_stream, post_messages, post_messages_stream, serve,
                      words)

CASES = Path(__file__).resolve().parent / "provider_cases" / "gemini"

GEMINI_MODELS = """\
  - name: gemini-chat
    deployments: [ { provider: gem, model: gemini-2.5-flash } ]
    pricing: { input_per_mtok: 1.0, output_per_mtok: 2.0, cached_input_per_mtok: 0.5 }
  - name: gemini-slow
    deployments: [ { provider: gem, model: gemini-slow } ]
    timeouts: { first_byte_ms: 800, idle_ms: 800 }
  - name: gemini-embed
    deployments: [ { provider: gem, model: gemini-embedding-001 } ]
    pricing: { input_per_mtok: 0.15, output_per_mtok: 0 }
  - name: gemini-tokens
    deployments: [ { provider: gem, model: text-embedding-3-small } ]
"""


@pytest.fixture(scope="module")
def ggw(mock, dead_port, tmp_path_factory):
    """A gateway with a gemini provider `gem` pointed at the mock."""
    yield from serve(Gateway(tmp_path_factory.mktemp("gemini"), mock.port, dead_port,
                             extra_models=GEMINI_MODELS, name="gemini",
                             extra_providers=mock_provider(mock.port, "gem", "gemini")))


@pytest.fixture(scope="module")
def gkey(ggw):
    return ggw.create_key("gemini-tests")["key"]


# ---------------------------------------------------------------------------
# helpers


def assemble_chat(chunks):
    """A streamed chat answer as one chat.completion-shaped object."""
    text, calls, finishes, usage = chat_stream_parts(chunks)
    msg = {"role": "assistant", "content": text or ""}
    if calls:
        msg["tool_calls"] = [{"id": t["id"], "type": "function",
                              "function": {"name": t["name"] or "", "arguments": t["arguments"]}}
                             for t in calls]
    out = {"choices": [{"index": 0, "message": msg,
                        "finish_reason": finishes[-1] if finishes else None}]}
    if usage is not None:
        out["usage"] = usage
    return out


def assemble_messages(events):
    """A streamed /v1/messages answer as one message object."""
    msg, blocks = None, []
    for name, d in events:
        if name == "message_start":
            msg = dict(d["message"])
        elif name == "content_block_start":
            b = dict(d["content_block"])
            if b["type"] == "tool_use":
                b["_json"] = ""
            blocks.append(b)
        elif name == "content_block_delta":
            b, delta = blocks[d["index"]], d["delta"]
            if delta["type"] == "text_delta":
                b["text"] += delta["text"]
            else:
                b["_json"] += delta["partial_json"]
        elif name == "message_delta":
            msg["stop_reason"] = d["delta"]["stop_reason"]
            msg["usage"] = dict(msg["usage"], **d["usage"])
    for b in blocks:
        if "_json" in b:
            b["input"] = json.loads(b.pop("_json") or "{}")
    msg["content"] = blocks
    return msg


def matches(want, got, where="answer"):
    """Asserts that got has everything want lists (see the cases' README)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), "%s: expected an object, got %r" % (where, got)
        for k, v in want.items():
            assert k in got, "%s: no %r in %r" % (where, k, got)
            matches(v, got[k], "%s.%s" % (where, k))
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), \
            "%s: expected %d items, got %r" % (where, len(want), got)
        for i, (w, g) in enumerate(zip(want, got)):
            matches(w, g, "%s[%d]" % (where, i))
    elif isinstance(want, str) and want.startswith("re:"):
        assert isinstance(got, str) and re.fullmatch(want[3:], got), \
            "%s: %r does not match %r" % (where, got, want[3:])
    else:
        assert got == want, "%s: expected %r, got %r" % (where, want, got)


def sent_to_mock(mock, m, path=None):
    rec = [q for q in mock.find(m) if q["headers"].get("x-goog-api-key") != "direct"]
    assert len(rec) == 1, rec
    if path:
        assert rec[0]["path"] == path, rec[0]["path"]
    return rec[0], json.loads(rec[0]["body"])


# ---------------------------------------------------------------------------
# the data-driven cases


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.glob("*.json")))
def test_case(ggw, gkey, mock, case):
    m = marker()
    doc = json.loads((CASES / case).read_text().replace("{marker}", m))
    req, door = doc["request"], doc.get("door", "chat")
    if door == "chat" and req.get("stream"):
        s = post_chat_stream(ggw, gkey, req)
        assert s.status == 200, s.events
        chunks, done, errors, garbage = parse_events(s.events)
        assert done and not errors and not garbage, s.events
        got = assemble_chat(chunks)
    elif door == "chat":
        r = post_chat(ggw, gkey, req)
        assert r.status == 200, r
        got = r.json()
    elif req.get("stream"):
        s = post_messages_stream(ggw, gkey, req)
        assert s.status == 200, s.raw[:500]
        assert s.names()[-1] == "message_stop", s.names()
        got = assemble_messages(s.events)
    else:
        r = post_messages(ggw, gkey, req)
        assert r.status == 200, r
        got = r.json()
    rec, sent = sent_to_mock(mock, m, doc.get("upstream_path"))
    assert sent == doc["upstream"], "%s: the mock got\n%s\nexpected\n%s" % (
        case, json.dumps(sent, indent=1), json.dumps(doc["upstream"], indent=1))
    if "answer" in doc:
        matches(doc["answer"], got)


# ---------------------------------------------------------------------------
# transport: URL, headers, keys


def test_headers_and_key(ggw, gkey, mock):
    m = marker()
    r = post_chat(ggw, gkey, {"model": "gemini-chat", "messages": [{"role": "user", "content": m}]})
    assert r.status == 200, r
    assert r.headers.get("x-gw-provider") == "gem"
    assert_gw_headers(r)
    rec, _ = sent_to_mock(mock, m, "/v1beta/models/gemini-2.5-flash:generateContent")
    h = rec["headers"]
    assert h.get("x-goog-api-key") == PROVIDER_KEY, h
    assert "authorization" not in h and "x-api-key" not in h, h
    assert gkey not in json.dumps(rec), "the gateway key went upstream"
    assert h.get("content-type") == "application/json", h


def test_stream_asks_for_sse(ggw, gkey, mock):
    m = marker()
    s = post_chat_stream(ggw, gkey, {"model": "gemini-chat", "stream": True,
                                     "messages": [{"role": "user", "content": "one two " + m}]})
    assert s.status == 200
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors, s.events
    # one content delta per Gemini chunk, as the provider cut them
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks
              if c.get("choices") and c["choices"][0]["delta"].get("content")]
    assert "".join(pieces) == "echo: one two " + m, pieces
    assert len(pieces) == 4, pieces
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop", chunks[-1]
    assert all(c["model"] == "gemini-chat" and c["object"] == "chat.completion.chunk"
               for c in chunks)
    rec, _ = sent_to_mock(mock, m,
                          "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert rec["headers"].get("accept") == "text/event-stream"


# ---------------------------------------------------------------------------
# usage


def test_usage_row_with_cached_tokens(ggw, gkey):
    text = "count these five words [[mock:cached=2]]"
    r = post_chat(ggw, gkey, {"model": "gemini-chat",
                              "messages": [{"role": "user", "content": text}]})
    assert r.status == 200, r
    u = r.json()["usage"]
    prompt, out = words(text), words("echo: count these five words")
    assert u == {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out,
                 "prompt_tokens_details": {"cached_tokens": 2}}, u
    row = ggw.usage_row(r.headers["x-request-id"])
    assert row["endpoint"] == "/v1/chat/completions" and row["provider"] == "gem", row
    assert row["model"] == "gemini-chat" and row["upstream_model"] == "gemini-2.5-flash", row
    assert row["prompt_tokens"] == prompt and row["cached_tokens"] == 2, row
    assert row["completion_tokens"] == out and row["stream"] == 0, row
    assert row["cost_usd"] == pytest.approx(((prompt - 2) * 1.0 + 2 * 0.5 + out * 2.0) / 1e6)
    assert not row["error"], row


def test_usage_row_streamed_messages(ggw, gkey):
    text = "stream and count [[mock:cached=1]]"
    s = post_messages_stream(ggw, gkey, {"model": "gemini-chat", "max_tokens": 50,
                                         "stream": True,
                                         "messages": [{"role": "user", "content": text}]})
    assert s.status == 200, s.raw
    msg = assemble_messages(s.events)
    prompt, out = words(text), words("echo: stream and count")
    assert msg["usage"]["output_tokens"] == out, msg
    assert msg["usage"]["cache_read_input_tokens"] == 1, msg
    assert msg["usage"]["input_tokens"] == prompt - 1, msg
    row = ggw.usage_row(s.headers["x-request-id"])
    assert row["endpoint"] == "/v1/messages" and row["stream"] == 1, row
    assert row["prompt_tokens"] == prompt and row["cached_tokens"] == 1, row
    assert row["completion_tokens"] == out, row


def test_stream_usage_chunk_only_when_asked(ggw, gkey):
    body = {"model": "gemini-chat", "stream": True,
            "messages": [{"role": "user", "content": "no usage please"}]}
    chunks, done, _, _ = parse_events(post_chat_stream(ggw, gkey, body).events)
    assert done and not any(c.get("usage") for c in chunks), chunks
    body["stream_options"] = {"include_usage": True}
    chunks, done, _, _ = parse_events(post_chat_stream(ggw, gkey, body).events)
    assert done and chunks[-1]["choices"] == [], chunks[-1]
    assert chunks[-1]["usage"]["prompt_tokens"] == 3, chunks[-1]
    assert chunks[-1]["usage"]["completion_tokens"] == 4, chunks[-1]


# ---------------------------------------------------------------------------
# finish reasons


@pytest.mark.parametrize("stream", [False, True])
def test_finish_max_tokens(ggw, gkey, stream):
    body = {"model": "gemini-chat", "messages": [{"role": "user", "content": "long [[mock:stop=max]]"}]}
    if stream:
        body["stream"] = True
        chunks, done, errors, _ = parse_events(post_chat_stream(ggw, gkey, body).events)
        assert done and not errors
        assert assemble_chat(chunks)["choices"][0]["finish_reason"] == "length", chunks
    else:
        r = post_chat(ggw, gkey, body)
        assert r.status == 200 and r.json()["choices"][0]["finish_reason"] == "length", r
    body = dict(body, max_tokens=16)
    body.pop("stream", None)
    r = post_messages(ggw, gkey, body)
    assert r.status == 200 and r.json()["stop_reason"] == "max_tokens", r
    s = post_messages_stream(ggw, gkey, dict(body, stream=True))
    assert assemble_messages(s.events)["stop_reason"] == "max_tokens", s.events


def test_tool_call_stream_through_messages(ggw, gkey):
    """A whole functionCall chunk becomes one tool_use block after the text."""
    body = {"model": "gemini-chat", "max_tokens": 50, "stream": True,
            "tools": [{"name": "find", "input_schema": {"type": "object"}}],
            "messages": [{"role": "user", "content": "go [[mock:tool=find]]"}]}
    s = post_messages_stream(ggw, gkey, body)
    assert s.status == 200, s.raw
    names = s.names()
    assert names[0] == "message_start" and names[-1] == "message_stop", names
    msg = assemble_messages(s.events)
    assert msg["stop_reason"] == "tool_use", msg
    assert [b["type"] for b in msg["content"]] == ["text", "tool_use"], msg
    assert msg["content"][0]["text"] == "Calling find."
    tool = msg["content"][1]
    assert tool["name"] == "find" and tool["input"] == {"text": "echo: go"}, tool
    assert tool["id"].startswith("toolu_"), tool


# ---------------------------------------------------------------------------
# upstream errors, in the caller's format


@pytest.mark.parametrize("status,etype", [
    (400, "invalid_request_error"), (404, "invalid_request_error"), (500, "upstream_error"),
    (503, "upstream_error")])
def test_upstream_status_chat(ggw, gkey, status, etype):
    r = post_chat(ggw, gkey, {"model": "gemini-chat", "messages": [
        {"role": "user", "content": "[[mock:status=%d]]" % status}]})
    err = assert_openai_error(r, status, code="upstream_http_%d" % status)
    assert err["type"] == etype and err["message"] == "mock error %d" % status, err
    row = ggw.usage_row(r.headers["x-request-id"])
    assert row["status"] == status and row["error"], row


@pytest.mark.parametrize("status", [401, 403])
def test_upstream_refuses_provider_key(ggw, gkey, status):
    """The provider refusing the gateway's credential is not the caller's
    401: a 502 that says so, with the provider's message."""
    r = post_chat(ggw, gkey, {"model": "gemini-chat", "messages": [
        {"role": "user", "content": "[[mock:status=%d]]" % status}]})
    err = assert_openai_error(r, 502, code="upstream_auth_failed")
    assert "mock error %d" % status in err["message"], err


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_429_keeps_retry_after(ggw, gkey, stream):
    body = {"model": "gemini-chat", "stream": stream,
            "messages": [{"role": "user", "content": "[[mock:status=429,retry_after=7]]"}]}
    r = post_chat(ggw, gkey, body)
    err = assert_openai_error(r, 429, code="upstream_http_429")
    assert err["type"] == "rate_limit_error" and err["message"] == "mock error 429", err
    assert r.headers.get("retry-after") == "7", r.headers
    r = post_messages(ggw, gkey, dict(body, max_tokens=10))
    assert r.status == 429 and r.headers.get("retry-after") == "7", r
    doc = r.json()
    assert doc["type"] == "error" and doc["error"]["type"] == "rate_limit_error", doc
    assert doc["error"]["message"] == "mock error 429", doc


def test_upstream_error_messages_door(ggw, gkey):
    r = post_messages(ggw, gkey, {"model": "gemini-chat", "max_tokens": 10,
                                  "messages": [{"role": "user", "content": "[[mock:status=500]]"}]})
    assert r.status == 500, r
    doc = r.json()
    assert doc["type"] == "error" and doc["error"]["type"] == "api_error", doc
    assert doc["error"]["message"] == "mock error 500", doc


def test_garbage_is_502(ggw, gkey):
    r = post_chat(ggw, gkey, {"model": "gemini-chat",
                              "messages": [{"role": "user", "content": "[[mock:garbage]]"}]})
    assert_openai_error(r, 502, code="upstream_bad_response")


def test_hang_is_504(ggw, gkey):
    r = post_chat(ggw, gkey, {"model": "gemini-slow",
                              "messages": [{"role": "user", "content": "[[mock:hang]]"}]})
    assert_openai_error(r, 504, code="upstream_timeout")


@pytest.mark.parametrize("directive", ["drop_after=2", "sse_garbage"])
def test_broken_stream_chat(ggw, gkey, directive):
    s = post_chat_stream(ggw, gkey, {"model": "gemini-chat", "stream": True, "messages": [
        {"role": "user", "content": "a b c d e [[mock:%s]]" % directive}]})
    assert s.status == 200
    chunks, done, errors, garbage = parse_events(s.events)
    assert not done and not garbage, s.events
    assert len(errors) == 1 and json.loads(s.events[-1][1]) == errors[0], s.events
    assert errors[0]["error"]["code"] == "upstream_stream_error", errors
    assert not any(c["choices"] and c["choices"][0].get("finish_reason") for c in chunks)
    row = ggw.usage_row(s.headers["x-request-id"])
    assert row["error"], row


def test_broken_stream_messages(ggw, gkey):
    s = post_messages_stream(ggw, gkey, {
        "model": "gemini-chat", "max_tokens": 20, "stream": True,
        "messages": [{"role": "user", "content": "a b c [[mock:drop_after=1]]"}]})
    assert s.status == 200
    names = s.names()
    assert names[0] == "message_start" and names[-1] == "error", names
    assert "message_stop" not in names, names
    assert s.events[-1][1]["type"] == "error", s.events[-1]


# ---------------------------------------------------------------------------
# refused parameters: a 400 naming each, nothing sent upstream

REFUSED_CHAT = [
    ({"n": 2}, "n"),
    ({"n": 1.5}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"top_logprobs": 2}, "top_logprobs"),
    ({"logit_bias": {"50256": -100}}, "logit_bias"),
    ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}], "parallel_tool_calls": False},
     "parallel_tool_calls"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}],
      "tool_choice": {"type": "allowed_tools"}}, "tool_choice"),
    ({"response_format": {"type": "grammar"}}, "response_format.type"),
    ({"reasoning_effort": "low"}, "reasoning_effort"),
    ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
    ({"web_search_options": {}}, "web_search_options"),
    ({"functions": [{"name": "f"}]}, "functions"),
    ({"store": True}, "store"),
    ({"service_tier": "flex"}, "service_tier"),
    ({"stop": 5}, "stop"),
    ({"top_k": 2.5}, "top_k"),
    ({"messages": [{"role": "user", "content": "x", "name": "bob"}]}, "messages[0].name"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}]}]},
     "messages[0].content[0].image_url.url"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png,abc"}}]}]},
     "messages[0].content[0].image_url.url"),
    ({"messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_id": "file-1"}}]}]}, "messages[0].content[0].file.file_id"),
    ({"messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AA==", "format": "flac"}}]}]},
     "messages[0].content[0].input_audio.format"),
    ({"messages": [{"role": "system", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]},
        {"role": "user", "content": "x"}]}, "messages[0].content[0].type"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]},
     "messages[1].tool_calls[0].function.arguments"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{bad"}}]}]},
     "messages[1].tool_calls[0].function.arguments"),
    ({"messages": [{"role": "user", "content": "x"},
                   {"role": "tool", "tool_call_id": "nope", "content": "r"}]},
     "messages[1].tool_call_id"),
    ({"messages": [{"role": "system", "content": "x"}]}, "messages"),
]


@pytest.mark.parametrize("extra,param", REFUSED_CHAT, ids=[p for _, p in REFUSED_CHAT])
def test_refused_chat(ggw, gkey, mock, extra, param):
    m = marker()
    body = {"model": "gemini-chat", "messages": [{"role": "user", "content": "refuse " + m}]}
    body.update(json.loads(json.dumps(extra).replace("\"x\"", json.dumps(m))))
    r = post_chat(ggw, gkey, body)
    err = assert_openai_error(r, 400, param=param)
    assert err["type"] == "invalid_request_error", err
    assert param in err["message"], err
    assert not mock.find(m), "a refused request reached the provider"


def test_refused_role_function(ggw, gkey):
    r = post_chat(ggw, gkey, {"model": "gemini-chat",
                              "messages": [{"role": "function", "content": "r"}]})
    assert_openai_error(r, 400, param="messages[0].role")


def test_refused_messages_door(ggw, gkey, mock):
    """disable_parallel_tool_use has no Gemini equivalent: Anthropic's 400."""
    m = marker()
    r = post_messages(ggw, gkey, {
        "model": "gemini-chat", "max_tokens": 10,
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "messages": [{"role": "user", "content": m}]})
    assert r.status == 400, r
    doc = r.json()
    assert doc["type"] == "error" and doc["error"]["type"] == "invalid_request_error", doc
    assert "parallel_tool_calls" in doc["error"]["message"], doc
    assert not mock.find(m)


# ---------------------------------------------------------------------------
# embeddings


def embed(gw, key, body):
    return gw.request("POST", "/v1/embeddings", body=body, key=key)


def mock_vectors(mock, texts, dims=None):
    """What the mock's batchEmbedContents gives for texts, asked directly."""
    reqs = [{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]}}
            for t in texts]
    if dims:
        for q in reqs:
            q["outputDimensionality"] = dims
    r = http_request(mock.port, "POST",
                     "/v1beta/models/gemini-embedding-001:batchEmbedContents",
                     body={"requests": reqs}, headers={"x-goog-api-key": "direct"})
    assert r.status == 200, r
    return [e["values"] for e in r.json()["embeddings"]]


def test_embeddings_float(ggw, gkey, mock):
    m = marker()
    texts = ["first " + m, "second text " + m, "first " + m]
    r = embed(ggw, gkey, {"model": "gemini-embed", "input": texts, "user": "u1"})
    assert r.status == 200, r
    doc = r.json()
    assert doc["object"] == "list" and doc["model"] == "gemini-embed", doc
    assert [d["index"] for d in doc["data"]] == [0, 1, 2]
    assert all(d["object"] == "embedding" for d in doc["data"])
    vecs = [d["embedding"] for d in doc["data"]]
    assert vecs == mock_vectors(mock, texts), "the values changed on the way"
    assert vecs[0] == vecs[2] and vecs[0] != vecs[1]
    assert all(len(v) == 8 and abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-3 for v in vecs)
    # the Gemini API counts nothing: the gateway's own count, the same
    # documented estimate echo's model gets for the same input
    same = embed(ggw, gkey, {"model": "echo", "input": texts}).json()["usage"]
    assert doc["usage"] == same and same["prompt_tokens"] > 0, (doc["usage"], same)
    rec, sent = sent_to_mock(mock, "second text " + m,
                             "/v1beta/models/gemini-embedding-001:batchEmbedContents")
    assert sent == {"requests": [{"model": "models/gemini-embedding-001",
                                  "content": {"parts": [{"text": t}]}} for t in texts]}, sent
    assert rec["headers"].get("x-goog-api-key") == PROVIDER_KEY
    assert gkey not in json.dumps(rec)
    row = ggw.usage_row(r.headers["x-request-id"])
    assert row["endpoint"] == "/v1/embeddings" and row["provider"] == "gem", row
    assert row["prompt_tokens"] == doc["usage"]["prompt_tokens"], row
    assert row["completion_tokens"] == 0 and row["status"] == 200, row
    assert row["cost_usd"] == pytest.approx(row["prompt_tokens"] * 0.15 / 1e6)


def test_embeddings_base64_dimensions(ggw, gkey, mock):
    m = marker()
    r = embed(ggw, gkey, {"model": "gemini-embed", "input": "just one " + m,
                          "encoding_format": "base64", "dimensions": 5})
    assert r.status == 200, r
    doc = r.json()
    assert len(doc["data"]) == 1 and doc["data"][0]["index"] == 0
    raw = base64.b64decode(doc["data"][0]["embedding"])
    got = struct.unpack("<5f", raw)
    want = mock_vectors(mock, ["just one " + m], dims=5)[0]
    assert got == pytest.approx(want, abs=1e-6), (got, want)
    _, sent = sent_to_mock(mock, "just one " + m)
    assert sent["requests"][0]["outputDimensionality"] == 5, sent


def test_embeddings_token_arrays(ggw, gkey, mock):
    # the deployment's model has cl100k_base: token arrays are decoded to text
    r = embed(ggw, gkey, {"model": "gemini-tokens", "input": [[15339, 1917], [15339]]})
    assert r.status == 200, r
    assert len(r.json()["data"]) == 2
    sent = [json.loads(q["body"]) for q in mock.requests()
            if q["path"] == "/v1beta/models/text-embedding-3-small:batchEmbedContents"][-1]
    texts = [q["content"]["parts"][0]["text"] for q in sent["requests"]]
    assert texts == ["hello world", "hello"], texts
    row = ggw.usage_row(r.headers["x-request-id"])
    assert row["prompt_tokens"] == 3, row
    # gemini-embedding-001 has no encoding the gateway knows: refused
    r = embed(ggw, gkey, {"model": "gemini-embed", "input": [1, 2, 3]})
    assert_openai_error(r, 400, param="input")
    r = embed(ggw, gkey, {"model": "gemini-embed", "input": [[1], [2]]})
    assert_openai_error(r, 400, param="input[0]")


def test_embeddings_refused(ggw, gkey, mock):
    r = embed(ggw, gkey, {"model": "gemini-embed", "input": "x", "task": "query"})
    assert_openai_error(r, 400, param="task")
    # a batchEmbedContents holds at most 100 requests
    m = marker()
    r = embed(ggw, gkey, {"model": "gemini-embed", "input": ["%s %d" % (m, i) for i in range(101)]})
    err = assert_openai_error(r, 400, param="input")
    assert "100" in err["message"], err
    assert not mock.find(m)
    r = embed(ggw, gkey, {"model": "gemini-embed", "input": ["%s %d" % (m, i) for i in range(100)]})
    assert r.status == 200 and len(r.json()["data"]) == 100, r


def test_embeddings_upstream_error(ggw, gkey):
    r = embed(ggw, gkey, {"model": "gemini-embed", "input": "x [[mock:status=503]]"})
    err = assert_openai_error(r, 503, code="upstream_http_503")
    assert err["message"] == "mock error 503", err
