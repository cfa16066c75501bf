"""POST /v1/messages (the Anthropic Messages front door) and
POST /v1/messages/count_tokens, through the real gateway to the mock (an
OpenAI-format upstream) and the built-in echo provider: answers in
Anthropic's format, whole and as Anthropic's SSE event sequence relayed as
the upstream sends it; what the upstream received; usage rows; both key
headers; every error in Anthropic's shape; the data-driven translation
cases of messages_cases/."""

import http.client
import json
import os
import time
from pathlib import Path

import pytest

from conftest import HTTP_TIMEOUT, PROVIDER_KEY, SLOW, assert_gw_headers, words

CASES = Path(__file__).resolve().parent / "messages_cases"

EVENT_SEQUENCE_HEAD = ["message_start", "content_block_start", "ping"]
EVENT_SEQUENCE_TAIL = ["content_block_stop", "message_delta", "message_stop"]


def marker():
    return "m" + os.urandom(6).hex()


def msg_body(text, model="gpt-4o-mini", max_tokens=64, stream=None, system=None, **extra):
    body = {"model": model, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": text}]}
    if system is not None:
        body["system"] = system
    if stream is not None:
        body["stream"] = stream
    body.update(extra)
    return body


def anthropic_headers(key, header="x-api-key", version="2023-06-01"):
    h = {"anthropic-version": version} if version else {}
    if key is not None:
        h.update({"Authorization": "Bearer " + key} if header == "bearer" else {header: key})
    return h


def post(gw, key, body, path="/v1/messages", header="x-api-key", version="2023-06-01"):
    return gw.request("POST", path, body=body, headers=anthropic_headers(key, header, version))


def assert_anthropic_error(resp, status, etype, mentions=None):
    """resp has the status and Anthropic's error shape, with error.type etype."""
    assert resp.status == status, "expected %d, got %r" % (status, resp)
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    doc = resp.json()
    assert doc.get("type") == "error", doc
    err = doc.get("error")
    assert isinstance(err, dict), doc
    assert err.get("type") == etype, "expected type %r: %r" % (etype, doc)
    assert isinstance(err.get("message"), str) and err["message"], doc
    assert "code" not in err and "param" not in err, "OpenAI fields in an Anthropic error: %r" % doc
    if mentions:
        assert mentions in err["message"], "%r does not mention %r" % (err["message"], mentions)
    assert doc.get("request_id") == resp.headers.get("x-request-id"), doc
    return err


class MessagesStream:
    """A streamed /v1/messages answer read event by event: (seconds since the
    request, event name, parsed data)."""

    def __init__(self, port, body, headers, timeout=HTTP_TIMEOUT, path="/v1/messages"):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers)
        self.t0 = time.monotonic()
        self.conn.request("POST", path, body=json.dumps(body).encode(), headers=hdrs)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.events = []
        self.raw = b""

    def read_all(self):
        name, data, buf = None, [], b""
        while True:
            try:
                b = self.resp.read1(65536)
            except (http.client.HTTPException, ConnectionError, OSError):
                b = b""
            if not b:
                break
            self.raw += b
            now = time.monotonic() - self.t0
            lines = (buf + b).split(b"\n")
            buf = lines.pop()
            for raw in lines:
                line = raw.rstrip(b"\r").decode("utf-8", "replace")
                if line == "":
                    if data or name:
                        text = "\n".join(data)
                        try:
                            obj = json.loads(text)
                        except ValueError:
                            obj = text
                        self.events.append((now, name, obj))
                    name, data = None, []
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    v = line[5:]
                    data.append(v[1:] if v.startswith(" ") else v)
        self.conn.close()
        assert not buf.strip(), "a partial event at the end: %r" % buf
        return self.events

    def names(self):
        return [n for _, n, _ in self.events]

    def text(self):
        return "".join(d["delta"]["text"] for _, n, d in self.events
                       if n == "content_block_delta" and d["delta"]["type"] == "text_delta")


def stream(gw, key, body, header="x-api-key", version="2023-06-01"):
    s = MessagesStream(gw.port, body, anthropic_headers(key, header, version))
    s.read_all()
    return s


def check_stream_shape(s, model, n_deltas):
    """The exact event sequence, each event's data type matching its name."""
    names = s.names()
    assert names == (EVENT_SEQUENCE_HEAD + ["content_block_delta"] * n_deltas +
                     EVENT_SEQUENCE_TAIL), names
    for _, name, data in s.events:
        assert isinstance(data, dict) and data.get("type") == name, (name, data)
    start = s.events[0][2]["message"]
    assert start["id"].startswith("msg_") and start["type"] == "message", start
    assert start["role"] == "assistant" and start["model"] == model, start
    assert start["content"] == [] and start["stop_reason"] is None, start
    assert isinstance(start["usage"]["input_tokens"], int), start
    assert s.events[1][2] == {"type": "content_block_start", "index": 0,
                              "content_block": {"type": "text", "text": ""}}
    for _, name, data in s.events:
        if name in ("content_block_delta", "content_block_stop"):
            assert data["index"] == 0, data
    delta = s.events[-2][2]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}, delta
    # no trace of the OpenAI stream reached the client
    assert b"[DONE]" not in s.raw and b"chat.completion" not in s.raw and b"choices" not in s.raw
    return start, delta


# ---------------------------------------------------------------------------
# answers


def test_non_streamed_through_mock(gw, key, mock):
    m = marker()
    text = "hello there " + m
    r = post(gw, key, msg_body(text, system="be brief"))
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers.get("x-gw-provider") == "mock"
    rid = assert_gw_headers(r)
    doc = r.json()
    assert doc["id"].startswith("msg_") and doc["type"] == "message", doc
    assert doc["role"] == "assistant" and doc["model"] == "gpt-4o-mini", doc
    assert doc["content"] == [{"type": "text", "text": "echo: " + text}], doc
    assert doc["stop_reason"] == "end_turn" and doc["stop_sequence"] is None, doc
    assert doc["usage"]["input_tokens"] == words("be brief") + words(text), doc
    assert doc["usage"]["output_tokens"] == words("echo: " + text), doc
    assert doc["usage"]["cache_read_input_tokens"] == 0, doc
    assert set(doc) == {"id", "type", "role", "model", "content", "stop_reason",
                        "stop_sequence", "usage"}, doc

    # what the upstream received: the chat-completions translation
    rec = mock.find(m)
    assert len(rec) == 1, rec
    assert rec[0]["path"] == "/v1/chat/completions"
    sent = json.loads(rec[0]["body"])
    assert sent == {"model": "mock-upstream-model", "max_tokens": 64,
                    "messages": [{"role": "system", "content": "be brief"},
                                 {"role": "user", "content": text}]}, sent
    hdrs = rec[0]["headers"]
    assert hdrs.get("authorization") == "Bearer " + PROVIDER_KEY
    assert key not in json.dumps(hdrs), "the gateway key went upstream"
    assert "x-api-key" not in hdrs and "anthropic-version" not in hdrs, hdrs

    row = gw.usage_row(rid)
    assert row["endpoint"] == "/v1/messages" and row["status"] == 200, row
    assert row["model"] == "gpt-4o-mini" and row["provider"] == "mock", row
    assert row["upstream_model"] == "mock-upstream-model" and row["stream"] == 0, row
    assert row["prompt_tokens"] == words("be brief") + words(text), row
    assert row["completion_tokens"] == words("echo: " + text), row
    assert row["cost_usd"] == pytest.approx(
        (row["prompt_tokens"] * 1.0 + row["completion_tokens"] * 2.0) / 1e6)
    assert not row["error"], row


def test_streamed_through_mock(gw, key, mock):
    m = marker()
    text = "stream this please " + m
    s = stream(gw, key, msg_body(text, stream=True, system=[{"type": "text", "text": "sys"}]))
    assert s.status == 200, s.raw[:500]
    assert s.headers["content-type"].startswith("text/event-stream"), s.headers
    assert s.headers.get("x-gw-provider") == "mock"
    rid = assert_gw_headers(s)
    reply = "echo: " + text
    start, delta = check_stream_shape(s, "gpt-4o-mini", words(reply))
    assert s.text() == reply
    # one delta per upstream chunk, as the upstream cut them
    pieces = [d["delta"]["text"] for _, n, d in s.events if n == "content_block_delta"]
    assert pieces == [w + " " for w in reply.split()[:-1]] + [reply.split()[-1]], pieces
    # the usage chunk the gateway asked for fed the counts
    assert delta["usage"]["output_tokens"] == words(reply), delta
    assert delta["usage"]["input_tokens"] == words("sys") + words(text), delta

    sent = json.loads(mock.find(m)[0]["body"])
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}, sent
    assert sent["model"] == "mock-upstream-model"
    assert sent["messages"][0] == {"role": "system", "content": "sys"}, sent

    row = gw.usage_row(rid)
    assert row["endpoint"] == "/v1/messages" and row["stream"] == 1, row
    assert row["prompt_tokens"] == words("sys") + words(text), row
    assert row["completion_tokens"] == words(reply), row
    assert not row["error"], row


def test_stream_is_relayed_as_it_arrives(gw, key):
    """Each text delta reaches the client when the upstream sends it."""
    s = stream(gw, key, msg_body("[[mock:words=5,chunk_delay_ms=300]]", stream=True))
    assert s.status == 200
    check_stream_shape(s, "gpt-4o-mini", 5)
    assert s.text() == "w1 w2 w3 w4 w5"
    deltas = [t for t, n, _ in s.events if n == "content_block_delta"]
    end = s.events[-1][0]
    # the upstream spaces its 8 events 300 ms apart: about 2.1 s in all
    assert end >= 1.5, "the stream ended after %.2fs" % end
    assert deltas[0] < end - 1.0, "first delta at %.2fs, end at %.2fs" % (deltas[0], end)
    gaps = [b - a for a, b in zip(deltas, deltas[1:])]
    assert min(gaps) > 0.15, "deltas arrived together: %r" % deltas


def test_echo_non_streamed(gw, key, mock):
    before = mock.stats()["requests"]
    r = post(gw, key, msg_body("echo me please", model="echo"))
    assert r.status == 200, r
    doc = r.json()
    assert doc["content"] == [{"type": "text", "text": "echo me please"}], doc
    assert doc["model"] == "echo" and doc["stop_reason"] == "end_turn", doc
    count = post(gw, key, {"model": "echo", "messages": [{"role": "user",
                                                          "content": "echo me please"}]},
                 path="/v1/messages/count_tokens").json()
    assert doc["usage"]["input_tokens"] == count["input_tokens"], (doc, count)
    assert doc["usage"]["output_tokens"] > 0
    assert mock.stats()["requests"] == before
    row = gw.usage_row(r.headers["x-request-id"])
    assert row["endpoint"] == "/v1/messages" and row["provider"] == "echo", row
    assert row["prompt_tokens"] == doc["usage"]["input_tokens"], row
    assert row["completion_tokens"] == doc["usage"]["output_tokens"], row


def test_echo_streamed(gw, key):
    s = stream(gw, key, msg_body("one two three", model="echo", stream=True))
    assert s.status == 200
    _, delta = check_stream_shape(s, "echo", 3)
    assert s.text() == "one two three"
    assert delta["usage"]["output_tokens"] > 0, delta
    row = gw.usage_row(s.headers["x-request-id"])
    assert row["endpoint"] == "/v1/messages" and row["stream"] == 1, row
    assert row["completion_tokens"] == delta["usage"]["output_tokens"], row


@pytest.mark.parametrize("header,version", [
    ("x-api-key", "2023-06-01"),     # older SDKs
    ("bearer", "2026-10-21"),         # the 1.x SDK
    ("x-api-key", None),              # no version header at all
])
def test_key_headers_and_versions(gw, key, header, version):
    r = post(gw, key, msg_body("which header"), header=header, version=version)
    assert r.status == 200, r
    assert r.json()["content"][0]["text"] == "echo: which header"


def test_cached_tokens(gw, key):
    r = post(gw, key, msg_body("cache me if you can [[mock:cached=3]]"))
    assert r.status == 200, r
    u = r.json()["usage"]
    prompt = words("cache me if you can [[mock:cached=3]]")
    assert u["cache_read_input_tokens"] == 3, u
    assert u["input_tokens"] == prompt - 3, u
    row = gw.usage_row(r.headers["x-request-id"])
    assert row["prompt_tokens"] == prompt and row["cached_tokens"] == 3, row


# ---------------------------------------------------------------------------
# translation cases (messages_cases/*.json)


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.glob("*.json")))
def test_translation_case(gw, key, mock, case):
    m = marker()
    doc = json.loads((CASES / case).read_text().replace("{marker}", m))
    req = doc["request"]
    if req.get("stream"):
        s = stream(gw, key, req)
        assert s.status == 200, s.raw[:500]
        text = s.text()
    else:
        r = post(gw, key, req)
        assert r.status == 200, r
        text = "".join(b["text"] for b in r.json()["content"] if b["type"] == "text")
    rec = mock.find(m)
    assert len(rec) == 1, rec
    sent = json.loads(rec[0]["body"])
    assert sent == doc["upstream"], "%s: upstream got\n%s\nexpected\n%s" % (
        case, json.dumps(sent, indent=1), json.dumps(doc["upstream"], indent=1))
    if "response_text" in doc:
        assert text == doc["response_text"]


# ---------------------------------------------------------------------------
# errors, in Anthropic's shape


@pytest.mark.parametrize("body", ["{not json", "", '{"model": "gpt-4o-mini"} trailing', "[1, 2]"])
def test_malformed_body(gw, key, mock, body):
    before = mock.stats()["requests"]
    r = gw.request("POST", "/v1/messages", body=body,
                   headers=dict(anthropic_headers(key), **{"Content-Type": "application/json"}))
    assert_anthropic_error(r, 400, "invalid_request_error")
    assert_gw_headers(r)
    assert mock.stats()["requests"] == before


BASE = {"model": "gpt-4o-mini", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}


def without(field):
    b = dict(BASE)
    del b[field]
    return b


def with_(**kw):
    b = dict(BASE)
    b.update(kw)
    return b


def user(content):
    return with_(messages=[{"role": "user", "content": content}])


@pytest.mark.parametrize("body,field", [
    (without("max_tokens"), "max_tokens"),
    (without("model"), "model"),
    (without("messages"), "messages"),
    (with_(max_tokens="10"), "max_tokens"),
    (with_(max_tokens=1.5), "max_tokens"),
    (with_(max_tokens=0), "max_tokens"),
    (with_(model=7), "model"),
    (with_(messages="hi"), "messages"),
    (with_(messages=[]), "messages"),
    (with_(messages=["hi"]), "messages.0"),
    (with_(messages=[{"content": "x"}]), "messages.0.role"),
    (with_(messages=[{"role": "system", "content": "x"}]), "messages.0.role"),
    (with_(messages=[{"role": "user"}]), "messages.0.content"),
    (user(5), "messages.0.content"),
    (user([{"text": "no type"}]), "messages.0.content.0.type"),
    (user([{"type": "text"}]), "messages.0.content.0.text"),
    (user([{"type": "text", "text": 3}]), "messages.0.content.0.text"),
    (user([{"type": "image"}]), "messages.0.content.0.source"),
    (user([{"type": "image", "source": {"type": "base64", "media_type": "image/bmp",
                                        "data": "AA=="}}]),
     "messages.0.content.0.source.media_type"),
    (user([{"type": "image", "source": {"type": "base64", "media_type": "image/png"}}]),
     "messages.0.content.0.source.data"),
    (user([{"type": "image", "source": {"type": "file", "file_id": "f1"}}]),
     "messages.0.content.0.source.type"),
    (user([{"type": "document", "source": {"type": "text", "data": "d",
                                           "media_type": "text/plain"}}]),
     "messages.0.content.0.type"),
    (user([{"type": "mystery"}]), "messages.0.content.0.type"),
    (user([{"type": "tool_use", "id": "t", "name": "n", "input": {}}]),
     "messages.0.content.0.type"),
    (user([{"type": "tool_result"}]), "messages.0.content.0.tool_use_id"),
    (with_(system=5), "system"),
    (with_(system=[{"type": "image"}]), "system.0"),
    (with_(stream="yes"), "stream"),
    (with_(temperature="hot"), "temperature"),
    (with_(temperature=1.5), "temperature"),
    (with_(top_p=-1), "top_p"),
    (with_(top_k=2.5), "top_k"),
    (with_(stop_sequences="END"), "stop_sequences"),
    (with_(stop_sequences=["a", 1]), "stop_sequences.1"),
    (with_(metadata={"user_id": 5}), "metadata.user_id"),
    (with_(metadata={"session": "x"}), "metadata.session"),
    (with_(tools={}), "tools"),
    (with_(tools=[{"name": "f"}]), "tools.0.input_schema"),
    (with_(tools=[{"type": "web_search_20250305", "name": "web_search"}]), "tools.0.type"),
    (with_(tool_choice={"type": "sometimes"}), "tool_choice.type"),
    (with_(tool_choice={"type": "any"}), "tool_choice"),
    (with_(thinking={"type": "enabled", "budget_tokens": 1024}), "thinking"),
    (with_(frequency_penalty=1), "frequency_penalty"),
])
def test_invalid_fields(gw, key, mock, body, field):
    """Each error is a 400 invalid_request_error whose message starts with the field."""
    before = mock.stats()["requests"]
    r = post(gw, key, body)
    err = assert_anthropic_error(r, 400, "invalid_request_error")
    assert err["message"].startswith(field + ":"), (field, err)
    assert mock.stats()["requests"] == before
    row = gw.usage_row(r.headers["x-request-id"])
    assert row["status"] == 400 and row["endpoint"] == "/v1/messages" and row["error"], row


def test_top_k_refused_for_openai_target(gw, key, mock):
    before = mock.stats()["requests"]
    r = post(gw, key, with_(top_k=5))
    err = assert_anthropic_error(r, 400, "invalid_request_error", mentions="top_k")
    assert err["message"].startswith("top_k:"), err
    assert mock.stats()["requests"] == before
    # the echo provider has no sampling to express: top_k is harmless there
    r = post(gw, key, with_(model="echo", top_k=5))
    assert r.status == 200, r


@pytest.mark.parametrize("stream_flag", [False, True])
def test_unknown_model(gw, key, mock, stream_flag):
    before = mock.stats()["requests"]
    r = post(gw, key, with_(model="no-such-model", stream=stream_flag))
    assert_anthropic_error(r, 404, "not_found_error", mentions="no-such-model")
    assert mock.stats()["requests"] == before


@pytest.mark.parametrize("header", ["x-api-key", "bearer"])
def test_bad_key(gw, mock, header):
    before = mock.stats()["requests"]
    r = post(gw, "sk-gw-not-a-real-key-000000000000", BASE, header=header)
    assert_anthropic_error(r, 401, "authentication_error")
    assert_gw_headers(r)
    r = post(gw, None, BASE)
    assert_anthropic_error(r, 401, "authentication_error")
    assert mock.stats()["requests"] == before


def test_body_too_large(gw, key, mock):
    before = mock.stats()["requests"]
    r = post(gw, key, msg_body("x" * (100 * 1024)))
    assert_anthropic_error(r, 413, "request_too_large")
    assert mock.stats()["requests"] == before


def test_wrong_method(gw, key):
    r = gw.request("GET", "/v1/messages", headers=anthropic_headers(key))
    assert_anthropic_error(r, 405, "invalid_request_error")


@pytest.mark.parametrize("stream_flag", [False, True])
def test_upstream_error_passed_on(gw, key, stream_flag):
    r = post(gw, key, msg_body("[[mock:status=500]] fail", stream=stream_flag))
    err = assert_anthropic_error(r, 500, "api_error")
    assert err["message"] == "mock error 500", err
    row = gw.usage_row(r.headers["x-request-id"])
    assert row["status"] == 500 and row["error"] == "upstream_http_500", row


@pytest.mark.parametrize("status,etype", [(400, "invalid_request_error"),
                                          (404, "not_found_error"),
                                          (429, "rate_limit_error"),
                                          (502, "api_error"),
                                          (529, "overloaded_error")])
def test_upstream_status_reshaped(gw, key, status, etype):
    r = post(gw, key, msg_body("[[mock:status=%d,retry_after=7]] no" % status))
    assert_anthropic_error(r, status, etype)
    assert r.headers.get("retry-after") == "7"


@pytest.mark.parametrize("status", [401, 403])
def test_upstream_credential_refusal(gw, key, status):
    # the provider refused the gateway's key, not the caller's: a 502
    r = post(gw, key, msg_body("[[mock:status=%d]] no" % status))
    assert_anthropic_error(r, 502, "api_error")
    assert "refused the gateway's credentials (HTTP %d)" % status in r.json()["error"]["message"]


@pytest.mark.parametrize("stream_flag", [False, True])
def test_upstream_refused(gw, key, stream_flag):
    r = post(gw, key, msg_body("anyone there", model="dead-model", stream=stream_flag))
    assert_anthropic_error(r, 502, "api_error", mentions="dead")


def test_upstream_timeout(gw, key):
    r = post(gw, key, msg_body("[[mock:hang]]", model="slow-model"))
    assert_anthropic_error(r, 504, "api_error")


def test_upstream_garbage(gw, key):
    r = post(gw, key, msg_body("[[mock:garbage]]"))
    assert_anthropic_error(r, 502, "api_error")


def test_stream_dropped_mid_way(gw, key):
    t0 = time.monotonic()
    s = stream(gw, key, msg_body("[[mock:words=10,drop_after=3]]", stream=True))
    assert s.status == 200
    assert time.monotonic() - t0 < 2.5 * SLOW
    names = s.names()
    assert names == EVENT_SEQUENCE_HEAD + ["content_block_delta"] * 3 + ["error"], names
    assert s.text() == "w1 w2 w3 "
    err = s.events[-1][2]
    assert err["type"] == "error" and err["error"]["type"] == "api_error", err
    assert err["error"]["message"], err
    row = gw.usage_row(s.headers["x-request-id"])
    assert row["stream"] == 1 and row["error"] == "upstream_stream_error", row
    # no usage from the provider: the gateway's count of the prompt (what
    # message_start said) and of the 9 bytes delivered (the upstream model
    # has no OpenAI encoding: one token per 4 bytes, rounded up)
    count = post(gw, key, msg_body("[[mock:words=10,drop_after=3]]"),
                 path="/v1/messages/count_tokens").json()["input_tokens"]
    assert s.events[0][2]["message"]["usage"]["input_tokens"] == count, s.events[0]
    assert row["prompt_tokens"] == count and row["completion_tokens"] == 3, row


def test_stream_garbage_event_is_skipped(gw, key):
    s = stream(gw, key, msg_body("odd [[mock:sse_garbage]]", stream=True))
    assert s.status == 200
    check_stream_shape(s, "gpt-4o-mini", 2)
    assert s.text() == "echo: odd"


def test_rate_limited(gw):
    k = gw.create_key("msg-rl", "--rpm", "1")["key"]
    assert post(gw, k, BASE).status == 200
    r = post(gw, k, BASE)
    assert_anthropic_error(r, 429, "rate_limit_error")
    assert int(r.headers["retry-after"]) > 0


def test_content_policy(make_gateway, mock):
    g = make_gateway(extra="content_policy: { blocked_patterns: [forbidden phrase] }\n")
    k = g.create_key("pol")["key"]
    r = post(g, k, with_(system="a Forbidden Phrase here"))
    assert_anthropic_error(r, 400, "invalid_request_error", mentions="content policy")


# ---------------------------------------------------------------------------
# count_tokens


def test_count_tokens(gw, key, mock):
    before = mock.stats()["requests"]
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "count these words"}]}
    r = post(gw, key, body, path="/v1/messages/count_tokens")
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("application/json")
    rid = assert_gw_headers(r)
    doc = r.json()
    assert set(doc) == {"input_tokens"} and doc["input_tokens"] > 0, doc
    # a system prompt counts too; max_tokens is not needed
    more = post(gw, key, dict(body, system="and a long system prompt as well"),
                path="/v1/messages/count_tokens").json()
    assert more["input_tokens"] > doc["input_tokens"], (doc, more)
    # answered locally: no upstream call, no usage row (rows are written in order:
    # once a later request's row is there, the count's would be too)
    assert mock.stats()["requests"] == before
    later = post(gw, key, msg_body("after the count", model="echo"))
    gw.usage_row(later.headers["x-request-id"])
    assert gw.db_query("SELECT * FROM usage WHERE request_id = ?", (rid,)) == []


def test_count_tokens_errors(gw, key):
    path = "/v1/messages/count_tokens"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
    assert_anthropic_error(post(gw, None, body, path=path), 401, "authentication_error")
    assert_anthropic_error(post(gw, "sk-gw-nope-0000", body, path=path), 401,
                           "authentication_error")
    assert_anthropic_error(post(gw, key, dict(body, model="no-such-model"), path=path), 404,
                           "not_found_error")
    err = assert_anthropic_error(post(gw, key, {"model": "gpt-4o-mini"}, path=path), 400,
                                 "invalid_request_error")
    assert err["message"].startswith("messages:"), err
    r = gw.request("GET", path, headers=anthropic_headers(key))
    assert_anthropic_error(r, 405, "invalid_request_error")


def test_chat_errors_keep_openai_shape(gw, key):
    """The OpenAI front door is unchanged by the Anthropic one."""
    r = gw.request("POST", "/v1/chat/completions", key=key,
                   body={"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]})
    assert r.status == 404
    err = r.json()["error"]
    assert err["code"] == "model_not_found" and err["param"] == "model", err
    r = gw.chat(key, "[[mock:status=503]] x")
    assert r.status == 503 and r.json()["error"]["code"] == "mock_503", r
