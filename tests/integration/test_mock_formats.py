"""The mock upstream's provider formats, proven directly over HTTP before the
gateway relies on them: Anthropic Messages, the Gemini API, Bedrock Runtime
Converse (SigV4 checked by the mock against an independent signer written
here, the binary event stream decoded and CRC-checked here), Google's OAuth
token endpoint (a JWT signed here with the test service account's key) and
Vertex AI's Anthropic and Gemini models. Also the common directives (tool=,
stop=max, cached=, cache_write=, overloaded, exception, drop_after,
sse_garbage, status=) in each format's shape. Python standard library only."""

import base64
import hashlib
import hmac
import json
import struct
import time
import urllib.parse
import zlib

import pytest

from conftest import ROOT, VERTEX_PUBLIC_KEY, http_request, words

PNG_1PX = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
           "RU5ErkJggg==")


# --------------------------------------------------------------------------
# helpers


def raw(port, method, path, body=None, headers=None):
    """One request; returns (status, headers, body bytes, complete). A body
    cut off mid-way (drop_after) comes back with complete False."""
    r = http_request(port, method, path, body=body, headers=headers, partial=True)
    return r.status, r.headers, r.body, r.complete


def sse_events(data, sep=b"\n\n"):
    """[(event name or None, data text)] of an SSE body."""
    out = []
    for block in data.split(sep):
        if not block.strip():
            continue
        name, lines = None, []
        for line in block.decode().replace("\r\n", "\n").split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                lines.append(line[6:])
        out.append((name, "\n".join(lines)))
    return out


def es_frames(data):
    """[(headers dict, payload bytes, crc_ok)] of an AWS event stream."""
    frames, off = [], 0
    while off < len(data):
        total, hlen, pcrc = struct.unpack(">III", data[off:off + 12])
        assert zlib.crc32(data[off:off + 8]) == pcrc, "bad prelude CRC"
        msg = data[off:off + total]
        assert len(msg) == total, "truncated frame"
        ok = zlib.crc32(msg[:-4]) == struct.unpack(">I", msg[-4:])[0]
        headers, h = {}, msg[12:12 + hlen]
        while h:
            n = h[0]
            name = h[1:1 + n].decode()
            assert h[1 + n] == 7, "header %s is not a string" % name
            vlen = struct.unpack(">H", h[2 + n:4 + n])[0]
            headers[name] = h[4 + n:4 + n + vlen].decode()
            h = h[4 + n + vlen:]
        frames.append((headers, msg[12 + hlen:-4], ok))
        off += total
    return frames


def last_record(mock):
    return mock.requests()[-1]


def clear_faults(mock):
    http_request(mock.port, "DELETE", "/_mock/faults")


# --------------------------------------------------------------------------
# Anthropic Messages

ANTH_HEADERS = {"x-api-key": "sk-ant-mock", "anthropic-version": "2023-06-01"}


def anth(mock, body, headers=None):
    return raw(mock.port, "POST", "/v1/messages", body,
               ANTH_HEADERS if headers is None else headers)


def anth_body(text, **extra):
    body = {"model": "claude-mock", "max_tokens": 64,
            "messages": [{"role": "user", "content": text}]}
    body.update(extra)
    return body


def anth_error(status_body, status, etype):
    st, _, body, _ = status_body
    assert st == status, (st, body)
    doc = json.loads(body)
    assert doc["type"] == "error" and doc["error"]["type"] == etype, doc
    assert doc["error"]["message"], doc
    return doc["error"]["message"]


def test_anthropic_message(mock):
    r = anth(mock, anth_body("hello there [[mock:cached=1,cache_write=2]]",
                             system=[{"type": "text", "text": "be brief",
                                      "cache_control": {"type": "ephemeral"}}]))
    assert r[0] == 200, r
    doc = json.loads(r[2])
    assert doc["id"].startswith("msg_mock_") and doc["type"] == "message"
    assert doc["role"] == "assistant" and doc["model"] == "claude-mock"
    assert doc["content"] == [{"type": "text", "text": "echo: hello there"}]
    assert doc["stop_reason"] == "end_turn" and doc["stop_sequence"] is None
    prompt = words("hello there [[mock:cached=1,cache_write=2]]") + words("be brief")
    assert doc["usage"] == {"input_tokens": prompt - 3, "cache_creation_input_tokens": 2,
                            "cache_read_input_tokens": 1, "output_tokens": 3}
    rec = last_record(mock)
    assert rec["path"] == "/v1/messages" and rec["headers"]["x-api-key"] == "sk-ant-mock"


def test_anthropic_auth_and_version(mock):
    anth_error(anth(mock, anth_body("hi"), {"anthropic-version": "2023-06-01"}), 401,
               "authentication_error")
    r = anth(mock, anth_body("hi"), {"authorization": "Bearer tok",
                                     "anthropic-version": "2023-06-01"})
    assert r[0] == 200, r
    msg = anth_error(anth(mock, anth_body("hi"), {"x-api-key": "k"}), 400,
                     "invalid_request_error")
    assert "anthropic-version" in msg


@pytest.mark.parametrize("mutate,field", [
    (lambda b: b.update(frequency_penalty=1), "frequency_penalty"),
    (lambda b: b.update(thinking={"type": "enabled", "budget_tokens": 1024}), "thinking"),
    (lambda b: b.pop("max_tokens"), "max_tokens"),
    (lambda b: b.update(max_tokens=0), "max_tokens"),
    (lambda b: b.pop("model"), "model"),
    (lambda b: b.update(messages=[]), "messages"),
    (lambda b: b.update(temperature=1.5), "temperature"),
    (lambda b: b["messages"].__setitem__(0, {"role": "system", "content": "x"}), "role"),
    (lambda b: b["messages"][0].update(name="bob"), "name"),
    (lambda b: b["messages"][0].update(content=[{"type": "image_url", "image_url": "x"}]),
     "image_url"),
    (lambda b: b["messages"][0].update(content=[{"type": "image", "source": {
        "type": "base64", "media_type": "image/png", "data": "not base64!"}}]), "data"),
    (lambda b: b["messages"][0].update(content=[{"type": "image", "source": {
        "type": "base64", "media_type": "image/bmp", "data": PNG_1PX}}]), "media_type"),
    (lambda b: b.update(tools=[{"name": "bad name", "input_schema": {"type": "object"}}]),
     "name"),
    (lambda b: b.update(tools=[{"name": "f", "parameters": {"type": "object"}}]),
     "parameters"),
    (lambda b: b.update(tool_choice={"type": "required"}), "tool_choice"),
    (lambda b: b["messages"].__setitem__(0, {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}]}), "tool_use_id"),
])
def test_anthropic_rejects(mock, mutate, field):
    body = anth_body("hi")
    mutate(body)
    msg = anth_error(anth(mock, body), 400, "invalid_request_error")
    assert field in msg, msg


def test_anthropic_tool_loop_and_images(mock):
    body = anth_body("x", tools=[{"name": "lookup", "description": "d",
                                  "input_schema": {"type": "object", "properties": {}}}],
                     tool_choice={"type": "auto"})
    body["messages"] = [
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": PNG_1PX}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "calling"},
            {"type": "tool_use", "id": "toolu_01", "name": "lookup", "input": {"q": 1}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": [
                {"type": "text", "text": "forty two"}]},
            {"type": "text", "text": "and now?"}]},
    ]
    r = anth(mock, body)
    assert r[0] == 200, r
    doc = json.loads(r[2])
    assert doc["content"][0]["text"] == "echo: and now?"
    assert doc["usage"]["input_tokens"] == words("look calling forty two and now?")
    # tool_result blocks come first; tools must be defined; every tool_use is answered
    results = body["messages"][2]["content"]
    body["messages"][2]["content"] = results[::-1]
    msg = anth_error(anth(mock, body), 400, "invalid_request_error")
    assert "messages.2.content.1" in msg and "tool_result" in msg, msg
    body["messages"][2]["content"] = results
    no_tools = {k: v for k, v in body.items() if k not in ("tools", "tool_choice")}
    msg = anth_error(anth(mock, no_tools), 400, "invalid_request_error")
    assert msg.startswith("tools"), msg
    body["messages"][2]["content"] = [{"type": "text", "text": "ignored the tool"}]
    msg = anth_error(anth(mock, body), 400, "invalid_request_error")
    assert "toolu_01" in msg


def test_anthropic_tool_and_max(mock):
    doc = json.loads(anth(mock, anth_body("find it [[mock:tool=lookup]]"))[2])
    assert doc["stop_reason"] == "tool_use"
    assert doc["content"][0] == {"type": "text", "text": "Calling lookup."}
    tu = doc["content"][1]
    assert tu["type"] == "tool_use" and tu["name"] == "lookup"
    assert tu["id"].startswith("toolu_mock_") and tu["input"] == {"text": "echo: find it"}
    assert doc["usage"]["output_tokens"] == 2 + words("echo: find it")
    doc = json.loads(anth(mock, anth_body("long [[mock:stop=max]]"))[2])
    assert doc["stop_reason"] == "max_tokens"


def test_anthropic_stream(mock):
    st, h, data, done = anth(mock, anth_body("one two three [[mock:tool=calc,cached=2]]",
                                             stream=True))
    assert st == 200 and done and h["content-type"].startswith("text/event-stream")
    evs = sse_events(data)
    names = [n for n, _ in evs]
    docs = [json.loads(d) for _, d in evs]
    assert all(d["type"] == n for n, d in zip(names, docs)), evs
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    start = docs[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["output_tokens"] == 1 and start["usage"]["cache_read_input_tokens"] == 2
    assert start["usage"]["input_tokens"] == words("one two three [[mock:tool=calc,cached=2]]") - 2
    text = "".join(d["delta"]["text"] for d in docs
                   if d["type"] == "content_block_delta" and d["index"] == 0)
    assert text == "Calling calc."
    frags = [d["delta"]["partial_json"] for d in docs
             if d["type"] == "content_block_delta" and d["index"] == 1]
    assert len(frags) >= 2 and all(d["delta"]["type"] == "input_json_delta" for d in docs
                                   if d["type"] == "content_block_delta" and d["index"] == 1)
    assert json.loads("".join(frags)) == {"text": "echo: one two three"}
    tool_start = [d for d in docs if d["type"] == "content_block_start" and d["index"] == 1][0]
    assert tool_start["content_block"]["name"] == "calc" and tool_start["content_block"]["input"] == {}
    assert [d["index"] for d in docs if d["type"] == "content_block_stop"] == [0, 1]
    delta = docs[-2]
    assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 2 + words("echo: one two three")


def test_anthropic_stream_faults(mock):
    st, _, data, done = anth(mock, anth_body("a b c d [[mock:overloaded]]", stream=True))
    evs = sse_events(data)
    assert st == 200 and done
    deltas = [n for n, _ in evs if n == "content_block_delta"]
    assert len(deltas) == 1 and evs[-1][0] == "error", evs
    assert json.loads(evs[-1][1])["error"]["type"] == "overloaded_error"
    anth_error(anth(mock, anth_body("x [[mock:overloaded]]")), 529, "overloaded_error")

    st, _, data, done = anth(mock, anth_body("a b c d e [[mock:drop_after=2]]", stream=True))
    assert st == 200 and not done
    names = [n for n, _ in sse_events(data)]
    assert names.count("content_block_delta") == 2 and "message_stop" not in names

    st, _, data, _ = anth(mock, anth_body("a b [[mock:sse_garbage]]", stream=True))
    bad = 0
    for _, d in sse_events(data):
        try:
            json.loads(d)
        except ValueError:
            bad += 1
    assert bad == 1

    st, h, body, _ = anth(mock, anth_body("x [[mock:status=429,retry_after=3]]", stream=True))
    assert h.get("retry-after") == "3"
    anth_error((st, h, body, True), 429, "rate_limit_error")


def test_anthropic_control_fault_shape(mock):
    r = http_request(mock.port, "POST", "/_mock/faults", {"status": 503, "count": 1})
    assert r.status == 200, r
    try:
        anth_error(anth(mock, anth_body("hi")), 503, "api_error")
    finally:
        clear_faults(mock)


# --------------------------------------------------------------------------
# Gemini API

GEMINI_KEY = {"x-goog-api-key": "AIza-mock"}


def gem(mock, model, action, body, headers=None, query=""):
    return raw(mock.port, "POST", "/v1beta/models/%s:%s%s" % (model, action, query), body,
               GEMINI_KEY if headers is None else headers)


def gem_body(text, **extra):
    body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    body.update(extra)
    return body


def google_error(resp, status, code_name):
    st, _, body, _ = resp
    assert st == status, (st, body)
    err = json.loads(body)["error"]
    assert err["code"] == status and err["status"] == code_name and err["message"], err
    return err["message"]


def test_gemini_generate(mock):
    body = gem_body("hello gemini [[mock:cached=2]]",
                    systemInstruction={"parts": [{"text": "be terse"}]},
                    generationConfig={"temperature": 0.2, "maxOutputTokens": 50,
                                      "stopSequences": ["END"]},
                    safetySettings=[{"category": "HARM_CATEGORY_HARASSMENT",
                                     "threshold": "BLOCK_NONE"}])
    r = gem(mock, "gemini-2.0-flash", "generateContent", body)
    assert r[0] == 200, r
    doc = json.loads(r[2])
    cand = doc["candidates"][0]
    assert cand["content"] == {"parts": [{"text": "echo: hello gemini"}], "role": "model"}
    assert cand["finishReason"] == "STOP" and cand["index"] == 0
    p = words("hello gemini [[mock:cached=2]]") + words("be terse")
    assert doc["usageMetadata"] == {"promptTokenCount": p, "candidatesTokenCount": 3,
                                    "totalTokenCount": p + 3, "cachedContentTokenCount": 2}
    assert doc["modelVersion"] == "gemini-2.0-flash" and doc["responseId"].startswith("mock-")
    # snake_case is Google's JSON too; ?key= authenticates as well
    r = gem(mock, "gemini-2.0-flash", "generateContent",
            {"contents": [{"parts": [{"text": "snake"}]}],
             "generation_config": {"max_output_tokens": 5}}, headers={}, query="?key=AIza-q")
    assert r[0] == 200, r
    assert "usageMetadata" in json.loads(r[2])
    assert last_record(mock)["path"] == "/v1beta/models/gemini-2.0-flash:generateContent?key=AIza-q"


def test_gemini_auth(mock):
    google_error(gem(mock, "gemini-2.0-flash", "generateContent", gem_body("hi"), headers={}),
                 403, "PERMISSION_DENIED")


@pytest.mark.parametrize("body,field", [
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "temperature": 1}, "temperature"),
    ({"contents": []}, "contents"),
    ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "role"),
    ({"contents": [{"role": "user", "parts": []}]}, "parts"),
    ({"contents": [{"role": "user", "parts": [{"type": "text", "text": "x"}]}]}, "type"),
    ({"contents": [{"role": "user", "parts": [{}]}]}, "data"),
    ({"contents": [{"role": "user", "parts": [{"text": "x", "inlineData": {
        "mimeType": "image/png", "data": PNG_1PX}}]}]}, "oneof"),
    ({"contents": [{"role": "user", "parts": [{"inlineData": {
        "mimeType": "image/png", "data": "***"}}]}]}, "inlineData"),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}],
      "generationConfig": {"max_tokens": 5}}, "max_tokens"),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}],
      "tools": [{"functionDeclarations": [{"name": "f", "parameters": {
          "type": "object", "additionalProperties": False}}]}]}, "additionalProperties"),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}],
      "tools": [{"functionDeclarations": [{"name": "f", "parameters": {
          "type": ["string", "null"]}}]}]}, "type"),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}],
      "tools": [{"functionDeclarations": [{"name": "9bad"}]}]}, "function name"),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}],
      "toolConfig": {"functionCallingConfig": {"mode": "AUTO",
                                               "allowedFunctionNames": ["f"]}}}, "ANY"),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]},
                   {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                   {"role": "user", "parts": [{"text": "no response"}]}]}, "function response"),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]},
                   {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                   {"role": "user", "parts": [{"functionResponse": {
                       "name": "f", "response": "42"}}]}]}, "response"),
])
def test_gemini_rejects(mock, body, field):
    msg = google_error(gem(mock, "gemini-2.0-flash", "generateContent", body), 400,
                       "INVALID_ARGUMENT")
    assert field in msg, msg


def test_gemini_function_calling_turns(mock):
    body = {"contents": [
        {"role": "user", "parts": [{"text": "weather?"},
                                   {"inlineData": {"mimeType": "image/png", "data": PNG_1PX}},
                                   {"fileData": {"mimeType": "image/png",
                                                 "fileUri": "gs://b/a.png"}}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather",
                                                      "args": {"city": "Oslo"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                         "response": {"t": 3}}},
                                   {"text": "thanks"}]}],
        "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "d",
                                             "parameters": {"type": "OBJECT", "properties": {
                                                 "city": {"type": "STRING"}},
                                                 "required": ["city"]}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                                 "allowedFunctionNames": ["get_weather"]}}}
    r = gem(mock, "gemini-2.0-flash", "generateContent", body)
    assert r[0] == 200, r
    assert json.loads(r[2])["candidates"][0]["content"]["parts"] == [{"text": "echo: thanks"}]


def test_gemini_tool_and_max(mock):
    doc = json.loads(gem(mock, "g", "generateContent", gem_body("go [[mock:tool=fetch]]"))[2])
    cand = doc["candidates"][0]
    assert cand["finishReason"] == "STOP"
    assert cand["content"]["parts"] == [
        {"text": "Calling fetch."},
        {"functionCall": {"name": "fetch", "args": {"text": "echo: go"}}}]
    doc = json.loads(gem(mock, "g", "generateContent", gem_body("go [[mock:stop=max]]"))[2])
    assert doc["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_gemini_stream(mock):
    st, h, data, done = gem(mock, "gemini-2.0-flash", "streamGenerateContent",
                            gem_body("a b c [[mock:tool=fetch,cached=1]]"), query="?alt=sse")
    assert st == 200 and done and h["content-type"].startswith("text/event-stream")
    assert data.endswith(b"\r\n\r\n")
    chunks = [json.loads(d) for _, d in sse_events(data, b"\r\n\r\n")]
    parts = [c["candidates"][0]["content"]["parts"] for c in chunks]
    assert parts[0] == [{"text": "Calling "}] and parts[1] == [{"text": "fetch."}]
    assert parts[2] == [{"functionCall": {"name": "fetch", "args": {"text": "echo: a b c"}}}]
    assert all("finishReason" not in c["candidates"][0] and "usageMetadata" not in c
               for c in chunks[:-1])
    last = chunks[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    p = words("a b c [[mock:tool=fetch,cached=1]]")
    assert last["usageMetadata"]["promptTokenCount"] == p
    assert last["usageMetadata"]["cachedContentTokenCount"] == 1
    assert last["usageMetadata"]["candidatesTokenCount"] == 2 + 4
    assert all(c["responseId"] == chunks[0]["responseId"] for c in chunks)
    # streaming is asked for with alt=sse
    google_error(gem(mock, "g", "streamGenerateContent", gem_body("x")), 400, "INVALID_ARGUMENT")
    # drop_after and status faults
    st, _, data, done = gem(mock, "g", "streamGenerateContent",
                            gem_body("a b c d [[mock:drop_after=2]]"), query="?alt=sse")
    assert st == 200 and not done and len(sse_events(data, b"\r\n\r\n")) == 2
    google_error(gem(mock, "g", "streamGenerateContent", gem_body("x [[mock:status=429]]"),
                     query="?alt=sse"), 429, "RESOURCE_EXHAUSTED")


def test_gemini_embeddings(mock):
    r = gem(mock, "text-embedding-004", "embedContent",
            {"content": {"parts": [{"text": "hello"}, {"text": "world"}]},
             "taskType": "RETRIEVAL_QUERY"})
    assert r[0] == 200, r
    v = json.loads(r[2])["embedding"]["values"]
    assert len(v) == 8 and abs(sum(x * x for x in v) - 1) < 1e-4
    r2 = gem(mock, "text-embedding-004", "embedContent",
             {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello world"}]}})
    assert json.loads(r2[2])["embedding"]["values"] == v  # parts joined by one space
    r = gem(mock, "text-embedding-004", "batchEmbedContents", {"requests": [
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello world"}]}},
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "x"}]},
         "outputDimensionality": 3}]})
    assert r[0] == 200, r
    embs = json.loads(r[2])["embeddings"]
    assert embs[0]["values"] == v and len(embs[1]["values"]) == 3
    google_error(gem(mock, "text-embedding-004", "batchEmbedContents", {"requests": [
        {"model": "models/other", "content": {"parts": [{"text": "x"}]}}]}), 400,
        "INVALID_ARGUMENT")
    google_error(gem(mock, "text-embedding-004", "embedContent",
                     {"content": {"parts": [{"text": "x"}]}, "dimensions": 3}), 400,
                 "INVALID_ARGUMENT")


def test_google_unknown_url(mock):
    google_error(raw(mock.port, "POST", "/v1beta/models/g:countTokens", gem_body("x"),
                     GEMINI_KEY), 404, "NOT_FOUND")


# --------------------------------------------------------------------------
# Bedrock Runtime (SigV4 signed here, independently of both C signers)

AKID = "AKIDMOCKEXAMPLE"
SECRET = "mock/Secret/KEY+example"
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"


def sigv4(mock, method, path, body, akid=AKID, secret=SECRET, amz_date=None, token=None,
          sign_token=True, encode_path=True, service="bedrock", region="us-east-1"):
    """Headers of a request signed the way AWS SDKs sign non-S3 requests."""
    amz_date = amz_date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    host = "127.0.0.1:%d" % mock.port
    headers = {"host": host, "x-amz-date": amz_date, "content-type": "application/json"}
    if token:
        headers["x-amz-security-token"] = token
    signed = sorted(h for h in headers if sign_token or h != "x-amz-security-token")
    p, _, q = path.partition("?")
    canon_path = urllib.parse.quote(p, safe="/~") if encode_path else p
    pairs = sorted((urllib.parse.quote(urllib.parse.unquote(k), safe="~"),
                    urllib.parse.quote(urllib.parse.unquote(v), safe="~"))
                   for k, _, v in (x.partition("=") for x in q.split("&") if x))
    canon = "\n".join([method, canon_path, "&".join("%s=%s" % kv for kv in pairs)]
                      + ["%s:%s" % (h, headers[h]) for h in signed]
                      + ["", ";".join(signed), hashlib.sha256(body).hexdigest()])
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(canon.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        akid, scope, ";".join(signed), sig)
    return headers


def bedrock(mock, body, stream=False, model=MODEL_ID, **sign):
    path = "/model/%s/%s" % (urllib.parse.quote(model, safe=""),
                             "converse-stream" if stream else "converse")
    data = json.dumps(body).encode()
    return raw(mock.port, "POST", path, data, sigv4(mock, "POST", path, data, **sign))


def br_body(text, **extra):
    body = {"messages": [{"role": "user", "content": [{"text": text}]}]}
    body.update(extra)
    return body


def br_error(resp, status, etype):
    st, h, body, _ = resp
    assert st == status, (st, body)
    assert h.get("x-amzn-errortype") == etype, (h, body)
    msg = json.loads(body)["message"]
    assert msg
    return msg


def test_bedrock_converse(mock):
    body = br_body("hello bedrock [[mock:cached=1,cache_write=1]]",
                   system=[{"text": "be brief"}, {"cachePoint": {"type": "default"}}],
                   inferenceConfig={"maxTokens": 100, "temperature": 0.5, "topP": 0.9,
                                    "stopSequences": ["END"]},
                   additionalModelRequestFields={"top_k": 5})
    r = bedrock(mock, body)
    assert r[0] == 200, r
    doc = json.loads(r[2])
    assert doc["output"]["message"] == {"role": "assistant",
                                        "content": [{"text": "echo: hello bedrock"}]}
    assert doc["stopReason"] == "end_turn"
    p = words("hello bedrock [[mock:cached=1,cache_write=1]]") + words("be brief")
    assert doc["usage"] == {"inputTokens": p - 2, "outputTokens": 3, "totalTokens": p + 3,
                            "cacheReadInputTokens": 1, "cacheWriteInputTokens": 1}
    assert isinstance(doc["metrics"]["latencyMs"], int)
    rec = last_record(mock)
    assert rec["path"] == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", rec
    # an ARN with an encoded '/' stays one model id
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-v1:0"
    assert bedrock(mock, br_body("hi"), model=arn)[0] == 200


def test_bedrock_sigv4(mock):
    body = br_body("hi")
    path = "/model/%s/converse" % urllib.parse.quote(MODEL_ID, safe="")
    data = json.dumps(body).encode()
    br_error(raw(mock.port, "POST", path, data, {"content-type": "application/json"}), 403,
             "MissingAuthenticationTokenException")
    br_error(bedrock(mock, body, akid="AKIDOTHER"), 403, "UnrecognizedClientException")
    br_error(bedrock(mock, body, secret="wrong/secret"), 403, "InvalidSignatureException")
    msg = br_error(bedrock(mock, body, encode_path=False), 403, "InvalidSignatureException")
    assert "%253A" in msg, msg  # the mock says what it signed
    old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 600))
    br_error(bedrock(mock, body, amz_date=old), 403, "InvalidSignatureException")
    br_error(bedrock(mock, body, service="bedrock-runtime"), 403, "InvalidSignatureException")
    assert bedrock(mock, body, token="FwoGZXIvYXdz//token+")[0] == 200
    br_error(bedrock(mock, body, token="FwoGZXIvYXdz//token+", sign_token=False), 403,
             "IncompleteSignatureException")
    # a query string is signed in its canonical (sorted, re-encoded) form
    qpath = path + "?b=2&a=x%2Fy&a=1"
    assert raw(mock.port, "POST", qpath, data, sigv4(mock, "POST", qpath, data))[0] == 200
    # the body is signed too
    headers = sigv4(mock, "POST", path, data)
    br_error(raw(mock.port, "POST", path, data.replace(b"hi", b"ho"), headers), 403,
             "InvalidSignatureException")


@pytest.mark.parametrize("body,words_in_msg", [
    (br_body("x", temperature=0.5), "temperature"),
    (br_body("x", inferenceConfig={"topK": 5}), "topK"),
    ({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}, "start with a user"),
    ({"messages": [{"role": "user", "content": [{"text": "a"}]},
                   {"role": "user", "content": [{"text": "b"}]}]}, "alternate"),
    (br_body("   "), "blank"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}, "type"),
    ({"messages": [{"role": "user", "content": [{"image": {"format": "bmp", "source": {
        "bytes": PNG_1PX}}}]}]}, "format"),
    ({"messages": [{"role": "user", "content": [{"text": "x"}]},
                   {"role": "assistant", "content": [{"toolUse": {
                       "toolUseId": "t1", "name": "f", "input": {}}}]},
                   {"role": "user", "content": [{"toolResult": {
                       "toolUseId": "t1", "content": [{"text": "42"}]}}]}]}, "toolConfig"),
    (br_body("x", toolConfig={"tools": [{"toolSpec": {"name": "bad name", "inputSchema": {
        "json": {"type": "object"}}}}]}), "toolSpec.name"),
    (br_body("x", toolConfig={"tools": [{"toolSpec": {"name": "f", "inputSchema": {
        "type": "object"}}}]}), "inputSchema"),
])
def test_bedrock_rejects(mock, body, words_in_msg):
    msg = br_error(bedrock(mock, body), 400, "ValidationException")
    assert words_in_msg in msg, msg


def test_bedrock_tool_loop(mock):
    tools = {"tools": [{"toolSpec": {"name": "f", "description": "d", "inputSchema": {
        "json": {"type": "object"}}}}], "toolChoice": {"auto": {}}}
    body = {"messages": [
        {"role": "user", "content": [{"text": "look"}, {"image": {"format": "png", "source": {
            "bytes": PNG_1PX}}}]},
        {"role": "assistant", "content": [{"text": "calling"}, {"toolUse": {
            "toolUseId": "tooluse_1", "name": "f", "input": {"a": 1}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_1", "content": [
            {"json": {"v": 42}}, {"text": "forty two"}], "status": "success"}},
            {"text": "so?"}]}],
        "toolConfig": tools}
    r = bedrock(mock, body)
    assert r[0] == 200, r
    doc = json.loads(r[2])
    assert doc["output"]["message"]["content"] == [{"text": "echo: so?"}]
    assert doc["usage"]["inputTokens"] == words("look calling forty two so?")
    body["messages"][2]["content"] = [{"text": "forgot the result"}]
    br_error(bedrock(mock, body), 400, "ValidationException")


def test_bedrock_tool_and_max(mock):
    doc = json.loads(bedrock(mock, br_body("go [[mock:tool=fetch]]"))[2])
    assert doc["stopReason"] == "tool_use"
    content = doc["output"]["message"]["content"]
    assert content[0] == {"text": "Calling fetch."}
    tu = content[1]["toolUse"]
    assert tu["name"] == "fetch" and tu["input"] == {"text": "echo: go"}
    assert tu["toolUseId"].startswith("tooluse_mock_")
    assert "cacheReadInputTokens" not in doc["usage"]
    doc = json.loads(bedrock(mock, br_body("go [[mock:stop=max]]"))[2])
    assert doc["stopReason"] == "max_tokens"


def test_bedrock_stream(mock):
    st, h, data, done = bedrock(mock, br_body("one two [[mock:tool=calc,cached=1]]"), stream=True)
    assert st == 200 and done, (st, data[:200])
    assert h["content-type"] == "application/vnd.amazon.eventstream"
    frames = es_frames(data)
    assert all(ok for _, _, ok in frames)
    for hd, payload, _ in frames:
        assert hd[":message-type"] == "event" and hd[":content-type"] == "application/json"
        assert isinstance(json.loads(payload).get("p"), str)
    events = [(hd[":event-type"], json.loads(p)) for hd, p, _ in frames]
    kinds = [k for k, _ in events]
    assert kinds[0] == "messageStart" and events[0][1]["role"] == "assistant"
    assert kinds[-2:] == ["messageStop", "metadata"]
    text = "".join(e["delta"]["text"] for k, e in events
                   if k == "contentBlockDelta" and e["contentBlockIndex"] == 0)
    assert text == "Calling calc."
    start = [e for k, e in events if k == "contentBlockStart"]
    assert len(start) == 1 and start[0]["contentBlockIndex"] == 1
    assert start[0]["start"]["toolUse"]["name"] == "calc"
    frags = [e["delta"]["toolUse"]["input"] for k, e in events
             if k == "contentBlockDelta" and e["contentBlockIndex"] == 1]
    assert len(frags) >= 2 and json.loads("".join(frags)) == {"text": "echo: one two"}
    assert [e["contentBlockIndex"] for k, e in events if k == "contentBlockStop"] == [0, 1]
    assert events[-2][1]["stopReason"] == "tool_use"
    meta = events[-1][1]
    p = words("one two [[mock:tool=calc,cached=1]]")
    assert meta["usage"]["inputTokens"] == p - 1 and meta["usage"]["cacheReadInputTokens"] == 1
    assert meta["usage"]["totalTokens"] == p + 2 + 3
    assert "latencyMs" in meta["metrics"]


def test_bedrock_stream_faults(mock):
    st, _, data, done = bedrock(mock, br_body("a b c [[mock:exception]]"), stream=True)
    frames = es_frames(data)
    assert st == 200 and done
    deltas = [f for f in frames if f[0].get(":event-type") == "contentBlockDelta"]
    last = frames[-1][0]
    assert len(deltas) == 1 and last[":message-type"] == "exception", frames
    assert last[":exception-type"] == "throttlingException"
    assert json.loads(frames[-1][1])["message"]
    br_error(bedrock(mock, br_body("x [[mock:exception]]")), 429, "ThrottlingException")

    st, _, data, _ = bedrock(mock, br_body("a b [[mock:sse_garbage]]"), stream=True)
    assert [ok for _, _, ok in es_frames(data)].count(False) == 1

    st, _, data, done = bedrock(mock, br_body("a b c d [[mock:drop_after=2]]"), stream=True)
    assert st == 200 and not done
    kinds = [f[0][":event-type"] for f in es_frames(data)]
    assert kinds.count("contentBlockDelta") == 2 and "messageStop" not in kinds

    st, _, data, _ = bedrock(mock, br_body("a [[mock:no_usage]]"), stream=True)
    assert "metadata" not in [f[0][":event-type"] for f in es_frames(data)]
    br_error(bedrock(mock, br_body("x [[mock:status=429]]"), stream=True), 429,
             "ThrottlingException")


def test_bedrock_unknown_operation(mock):
    path = "/model/%s/invoke" % urllib.parse.quote(MODEL_ID, safe="")
    data = b"{}"
    br_error(raw(mock.port, "POST", path, data, sigv4(mock, "POST", path, data)), 404,
             "UnknownOperationException")


# --------------------------------------------------------------------------
# Google OAuth and Vertex AI

SA_FILE = ROOT / "tests" / "fixtures" / "vertex-sa.json"
needs_key = pytest.mark.skipif(not (SA_FILE.exists() and VERTEX_PUBLIC_KEY.exists()),
                               reason="the Vertex test service account is missing")
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def _der(buf, off):
    """(value bytes, next offset) of the DER TLV at off."""
    n = buf[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[off:off + k], "big")
        off += k
    return buf[off:off + n], off + n


def _rsa_key(pem):
    """(n, d) of a PKCS#8 RSA private key."""
    der = base64.b64decode("".join(l for l in pem.splitlines() if "-----" not in l))
    info, _ = _der(der, 0)
    _, off = _der(info, 0)          # version
    _, off = _der(info, off)        # algorithm
    octets, _ = _der(info, off)
    rsa, _ = _der(octets, 0)
    ints, off = [], 0
    while off < len(rsa):
        v, off = _der(rsa, off)
        ints.append(int.from_bytes(v, "big"))
    return ints[1], ints[3]


def _b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(mock, **claims):
    """An RS256 assertion signed with the test service account's key."""
    sa = json.loads(SA_FILE.read_text())
    n, d = _rsa_key(sa["private_key"])
    now = int(time.time())
    body = {"iss": sa["client_email"], "scope": SCOPE,
            "aud": "http://127.0.0.1:%d/token" % mock.port, "iat": now, "exp": now + 3600}
    body.update(claims)
    head = {"alg": "RS256", "typ": "JWT", "kid": sa.get("private_key_id", "")}
    signing = (_b64url(json.dumps(head).encode()) + "." + _b64url(json.dumps(body).encode()))
    k = (n.bit_length() + 7) // 8
    info = bytes.fromhex("3031300d060960864801650304020105000420")
    info += hashlib.sha256(signing.encode()).digest()
    em = b"\x00\x01" + b"\xff" * (k - 3 - len(info)) + b"\x00" + info
    sig = pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")
    return signing + "." + _b64url(sig)


def token_request(mock, assertion, grant="urn:ietf:params:oauth:grant-type:jwt-bearer"):
    form = urllib.parse.urlencode({"grant_type": grant, "assertion": assertion})
    return raw(mock.port, "POST", "/token", form,
               {"content-type": "application/x-www-form-urlencoded"})


def access_token(mock):
    st, _, body, _ = token_request(mock, jwt(mock))
    assert st == 200, body
    return json.loads(body)["access_token"]


def oauth_error(resp, error):
    st, _, body, _ = resp
    assert st == 400, (st, body)
    doc = json.loads(body)
    assert doc["error"] == error and doc["error_description"], doc
    return doc["error_description"]


VERTEX = "/v1/projects/gw-test-project/locations/us-east5/publishers"


@needs_key
def test_oauth_token(mock):
    before = http_request(mock.port, "GET", "/_mock/config").json()["token_requests"]
    st, _, body, _ = token_request(mock, jwt(mock))
    assert st == 200, body
    doc = json.loads(body)
    assert doc["access_token"].startswith("ya29.mock-") and doc["token_type"] == "Bearer"
    assert doc["expires_in"] == 3600
    good = jwt(mock)
    oauth_error(token_request(mock, good[:-4] + ("AAAA" if good[-4:] != "AAAA" else "BBBB")),
                "invalid_grant")
    oauth_error(token_request(mock, jwt(mock, scope="https://example.com/x")), "invalid_scope")
    oauth_error(token_request(mock, jwt(mock, aud="https://example.com/")), "invalid_grant")
    now = int(time.time())
    oauth_error(token_request(mock, jwt(mock, iat=now - 7200, exp=now - 3600)), "invalid_grant")
    oauth_error(token_request(mock, jwt(mock, exp=now + 7200)), "invalid_grant")
    oauth_error(token_request(mock, good, grant="client_credentials"), "unsupported_grant_type")
    oauth_error(token_request(mock, "not.a.jwt"), "invalid_grant")
    after = http_request(mock.port, "GET", "/_mock/config").json()["token_requests"]
    assert after - before == 8


@needs_key
def test_oauth_expiry_setting(mock):
    r = http_request(mock.port, "POST", "/_mock/config", {"token_expires_in": 1})
    assert r.status == 200 and r.json()["token_expires_in"] == 1, r
    try:
        st, _, body, _ = token_request(mock, jwt(mock))
        doc = json.loads(body)
        assert doc["expires_in"] == 1
        path = VERTEX + "/google/models/gemini-2.0-flash:generateContent"
        hdr = {"authorization": "Bearer " + doc["access_token"]}
        assert raw(mock.port, "POST", path, gem_body("x"), hdr)[0] == 200
        time.sleep(1.2)
        google_error(raw(mock.port, "POST", path, gem_body("x"), hdr), 401, "UNAUTHENTICATED")
    finally:
        http_request(mock.port, "DELETE", "/_mock/config")
    assert http_request(mock.port, "GET", "/_mock/config").json()["token_expires_in"] == 3600
    assert http_request(mock.port, "POST", "/_mock/config", {"other": 1}).status == 400


@needs_key
def test_vertex_anthropic(mock):
    tok = {"authorization": "Bearer " + access_token(mock)}
    path = VERTEX + "/anthropic/models/claude-3-5-haiku@20241022:rawPredict"
    body = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 20,
            "messages": [{"role": "user", "content": "hi vertex [[mock:cache_write=1]]"}]}
    st, _, data, _ = raw(mock.port, "POST", path, body, tok)
    assert st == 200, data
    doc = json.loads(data)
    assert doc["model"] == "claude-3-5-haiku@20241022"
    assert doc["content"] == [{"type": "text", "text": "echo: hi vertex"}]
    assert doc["usage"]["cache_creation_input_tokens"] == 1
    google_error(raw(mock.port, "POST", path, body, {}), 401, "UNAUTHENTICATED")
    google_error(raw(mock.port, "POST", path, body, {"authorization": "Bearer ya29.mock-999999"}),
                 401, "UNAUTHENTICATED")
    anth_error(raw(mock.port, "POST", path, dict(body, model="claude"), tok), 400,
               "invalid_request_error")
    anth_error(raw(mock.port, "POST", path, {k: v for k, v in body.items()
                                             if k != "anthropic_version"}, tok),
               400, "invalid_request_error")
    google_error(raw(mock.port, "POST", path, dict(body, messages=[
        {"role": "user", "content": "x [[mock:status=429]]"}]), tok), 429, "RESOURCE_EXHAUSTED")
    # streamed
    spath = VERTEX + "/anthropic/models/claude-3-5-haiku@20241022:streamRawPredict"
    st, _, data, done = raw(mock.port, "POST", spath, dict(body, stream=True), tok)
    assert st == 200 and done
    names = [n for n, _ in sse_events(data)]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    anth_error(raw(mock.port, "POST", spath, body, tok), 400, "invalid_request_error")


@needs_key
def test_vertex_gemini(mock):
    tok = {"authorization": "Bearer " + access_token(mock)}
    path = VERTEX + "/google/models/gemini-2.0-flash-001:generateContent"
    body = gem_body("hi gemini", tools=[{"functionDeclarations": [{"name": "f", "parameters": {
        "type": "object", "additionalProperties": False, "properties": {}}}]}],
        labels={"team": "gw"})
    st, _, data, _ = raw(mock.port, "POST", path, body, tok)
    assert st == 200, data
    doc = json.loads(data)
    assert doc["candidates"][0]["content"]["parts"] == [{"text": "echo: hi gemini"}]
    assert doc["modelVersion"] == "gemini-2.0-flash-001"
    spath = VERTEX + "/google/models/gemini-2.0-flash-001:streamGenerateContent?alt=sse"
    st, _, data, done = raw(mock.port, "POST", spath, gem_body("a b"), tok)
    chunks = [json.loads(d) for _, d in sse_events(data, b"\r\n\r\n")]
    assert st == 200 and done and len(chunks) == 4  # "echo:", "a", "b", finish
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    google_error(raw(mock.port, "POST", path, gem_body("x"), GEMINI_KEY), 401, "UNAUTHENTICATED")


# --------------------------------------------------------------------------
# OpenAI additions and routing


def test_openai_tool_directive(mock):
    body = {"model": "m", "messages": [{"role": "user", "content": "go [[mock:tool=fetch]]"}]}
    doc = json.loads(raw(mock.port, "POST", "/v1/chat/completions", body)[2])
    choice = doc["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "fetch"
    assert json.loads(call["function"]["arguments"]) == {"text": "echo: go"}
    st, _, data, _ = raw(mock.port, "POST", "/v1/chat/completions", dict(body, stream=True))
    chunks = [json.loads(d) for _, d in sse_events(data) if d != "[DONE]"]
    args = [c["choices"][0]["delta"]["tool_calls"][0]["function"].get("arguments", "")
            for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
    assert len([a for a in args if a]) >= 2 and json.loads("".join(args)) == {"text": "echo: go"}
    body["messages"][0]["content"] = "x [[mock:stop=max]]"
    doc = json.loads(raw(mock.port, "POST", "/v1/chat/completions", body)[2])
    assert doc["choices"][0]["finish_reason"] == "length"


def test_unknown_urls(mock):
    st, _, body, _ = raw(mock.port, "GET", "/v1/messages", None, ANTH_HEADERS)
    assert st == 404 and json.loads(body)["error"]["type"] == "not_found_error"
    st, _, body, _ = raw(mock.port, "POST", "/v1/nothing", {})
    assert st == 404 and json.loads(body)["error"]["type"] == "invalid_request_error"
    st, _, body, _ = raw(mock.port, "GET", "/token", None)
    assert st == 404 and "error" in json.loads(body)
    google_error(raw(mock.port, "POST", VERTEX + "/meta/models/llama:rawPredict", {}), 404,
                 "NOT_FOUND")
