"""The anthropic provider adapter (Anthropic's Messages API as an upstream),
through a gateway whose `anth` provider points at the mock's /v1/messages:

- /v1/chat/completions is translated both ways: the data-driven golden cases
  of provider_cases/anthropic/ (OpenAI body in, the exact Messages body the
  mock received, the OpenAI answer's fields out; streamed and not, with
  tools and images), tool-call arguments streamed in fragments, every
  parameter Anthropic cannot express refused with a 400 naming it;
- /v1/messages is relayed: the caller's bytes with only the model replaced,
  anthropic-version from the caller or the provider's default, anthropic-beta
  passed on, the answer passed back unchanged; Anthropic-only features
  (a PDF document block, extended thinking, thinking blocks in an assistant
  turn) relayed too, while an OpenAI-format model still refuses them;
- both: x-api-key is the provider's secret and the caller's gateway key never
  goes upstream; usage rows with prompt-cache reads and writes; upstream
  4xx/5xx/429 answers re-shaped in the caller's format with Retry-After;
  broken streams, in-stream overloaded errors, garbage and timeouts."""

import base64
import json
import time
from pathlib import Path

import pytest

from conftest import (PROVIDER_KEY, SLOW, Gateway, assert_openai_error, chat_stream_parts,
                      marker, mock_provider, parse_events, post_chat, post_chat_stream,
                      post_messages, post_messages_stream, serve, words)

CASES = Path(__file__).resolve().parent / "provider_cases" / "anthropic"

PRICING = {"input": 3.0, "output": 15.0, "cached": 0.3, "write": 3.75}

MODELS = """\
  - name: claude-mock
    deployments: [ {{ provider: anth, model: claude-upstream }} ]
    pricing: {{ input_per_mtok: {input}, output_per_mtok: {output}, cached_input_per_mtok: {cached}, cache_write_per_mtok: {write} }}
  - name: claude-slow
    deployments: [ {{ provider: anth, model: claude-upstream }} ]
    timeouts: {{ first_byte_ms: 800, idle_ms: 800 }}
""".format(**PRICING)


@pytest.fixture(scope="module")
def agw(mock, dead_port, tmp_path_factory):
    """A gateway with the anthropic provider `anth` and its models."""
    yield from serve(Gateway(tmp_path_factory.mktemp("gw-anth"), mock.port, dead_port,
                             extra_models=MODELS, name="gw-anth",
                             extra_providers=mock_provider(mock.port, "anth", "anthropic")))


@pytest.fixture(scope="module")
def akey(agw):
    return agw.create_key("anthropic-tests")["key"]


# /v1/messages without anthropic-version unless the test gives one: the
# provider's default version is under test.


def messages(agw, key, body, headers=None):
    return post_messages(agw, key, body, headers=headers, version=None)


def messages_stream(agw, key, body, headers=None):
    return post_messages_stream(agw, key, body, headers=headers, version=None)


def upstream_request(mock, m):
    rec = mock.find(m)
    assert len(rec) == 1, rec
    assert rec[0]["path"] == "/v1/messages", rec[0]
    return rec[0]


# ---------------------------------------------------------------------------
# comparing answers with the cases' expectations


def matches(want, got, path="answer"):
    """want is a subset of got: dicts by key, lists item by item, a string
    ending in '*' by prefix."""
    if isinstance(want, dict):
        assert isinstance(got, dict), "%s: expected an object, got %r" % (path, got)
        for k, v in want.items():
            assert k in got, "%s: no %r in %r" % (path, k, got)
            matches(v, got[k], path + "." + k)
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), "%s: %r != %r" % (path, got, want)
        for i, (w, g) in enumerate(zip(want, got)):
            matches(w, g, "%s[%d]" % (path, i))
    elif isinstance(want, str) and want.endswith("*"):
        assert isinstance(got, str) and got.startswith(want[:-1]), "%s: %r" % (path, got)
    else:
        assert got == want, "%s: %r != %r" % (path, got, want)


def whole_answer(doc):
    """The fields of a chat.completion the cases speak about."""
    assert doc["object"] == "chat.completion", doc
    ch = doc["choices"][0]
    msg = ch["message"]
    out = {"content": msg["content"], "finish_reason": ch["finish_reason"], "usage": doc["usage"]}
    if msg.get("tool_calls"):
        out["tool_calls"] = [{"id": t["id"], "name": t["function"]["name"],
                              "arguments": json.loads(t["function"]["arguments"])}
                             for t in msg["tool_calls"]]
    return out


def streamed_answer(chunks):
    """The same fields, reassembled from chat.completion.chunk events."""
    for c in chunks:
        assert c["object"] == "chat.completion.chunk", c
    content, calls, finishes, usage = chat_stream_parts(chunks)
    out = {"content": content, "finish_reason": finishes[-1] if finishes else None}
    if usage:
        out["usage"] = usage
    if calls:
        out["tool_calls"] = [dict(t, arguments=json.loads(t["arguments"])) for t in calls]
    return out


# ---------------------------------------------------------------------------
# the golden cases


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.glob("*.json")))
def test_golden_case(agw, akey, mock, case):
    m = marker()
    doc = json.loads((CASES / case).read_text().replace("{marker}", m))
    req = doc["request"]
    endpoint = doc.get("endpoint", "/v1/chat/completions")
    if endpoint == "/v1/messages":
        r = messages(agw, akey, req)
        assert r.status == 200, r
        got = r.json()
    elif req.get("stream"):
        s = post_chat_stream(agw, akey, req)
        assert s.status == 200, s.events
        chunks, done, errors, garbage = parse_events(s.events)
        assert done and not errors and not garbage, s.events
        got = streamed_answer(chunks)
        if not (req.get("stream_options") or {}).get("include_usage"):
            assert "usage" not in got and all("usage" not in c for c in chunks), chunks
    else:
        r = post_chat(agw, akey, req)
        assert r.status == 200, r
        got = whole_answer(r.json())
    sent = json.loads(upstream_request(mock, m)["body"])
    assert sent == doc["upstream"], "%s: upstream got\n%s\nexpected\n%s" % (
        case, json.dumps(sent, indent=1), json.dumps(doc["upstream"], indent=1))
    matches(doc["response"], got)


# ---------------------------------------------------------------------------
# relay: /v1/messages


@pytest.mark.parametrize("header", ["x-api-key", "bearer"])
def test_relay_bytes_identical_but_model(agw, akey, mock, header):
    m = marker()
    raw = ('{ "max_tokens" : 20,\n  "model":"claude-mock",  "messages":[{"role":"user",'
           '"content":[{"type":"text","text":"caf\\u00e9 \\"quoted\\" %s","cache_control":'
           '{"type":"ephemeral"}}]}],"system":[{"type":"text","text":"sys"}], "top_k": 3 ,'
           ' "temperature":0.50}\n' % m)
    auth = {"x-api-key": akey} if header == "x-api-key" else {"Authorization": "Bearer " + akey}
    r = agw.request("POST", "/v1/messages", body=raw,
                    headers=dict(auth, **{"Content-Type": "application/json",
                                          "anthropic-version": "2023-01-01",
                                          "anthropic-beta": "prompt-caching-2024-07-31"}))
    assert r.status == 200, r
    q = upstream_request(mock, m)
    assert q["body"] == raw.replace('"model":"claude-mock"', '"model":"claude-upstream"')
    h = q["headers"]
    assert h.get("x-api-key") == PROVIDER_KEY, h
    assert h.get("anthropic-version") == "2023-01-01", h
    assert h.get("anthropic-beta") == "prompt-caching-2024-07-31", h
    assert h.get("content-type") == "application/json", h
    assert "authorization" not in h, h
    assert not any(akey in v for v in h.values()), h

    # the answer is the upstream's, unchanged
    doc = r.json()
    assert doc["model"] == "claude-upstream" and doc["id"].startswith("msg_mock_"), doc
    assert doc["content"] == [{"type": "text", "text": 'echo: caf\u00e9 "quoted" ' + m}], doc


def test_relay_version_defaulted_and_no_beta(agw, akey, mock):
    m = marker()
    r = messages(agw, akey, {"model": "claude-mock", "max_tokens": 5,
                             "messages": [{"role": "user", "content": m}]})
    assert r.status == 200, r
    h = upstream_request(mock, m)["headers"]
    assert h.get("anthropic-version") == "2023-06-01", h
    assert "anthropic-beta" not in h, h
    assert h.get("x-api-key") == PROVIDER_KEY, h


def test_relay_stream_passes_events_unchanged(agw, akey, mock):
    m = marker()
    text = "stream relay %s" % m
    s = messages_stream(agw, akey, {"model": "claude-mock", "max_tokens": 20, "stream": True,
                                    "messages": [{"role": "user", "content": text}]},
                        headers={"anthropic-version": "2023-06-01"})
    assert s.status == 200, s.raw[:500]
    assert s.headers["content-type"].startswith("text/event-stream"), s.headers
    n = words("echo: " + text)
    assert s.names() == (["message_start", "content_block_start", "ping"] +
                         ["content_block_delta"] * n +
                         ["content_block_stop", "message_delta", "message_stop"]), s.names()
    start = s.events[0][1]["message"]
    assert start["model"] == "claude-upstream" and start["id"].startswith("msg_mock_"), start
    assert s.text() == "echo: " + text
    sent = json.loads(upstream_request(mock, m)["body"])
    assert sent["stream"] is True and sent["model"] == "claude-upstream", sent


def test_relay_stream_tool_use(agw, akey, mock):
    m = marker()
    body = {"model": "claude-mock", "max_tokens": 50, "stream": True,
            "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
            "messages": [{"role": "user", "content": "find %s [[mock:tool=lookup]]" % m}]}
    s = messages_stream(agw, akey, body)
    assert s.status == 200, s.raw[:500]
    parts = [d["delta"]["partial_json"] for n, d in s.events
             if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"]
    assert len(parts) >= 2, s.events
    assert json.loads("".join(parts)) == {"text": "echo: find " + m}
    assert s.events[-2][1]["delta"]["stop_reason"] == "tool_use", s.events[-2]


# Anthropic-only features (documents, extended thinking, thinking blocks,
# server tools) cannot be expressed for an OpenAI-format provider, but a
# relayed body reaches Anthropic untouched: they are refused only when the
# model's provider is not an Anthropic-format one.

PDF_B64 = base64.b64encode(b"%PDF-1.4\n1 0 obj <</Type/Catalog>> endobj\n"
                           b"trailer <</Root 1 0 R>>\n%%EOF\n").decode()

ANTHROPIC_ONLY = {
    "document": (
        lambda m: {"max_tokens": 50, "messages": [{"role": "user", "content": [
            {"type": "document", "title": "a.pdf",
             "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64}},
            {"type": "text", "text": "summarise %s" % m}]}]},
        "messages.0.content.0.type: 'document' blocks are not supported through /v1/messages "
        "with an OpenAI-format provider"),
    "thinking_param": (
        lambda m: {"max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024},
                   "messages": [{"role": "user", "content": "think about %s" % m}]},
        "thinking: extended thinking is not supported through /v1/messages with an "
        "OpenAI-format provider"),
    "thinking_blocks": (
        lambda m: {"max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024},
                   "messages": [
                       {"role": "user", "content": "first question"},
                       {"role": "assistant", "content": [
                           {"type": "thinking", "thinking": "Let me see.",
                            "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"},
                           {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
                           {"type": "text", "text": "The answer."}]},
                       {"role": "user", "content": "and %s?" % m}]},
        "messages.1.content.0.type: 'thinking' blocks are not supported through /v1/messages "
        "with an OpenAI-format provider"),
}


@pytest.mark.parametrize("case", sorted(ANTHROPIC_ONLY))
def test_anthropic_only_features_relayed(agw, akey, mock, case):
    m = marker()
    make, _ = ANTHROPIC_ONLY[case]
    raw = json.dumps(dict(model="claude-mock", **make(m)))
    r = agw.request("POST", "/v1/messages", body=raw,
                    headers={"x-api-key": akey, "Content-Type": "application/json",
                             "anthropic-version": "2023-06-01"})
    assert r.status == 200, r
    assert upstream_request(mock, m)["body"] == raw.replace('"model": "claude-mock"',
                                                            '"model": "claude-upstream"')
    doc = r.json()
    assert doc["type"] == "message" and doc["model"] == "claude-upstream", doc


@pytest.mark.parametrize("case", sorted(ANTHROPIC_ONLY))
def test_anthropic_only_features_refused_for_openai_format(agw, akey, mock, case):
    m = marker()
    make, message = ANTHROPIC_ONLY[case]
    r = messages(agw, akey, dict(model="gpt-4o-mini", **make(m)))
    assert r.status == 400, r
    doc = r.json()
    assert doc["type"] == "error" and doc["error"] == {"type": "invalid_request_error",
                                                       "message": message}, doc
    assert mock.find(m) == []
    row = agw.usage_row(r.headers["x-request-id"])
    assert row["status"] == 400 and row["error"], row


def test_anthropic_only_count_tokens_still_refused(agw, akey, mock):
    make, message = ANTHROPIC_ONLY["document"]
    body = make(marker())
    del body["max_tokens"]
    r = agw.request("POST", "/v1/messages/count_tokens", body=dict(model="claude-mock", **body),
                    headers={"x-api-key": akey, "anthropic-version": "2023-06-01"})
    assert r.status == 400, r
    assert r.json()["error"]["message"] == message, r.json()


# ---------------------------------------------------------------------------
# translation: streamed tool calls, the caller's key


def test_tool_call_arguments_stream_in_fragments(agw, akey, mock):
    m = marker()
    body = {"model": "claude-mock", "stream": True,
            "messages": [{"role": "user", "content": "call %s [[mock:tool=lookup]]" % m}],
            "tools": [{"type": "function", "function": {"name": "lookup"}}]}
    s = post_chat_stream(agw, akey, body)
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors, s.events
    deltas = [tc for c in chunks for ch in c["choices"]
              for tc in (ch.get("delta") or {}).get("tool_calls") or []]
    assert deltas[0]["id"].startswith("toolu_mock_") and deltas[0]["type"] == "function", deltas
    assert deltas[0]["function"] == {"name": "lookup", "arguments": ""}, deltas
    fragments = [d["function"]["arguments"] for d in deltas[1:]]
    assert len(fragments) >= 2 and all(fragments), deltas
    assert all(d["index"] == 0 and "id" not in d for d in deltas[1:]), deltas
    assert json.loads("".join(fragments)) == {"text": "echo: call " + m}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls", chunks[-1]


def test_chat_sends_provider_key_never_the_callers(agw, akey, mock):
    m = marker()
    r = post_chat(agw, akey, {"model": "claude-mock", "messages": [{"role": "user", "content": m}]},
                  headers={"anthropic-version": "2023-01-01"})
    assert r.status == 200, r
    h = upstream_request(mock, m)["headers"]
    assert h.get("x-api-key") == PROVIDER_KEY, h
    # a translation is written for the provider's version, whatever the caller says
    assert h.get("anthropic-version") == "2023-06-01", h
    assert "authorization" not in h, h
    assert not any(akey in v for v in h.values()), h


# ---------------------------------------------------------------------------
# usage, prompt cache included


def cache_body(m, stream):
    return {"model": "claude-mock", "max_tokens": 30, "stream": stream,
            "messages": [{"role": "user",
                          "content": "cache me please %s [[mock:cached=2,cache_write=1]]" % m}]}


@pytest.mark.parametrize("api", ["chat", "messages"])
@pytest.mark.parametrize("stream", [False, True])
def test_usage_row_with_cache_reads_and_writes(agw, akey, mock, api, stream):
    m = marker()
    body = cache_body(m, stream)
    prompt, completion = 5, words("echo: cache me please " + m)
    if api == "chat":
        if stream:
            body["stream_options"] = {"include_usage": True}
            s = post_chat_stream(agw, akey, body)
            chunks, done, errors, _ = parse_events(s.events)
            assert done and not errors, s.events
            rid = s.headers["x-request-id"]
            usage = chunks[-1]["usage"]
        else:
            r = post_chat(agw, akey, body)
            assert r.status == 200, r
            rid, usage = r.headers["x-request-id"], r.json()["usage"]
        assert usage["prompt_tokens"] == prompt and usage["completion_tokens"] == completion
        assert usage["prompt_tokens_details"]["cached_tokens"] == 2, usage
    else:
        if stream:
            s = messages_stream(agw, akey, body)
            assert s.names()[-1] == "message_stop", s.names()
            rid = s.headers["x-request-id"]
            usage = s.events[0][1]["message"]["usage"]
        else:
            r = messages(agw, akey, body)
            assert r.status == 200, r
            rid, usage = r.headers["x-request-id"], r.json()["usage"]
        # relayed: Anthropic's own split of the prompt
        assert usage["input_tokens"] == prompt - 3, usage
        assert usage["cache_read_input_tokens"] == 2, usage
        assert usage["cache_creation_input_tokens"] == 1, usage
    row = agw.usage_row(rid)
    assert row["provider"] == "anth" and row["upstream_model"] == "claude-upstream", row
    assert row["stream"] == (1 if stream else 0), row
    assert row["prompt_tokens"] == prompt and row["completion_tokens"] == completion, row
    assert row["cached_tokens"] == 2 and row["cache_write_tokens"] == 1, row
    assert row["error"] is None and row["status"] == 200, row
    cost = (2 * PRICING["input"] + 2 * PRICING["cached"] + 1 * PRICING["write"] +
            completion * PRICING["output"]) / 1e6
    assert abs(row["cost_usd"] - cost) < 1e-12, row


# ---------------------------------------------------------------------------
# upstream errors, in the caller's format


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_credential_refusal_is_a_bad_gateway(agw, akey, mock, status, stream):
    # the provider refused the gateway's own credential: a 401 would tell the
    # caller its key is wrong, so it is a 502 naming the provider
    body = {"model": "claude-mock", "stream": stream,
            "messages": [{"role": "user", "content": "x [[mock:status=%d]]" % status}]}
    err = assert_openai_error(post_chat(agw, akey, body), 502, code="upstream_auth_failed")
    assert "refused the gateway's credentials (HTTP %d)" % status in err["message"], err
    assert "mock error %d" % status in err["message"], err
    r = messages(agw, akey, dict(body, max_tokens=5))
    assert r.status == 502 and r.json()["error"]["type"] == "api_error", r


@pytest.mark.parametrize("status", [400, 429, 500, 503, 529])
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_status_reshaped_for_chat(agw, akey, mock, status, stream):
    directive = "[[mock:status=%d%s]]" % (status, ",retry_after=7" if status == 429 else "")
    body = {"model": "claude-mock", "stream": stream,
            "messages": [{"role": "user", "content": "fail " + directive}]}
    r = post_chat(agw, akey, body)
    err = assert_openai_error(r, status, code="upstream_http_%d" % status)
    assert err["message"] == "mock error %d" % status, err
    if status == 429:
        assert r.headers.get("retry-after") == "7", r.headers
        assert err["type"] == "rate_limit_error", err
    rid = r.headers["x-request-id"]
    row = agw.usage_row(rid)
    assert row["status"] == status and row["error"] == "upstream_http_%d" % status, row


@pytest.mark.parametrize("status", [400, 429, 500, 529])
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_status_relayed_for_messages(agw, akey, mock, status, stream):
    directive = "[[mock:status=%d%s]]" % (status, ",retry_after=3" if status == 429 else "")
    body = {"model": "claude-mock", "max_tokens": 5, "stream": stream,
            "messages": [{"role": "user", "content": "fail " + directive}]}
    r = messages(agw, akey, body)
    assert r.status == status, r
    types = {400: "invalid_request_error", 429: "rate_limit_error", 500: "api_error",
             529: "overloaded_error"}
    assert r.json() == {"type": "error",
                        "error": {"type": types[status], "message": "mock error %d" % status}}
    if status == 429:
        assert r.headers.get("retry-after") == "3", r.headers


def test_upstream_refusal_message_reaches_chat_caller(agw, akey, mock):
    # a body the mock refuses (an empty assistant turn in the middle): its message comes back
    body = {"model": "claude-mock", "messages": [
        {"role": "user", "content": "a"}, {"role": "assistant", "content": ""},
        {"role": "user", "content": "b"}]}
    r = post_chat(agw, akey, body)
    err = assert_openai_error(r, 400, code="upstream_http_400")
    assert "non-empty content" in err["message"], err


def test_broken_stream_ends_with_error_event_chat(agw, akey, mock):
    s = post_chat_stream(agw, akey, {"model": "claude-mock", "stream": True, "messages": [
        {"role": "user", "content": "x [[mock:words=10,drop_after=3]]"}]})
    assert s.status == 200
    chunks, done, errors, garbage = parse_events(s.events)
    assert not done and not garbage, s.events
    assert len(errors) == 1 and errors[0]["error"]["code"] == "upstream_stream_error", errors
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks)
    assert text.startswith("w1 w2"), chunks
    row = agw.usage_row(s.headers["x-request-id"])
    assert row["error"] == "upstream_stream_error", row


def test_broken_stream_ends_with_error_event_messages(agw, akey, mock):
    s = messages_stream(agw, akey, {"model": "claude-mock", "max_tokens": 50, "stream": True,
                                    "messages": [{"role": "user",
                                                  "content": "x [[mock:words=10,drop_after=3]]"}]})
    assert s.status == 200
    names = s.names()
    assert names[:3] == ["message_start", "content_block_start", "ping"], names
    assert names[-1] == "error" and names.count("error") == 1, names
    assert "message_stop" not in names, names
    assert s.events[-1][1]["error"]["type"] == "api_error", s.events[-1]
    assert s.text().startswith("w1 w2"), s.events


def test_in_stream_overloaded_chat(agw, akey, mock):
    s = post_chat_stream(agw, akey, {"model": "claude-mock", "stream": True, "messages": [
        {"role": "user", "content": "busy [[mock:overloaded]]"}]})
    assert s.status == 200
    chunks, done, errors, _ = parse_events(s.events)
    assert not done, s.events
    assert len(errors) == 1, s.events
    assert errors[0]["error"]["message"] == "Overloaded", errors
    assert errors[0]["error"]["code"] == "overloaded_error", errors
    assert json.loads(s.events[-1][1]) == errors[0], s.events
    row = agw.usage_row(s.headers["x-request-id"])
    assert row["error"] == "overloaded_error", row


def test_in_stream_overloaded_messages(agw, akey, mock):
    s = messages_stream(agw, akey, {"model": "claude-mock", "max_tokens": 20, "stream": True,
                                    "messages": [{"role": "user",
                                                  "content": "busy [[mock:overloaded]]"}]})
    assert s.status == 200
    names = s.names()
    assert names.count("error") == 1 and names[-1] == "error", names
    assert "message_stop" not in names, names
    assert s.events[-1][1] == {"type": "error", "error": {"type": "overloaded_error",
                                                          "message": "Overloaded"}}
    row = agw.usage_row(s.headers["x-request-id"])
    assert row["error"] == "overloaded_error", row


def test_overloaded_unstreamed(agw, akey, mock):
    body = {"model": "claude-mock", "max_tokens": 5,
            "messages": [{"role": "user", "content": "busy [[mock:overloaded]]"}]}
    err = assert_openai_error(post_chat(agw, akey, body), 529, code="upstream_http_529")
    assert err["message"] == "Overloaded", err
    r = messages(agw, akey, body)
    assert r.status == 529 and r.json()["error"]["type"] == "overloaded_error", r


def test_garbage_answer_is_502(agw, akey, mock):
    body = {"model": "claude-mock", "max_tokens": 5,
            "messages": [{"role": "user", "content": "junk [[mock:garbage]]"}]}
    assert_openai_error(post_chat(agw, akey, body), 502, code="upstream_bad_response")
    r = messages(agw, akey, body)
    assert r.status == 502 and r.json()["error"]["type"] == "api_error", r


def test_sse_garbage_event_is_skipped(agw, akey, mock):
    s = post_chat_stream(agw, akey, {"model": "claude-mock", "stream": True, "messages": [
        {"role": "user", "content": "still fine [[mock:sse_garbage]]"}]})
    chunks, done, errors, garbage = parse_events(s.events)
    assert done and not errors and not garbage, s.events
    assert streamed_answer(chunks)["content"] == "echo: still fine"


def test_first_byte_timeout_is_504(agw, akey, mock):
    t0 = time.monotonic()
    r = post_chat(agw, akey, {"model": "claude-slow",
                              "messages": [{"role": "user", "content": "wait [[mock:hang]]"}]})
    assert_openai_error(r, 504, code="upstream_timeout")
    assert time.monotonic() - t0 < 10 * SLOW


# ---------------------------------------------------------------------------
# what Anthropic cannot express: a 400 naming the parameter, nothing sent

USER = [{"role": "user", "content": "hi"}]
CALL = {"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}

REFUSED = [
    ("n", {"n": 2}, "n", "unsupported_parameter"),
    ("logprobs", {"logprobs": True}, "logprobs", "unsupported_parameter"),
    ("top_logprobs", {"top_logprobs": 3}, "top_logprobs", "unsupported_parameter"),
    ("logit_bias", {"logit_bias": {"50256": -100}}, "logit_bias", "unsupported_parameter"),
    ("presence_penalty", {"presence_penalty": 0.5}, "presence_penalty", "unsupported_parameter"),
    ("frequency_penalty", {"frequency_penalty": -0.2}, "frequency_penalty",
     "unsupported_parameter"),
    ("seed", {"seed": 7}, "seed", "unsupported_parameter"),
    ("json_object", {"response_format": {"type": "json_object"}}, "response_format",
     "unsupported_parameter"),
    ("json_schema", {"response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object"}}}}, "response_format", "unsupported_parameter"),
    ("audio", {"audio": {"voice": "alloy", "format": "wav"}}, "audio", "unsupported_parameter"),
    ("modalities", {"modalities": ["text", "audio"]}, "modalities", "unsupported_parameter"),
    ("functions", {"functions": [{"name": "f", "parameters": {}}]}, "functions",
     "unsupported_parameter"),
    ("function_call", {"function_call": "auto"}, "function_call", "unsupported_parameter"),
    ("prediction", {"prediction": {"type": "content", "content": "x"}}, "prediction",
     "unsupported_parameter"),
    ("reasoning_effort", {"reasoning_effort": "low"}, "reasoning_effort",
     "unsupported_parameter"),
    ("store", {"store": True}, "store", "unsupported_parameter"),
    ("metadata", {"metadata": {"k": "v"}}, "metadata", "unsupported_parameter"),
    ("web_search", {"web_search_options": {}}, "web_search_options", "unsupported_parameter"),
    ("verbosity", {"verbosity": "low"}, "verbosity", "unsupported_parameter"),
    ("unknown", {"frobnicate": 1}, "frobnicate", "unsupported_parameter"),
    ("service_tier", {"service_tier": "flex"}, "service_tier", "unsupported_parameter"),
    ("temperature_above_1", {"temperature": 1.5}, "temperature", "unsupported_value"),
    ("custom_tool", {"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type",
     "unsupported_value"),
    ("strict_tool", {"tools": [{"type": "function", "function": {
        "name": "f", "strict": True, "parameters": {"type": "object"}}}]},
     "tools[0].function.strict", "unsupported_parameter"),
    ("required_without_tools", {"tool_choice": "required"}, "tool_choice", "invalid_value"),
    ("allowed_tools_choice", {"tools": [TOOL], "tool_choice": {
        "type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}},
     "tool_choice.type", "unsupported_value"),
    ("max_tokens_zero", {"max_tokens": 0}, "max_tokens", "invalid_value"),
    ("message_name", {"messages": [{"role": "user", "content": "hi", "name": "bob"}]},
     "messages[0].name", "unsupported_parameter"),
    ("input_audio", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "hear"},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]},
     "messages[0].content[1].type", "unsupported_value"),
    ("image_bmp", {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}]}]},
     "messages[0].content[0].image_url.url", "unsupported_value"),
    ("image_ftp", {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}]}]},
     "messages[0].content[0].image_url.url", "invalid_value"),
    ("file_id", {"messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_id": "file-123"}}]}]},
     "messages[0].content[0].file", "unsupported_value"),
    ("image_in_system", {"messages": [{"role": "system", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}] + USER},
     "messages[0].content[0].type", "unsupported_value"),
    ("bad_arguments_json", {"messages": USER + [dict(CALL, tool_calls=[
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{a:"}}])]},
     "messages[1].tool_calls[0].function.arguments", "invalid_value"),
    ("arguments_not_object", {"messages": USER + [dict(CALL, tool_calls=[
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "[1]"}}])]},
     "messages[1].tool_calls[0].function.arguments", "invalid_value"),
    ("function_role", {"messages": USER + [{"role": "function", "name": "f", "content": "x"}]},
     "messages[1].name", "unsupported_parameter"),
    ("function_role_unnamed", {"messages": USER + [{"role": "function", "content": "x"}]},
     "messages[1].role", "unsupported_value"),
    ("only_system", {"messages": [{"role": "system", "content": "alone"}]}, "messages",
     "invalid_value"),
]


@pytest.mark.parametrize("patch,param,code", [r[1:] for r in REFUSED],
                         ids=[r[0] for r in REFUSED])
@pytest.mark.parametrize("stream", [False, True])
def test_refused_parameter(agw, akey, mock, patch, param, code, stream):
    body = {"model": "claude-mock", "messages": USER, "stream": stream}
    body.update(patch)
    before = mock.stats()["requests"]
    r = post_chat(agw, akey, body)
    err = assert_openai_error(r, 400, code=code, param=param)
    assert param in err["message"], err
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    assert mock.stats()["requests"] == before


def test_embeddings_are_refused(agw, akey, mock):
    r = agw.request("POST", "/v1/embeddings", body={"model": "claude-mock", "input": "x"},
                    key=akey)
    assert_openai_error(r, 400, code="unsupported_endpoint")
