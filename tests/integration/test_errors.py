"""Bad input: each gets its status and an OpenAI-shaped error, nothing reaches
the upstream, and the daemon stays healthy."""

import json
import socket

import pytest

from conftest import HTTP_TIMEOUT, assert_gw_headers, assert_openai_error


@pytest.fixture(autouse=True)
def stays_healthy(gw, key):
    yield
    assert gw.healthy(), "gatewayd unhealthy after the test:\n" + gw.stderr_tail()
    r = gw.chat(key, "still working")
    assert r.status == 200, r


def post_raw(gw, key, body):
    return gw.request("POST", "/v1/chat/completions", body, key=key,
                      headers={"Content-Type": "application/json"})


MSGS = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("body", [
    b"{not json",
    b'{"model": "gpt-4o-mini", "messages": [',
    b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]} trailing',
    b"\xff\xfe\x00garbage",
], ids=["broken", "truncated", "trailing", "binary"])
def test_malformed_json(gw, key, mock, body):
    before = mock.stats()["requests"]
    r = post_raw(gw, key, body)
    assert_openai_error(r, 400, code="invalid_json")
    assert_gw_headers(r)
    assert mock.stats()["requests"] == before


def test_empty_body(gw, key):
    r = post_raw(gw, key, b"")
    err = assert_openai_error(r, 400)
    assert err["code"] in ("invalid_json", "missing_required_parameter"), err


@pytest.mark.parametrize("body,param", [
    ({"messages": MSGS}, "model"),
    ({"model": "gpt-4o-mini"}, "messages"),
    ({}, "model"),
], ids=["no-model", "no-messages", "empty-object"])
def test_missing_fields(gw, key, body, param):
    r = post_raw(gw, key, json.dumps(body))
    err = assert_openai_error(r, 400, code="missing_required_parameter")
    if body:
        assert err["param"] == param, err
    else:
        assert err["param"] in ("model", "messages"), err


@pytest.mark.parametrize("body", ["[]", "[1, 2]", '"a string"', "42", "null", "true"])
def test_body_not_an_object(gw, key, body):
    r = post_raw(gw, key, body)
    assert r.status == 400, r
    err = assert_openai_error(r, 400)
    assert err["code"] in ("missing_required_parameter", "invalid_type", "invalid_json"), err


@pytest.mark.parametrize("body,param", [
    ({"model": 5, "messages": MSGS}, "model"),
    ({"model": None, "messages": MSGS}, "model"),
    ({"model": "gpt-4o-mini", "messages": "x"}, "messages"),
    ({"model": "gpt-4o-mini", "messages": {"role": "user"}}, "messages"),
    ({"model": "gpt-4o-mini", "messages": MSGS, "stream": "yes"}, "stream"),
    ({"model": "gpt-4o-mini", "messages": MSGS, "stream": 1}, "stream"),
    ({"model": "gpt-4o-mini", "messages": [{"content": "no role"}]}, "messages"),
    ({"model": "gpt-4o-mini", "messages": ["not an object"]}, "messages"),
    ({"model": "gpt-4o-mini", "messages": [{"role": 7, "content": "x"}]}, "messages"),
    ({"model": "gpt-4o-mini", "messages": MSGS, "stream": True,
      "stream_options": "yes"}, "stream_options"),
], ids=["model-int", "model-null", "messages-str", "messages-obj", "stream-str", "stream-int",
        "no-role", "message-str", "role-int", "stream-options-str"])
def test_wrong_types(gw, key, mock, body, param):
    before = mock.stats()["requests"]
    r = post_raw(gw, key, json.dumps(body))
    err = assert_openai_error(r, 400)
    assert err["code"] in ("invalid_type", "invalid_value", "missing_required_parameter"), err
    # the param names the field (for a message: messages, or messages[0].role ...)
    assert isinstance(err["param"], str) and err["param"].startswith(param), err
    assert mock.stats()["requests"] == before


def test_empty_messages(gw, key):
    r = post_raw(gw, key, json.dumps({"model": "gpt-4o-mini", "messages": []}))
    err = assert_openai_error(r, 400)
    assert err["param"] == "messages", err


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_model(gw, key, mock, stream):
    before = mock.stats()["requests"]
    r = post_raw(gw, key, json.dumps({"model": "no-such-model", "messages": MSGS,
                                      "stream": stream}))
    assert_openai_error(r, 404, code="model_not_found")
    assert_gw_headers(r)
    assert mock.stats()["requests"] == before


def test_body_too_large(gw, key, mock):
    before = mock.stats()["requests"]
    big = "x" * (100 * 1024)
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": big}]})
    r = post_raw(gw, key, body)
    assert_openai_error(r, 413, code="request_too_large")
    assert_gw_headers(r)
    assert mock.stats()["requests"] == before


def test_body_just_under_limit_accepted(gw, key):
    text = "y" * 60000
    r = gw.chat(key, text)
    assert r.status == 200, r
    assert r.json()["choices"][0]["message"]["content"] == "echo: " + text


def raw_exchange(port, head, chunks, timeout=HTTP_TIMEOUT, half_close=True):
    """Sends head and body chunks on a raw socket (tolerating an early close by
    the server), returns (status, headers, body). half_close: shut the write
    side after sending (for answers that come before the body is read; a
    request that waits for its upstream must not, since the gateway, like
    nginx, takes end-of-file from a waiting client as the client leaving)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head)
        try:
            for c in chunks:
                s.sendall(c)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if half_close:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        data = b""
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            data += b
            if b"\r\n\r\n" in data:
                headers_raw, _, rest = data.partition(b"\r\n\r\n")
                m = [ln for ln in headers_raw.split(b"\r\n")[1:]
                     if ln.lower().startswith(b"content-length:")]
                if m and len(rest) >= int(m[0].split(b":")[1]):
                    break
    finally:
        s.close()
    assert data, "no response at all"
    headers_raw, _, body = data.partition(b"\r\n\r\n")
    lines = headers_raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out, rest = b"", body
        while rest:
            size_s, _, rest = rest.partition(b"\r\n")
            size = int(size_s.split(b";")[0], 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return status, headers, body


def test_body_too_large_chunked(gw, key, mock):
    before = mock.stats()["requests"]
    big = json.dumps({"model": "gpt-4o-mini",
                      "messages": [{"role": "user", "content": "z" * (100 * 1024)}]}).encode()
    head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" % key).encode()
    chunks = []
    for i in range(0, len(big), 8192):
        piece = big[i:i + 8192]
        chunks.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    chunks.append(b"0\r\n\r\n")
    status, headers, body = raw_exchange(gw.port, head, chunks)
    assert status == 413, (status, body[:300])
    err = json.loads(body)["error"]
    assert err["code"] == "request_too_large", err
    assert mock.stats()["requests"] == before


def test_chunked_small_body_accepted(gw, key):
    body = json.dumps({"model": "gpt-4o-mini",
                       "messages": [{"role": "user", "content": "chunked hello"}]}).encode()
    head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" % key).encode()
    half = len(body) // 2
    chunks = [b"%x\r\n%s\r\n" % (half, body[:half]),
              b"%x\r\n%s\r\n" % (len(body) - half, body[half:]), b"0\r\n\r\n"]
    status, headers, resp = raw_exchange(gw.port, head, chunks, half_close=False)
    assert status == 200, resp[:300]
    assert json.loads(resp)["choices"][0]["message"]["content"] == "echo: chunked hello"


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/v1/chat/completion", "/v2/models"])
def test_unknown_path(gw, key, path):
    r = gw.request("GET", path, key=key)
    assert_openai_error(r, 404)
    assert_gw_headers(r)
    r = gw.request("POST", path, {"model": "gpt-4o-mini", "messages": MSGS}, key=key)
    assert_openai_error(r, 404)


@pytest.mark.parametrize("method,path", [
    ("GET", "/v1/chat/completions"),
    ("PUT", "/v1/chat/completions"),
    ("DELETE", "/v1/chat/completions"),
    ("POST", "/v1/models"),
])
def test_wrong_method(gw, key, method, path):
    r = gw.request(method, path, key=key)
    assert_openai_error(r, 405)
    assert_gw_headers(r)
