"""Non-streamed chat completions through the gateway: routing to the mock,
model substitution, provider key, the client's key never forwarded, the
gateway's headers, /v1/models, /health and the built-in echo provider."""

import json
import os
import threading

from conftest import (PROVIDER_KEY, assert_gw_headers, assert_openai_error, words)


def marker():
    return "m" + os.urandom(6).hex()


def test_chat_routed_to_mock(gw, key, mock):
    m = marker()
    text = "hello there %s" % m
    r = gw.chat(key, text)
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    doc = r.json()
    assert doc["object"] == "chat.completion"
    assert doc["choices"][0]["message"]["content"] == "echo: " + text
    assert doc["choices"][0]["message"]["role"] == "assistant"
    assert doc["choices"][0]["finish_reason"] == "stop"
    assert doc["usage"]["prompt_tokens"] == words(text)
    assert doc["usage"]["completion_tokens"] == words("echo: " + text)
    assert r.headers.get("x-gw-provider") == "mock", r.headers
    assert_gw_headers(r)

    recs = mock.find(m)
    assert len(recs) == 1, recs
    rec = recs[0]
    assert rec["method"] == "POST"
    assert rec["path"] == "/v1/chat/completions"
    sent = json.loads(rec["body"])
    assert sent["model"] == "mock-upstream-model"
    assert sent["messages"] == [{"role": "user", "content": text}]
    assert rec["headers"].get("authorization") == "Bearer " + PROVIDER_KEY


def test_client_key_never_forwarded(gw, key, mock):
    m = marker()
    r = gw.chat(key, "secret check " + m)
    assert r.status == 200, r
    recs = mock.find(m)
    assert len(recs) == 1, recs
    dump = json.dumps(recs[0])
    assert key not in dump, "the client's gateway key reached the upstream: %s" % dump
    # nor any part of it long enough to be its secret body
    assert key[len("sk-gw-"):] not in dump


def test_request_parameters_forwarded(gw, key, mock):
    m = marker()
    r = gw.chat(key, "params " + m, temperature=0.25, max_tokens=17, user="u-1",
                messages=[{"role": "system", "content": "be terse"},
                          {"role": "user", "content": "params " + m}])
    assert r.status == 200, r
    sent = json.loads(mock.find(m)[0]["body"])
    assert sent["temperature"] == 0.25
    assert sent["max_tokens"] == 17
    assert sent["user"] == "u-1"
    assert sent["messages"][0] == {"role": "system", "content": "be terse"}
    doc = r.json()
    assert doc["usage"]["prompt_tokens"] == words("be terse") + words("params " + m)


def test_body_relayed_byte_for_byte(gw, key, mock):
    # same format: the caller's bytes go upstream as written (spacing, key
    # order, number spelling, fields the gateway does not know), only the
    # model's value replaced
    m = marker()
    raw = ('{ "temperature" : 1.0,\n  "messages": [{"content": "bytes %s", "role": "user"}],'
           '\n  "model":"gpt-4o-mini" , "seed": 7, "x_vendor": {"a": [1, 2e0]} }' % m)
    r = gw.request("POST", "/v1/chat/completions", body=raw, key=key,
                   headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    sent = mock.find(m)[0]["body"]
    assert sent == raw.replace('"gpt-4o-mini"', '"mock-upstream-model"'), sent


def test_stream_body_relayed_with_usage_asked_for(gw, key, mock):
    # a stream gets stream_options.include_usage put first; the rest as written
    m = marker()
    raw = '{"stream": true, "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "s %s"}]}' % m
    r = gw.request("POST", "/v1/chat/completions", body=raw, key=key,
                   headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    sent = mock.find(m)[0]["body"]
    assert sent == ('{"stream_options":{"include_usage":true},' + raw[1:]).replace(
        '"gpt-4o-mini"', '"mock-upstream-model"'), sent
    # the caller did not ask for usage, so it sees no usage chunk
    assert '"usage":{' not in r.body.decode(), r.body


def test_body_with_doubtful_keys_is_reserialised(gw, key, mock):
    # an escaped key might spell "model": the body is rebuilt from its parse,
    # so exactly one model, the gateway's, goes upstream
    m = marker()
    raw = ('{"model": "gpt-4o-mini", "mod\\u0065l_note": 1, '
           '"messages": [{"role": "user", "content": "esc %s"}]}' % m)
    r = gw.request("POST", "/v1/chat/completions", body=raw, key=key,
                   headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    sent = json.loads(mock.find(m)[0]["body"])
    assert sent["model"] == "mock-upstream-model" and sent["model_note"] == 1, sent


def test_multipart_content(gw, key):
    msgs = [{"role": "user", "content": [{"type": "text", "text": "part one"},
                                         {"type": "text", "text": "part two"}]}]
    r = gw.chat(key, None, messages=msgs)
    assert r.status == 200, r
    assert r.json()["choices"][0]["message"]["content"] == "echo: part one part two"


def test_concurrent_requests_each_get_their_answer(gw, key):
    results = {}

    def one(i):
        text = "concurrent %d %s" % (i, marker())
        try:
            r = gw.chat(key, text)
            results[i] = (text, r.status, r.json()["choices"][0]["message"]["content"]
                          if r.status == 200 else r.body)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = (text, None, repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 24
    for i, (text, status, content) in results.items():
        assert status == 200, (i, status, content)
        assert content == "echo: " + text, (i, content)


def test_keep_alive_serves_several_requests(gw, key):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
    try:
        conn.connect()
        sock = conn.sock
        for i in range(5):
            body = json.dumps({"model": "gpt-4o-mini",
                               "messages": [{"role": "user", "content": "ka %d" % i}]})
            conn.request("POST", "/v1/chat/completions", body=body,
                         headers={"Authorization": "Bearer " + key,
                                  "Content-Type": "application/json"})
            r = conn.getresponse()
            data = json.loads(r.read())
            assert r.status == 200
            assert data["choices"][0]["message"]["content"] == "echo: ka %d" % i
            assert conn.sock is sock, "the gateway closed a keep-alive connection"
    finally:
        conn.close()


def test_request_ids_unique(gw, key):
    ids = set()
    for i in range(5):
        r = gw.chat(key, "id %d" % i)
        assert r.status == 200
        ids.add(assert_gw_headers(r))
    assert len(ids) == 5


def test_headers_on_every_response(gw, key):
    cases = [
        gw.request("GET", "/health"),
        gw.request("GET", "/v1/models", key=key),
        gw.chat(key, "headers"),
        gw.chat(None, "no key"),
        gw.request("POST", "/v1/chat/completions", b"{nope", key=key),
        gw.chat(key, "x", model="no-such-model"),
        gw.request("GET", "/no/such/path", key=key),
        gw.request("GET", "/v1/chat/completions", key=key),
    ]
    for r in cases:
        assert_gw_headers(r)


def test_health_needs_no_key(gw):
    r = gw.request("GET", "/health")
    assert r.status == 200, r
    assert_gw_headers(r)


def test_models_list(gw, key):
    r = gw.request("GET", "/v1/models", key=key)
    assert r.status == 200, r
    doc = r.json()
    assert doc["object"] == "list"
    ids = [m["id"] for m in doc["data"]]
    for name in ("gpt-4o-mini", "slow-model", "echo"):
        assert name in ids, ids
    assert len(ids) == len(set(ids)), ids
    for m in doc["data"]:
        assert m["object"] == "model", m


def test_models_needs_key(gw):
    r = gw.request("GET", "/v1/models")
    assert_openai_error(r, 401, code="invalid_api_key")
    assert_gw_headers(r)


def test_echo_model(gw, key, mock):
    before = mock.stats()["requests"]
    r = gw.chat(key, "ping the echo", model="echo")
    assert r.status == 200, r
    doc = r.json()
    assert doc["choices"][0]["message"]["content"] == "ping the echo"
    assert doc["model"] == "echo"
    assert doc["usage"]["prompt_tokens"] > 0
    assert doc["usage"]["completion_tokens"] > 0
    rid = assert_gw_headers(r)
    assert mock.stats()["requests"] == before, "the echo model reached the upstream"
    row = gw.usage_row(rid)
    assert row["model"] == "echo"
    assert row["status"] == 200
    assert row["prompt_tokens"] == doc["usage"]["prompt_tokens"]
    assert row["completion_tokens"] == doc["usage"]["completion_tokens"]


def test_large_non_streamed_answer(gw, key):
    r = gw.chat(key, "[[mock:words=50000]]")
    assert r.status == 200, r
    doc = r.json()
    assert doc["choices"][0]["message"]["content"] == " ".join(
        "w%d" % i for i in range(1, 50001))
    assert doc["usage"]["completion_tokens"] == 50000


def test_tool_call_conversation_accepted(gw, key, mock):
    """Messages an agent sends (assistant content null with tool_calls, a tool
    result) are valid input and reach the upstream unchanged."""
    m = marker()
    msgs = [
        {"role": "system", "content": "you can call tools"},
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "user", "content": "thanks " + m},
    ]
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    r = gw.chat(key, None, messages=msgs, tools=tools)
    assert r.status == 200, r
    assert r.json()["choices"][0]["message"]["content"] == "echo: thanks " + m
    sent = json.loads(mock.find(m)[0]["body"])
    assert sent["messages"] == msgs
    assert sent["tools"] == tools


def test_echo_provider_header(gw, key):
    r = gw.chat(key, "which provider", model="echo")
    assert r.status == 200
    assert r.headers.get("x-gw-provider") == "echo", r.headers


def test_stream_false_is_not_streamed(gw, key):
    r = gw.chat(key, "explicitly not streamed", stream=False)
    assert r.status == 200
    assert r.headers.get("content-type", "").startswith("application/json")
    assert r.json()["choices"][0]["message"]["content"] == "echo: explicitly not streamed"


def _raw_exchange(port, data, expect_responses=1, timeout=10):
    import socket
    import time
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        deadline = time.monotonic() + timeout
        def complete():
            return (out.count(b"HTTP/1.1 ") >= expect_responses
                    and out.rstrip(b"\n").endswith(b"}"))
        while not complete():
            if time.monotonic() > deadline:
                break
            b = s.recv(65536)
            if not b:
                break
            out += b
    finally:
        s.close()
    return out


def test_curl_style_form_content_type(gw, key):
    """`curl -d '{...}'` sends application/x-www-form-urlencoded: the body is
    still the JSON request (the quickstart relies on it)."""
    body = json.dumps(chat_body_local("curl style")).encode()
    out = _raw_exchange(gw.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                        b"Authorization: Bearer %s\r\n"
                        b"Content-Type: application/x-www-form-urlencoded\r\n"
                        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                        % (key.encode(), len(body), body))
    assert out.startswith(b"HTTP/1.1 200"), out[:300]
    assert b'"echo: curl style"' in out


def test_pipelined_requests(gw, key):
    one = json.dumps(chat_body_local("pipelined")).encode()
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
           % (key.encode(), len(one), one))
    out = _raw_exchange(gw.port, req + req, expect_responses=2)
    assert out.count(b"HTTP/1.1 200") == 2, out[:600]
    assert out.count(b'"echo: pipelined"') == 2


def chat_body_local(text):
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
