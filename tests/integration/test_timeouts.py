"""Upstream timeouts, each one on its own: connect (a listener whose accept
queue is full, so a connection to it never completes), first byte and idle
set per model against a global default, and a stream that stalls mid-way
after some text, on both front doors (OpenAI's error chunk, Anthropic's
event: error). What the client sees and the usage row's error column are
checked; the timer is checked to fire near its setting, with bounds loose
enough for a slow or sanitized build.

The first-byte timeout of a model with the global setting, the stream idle
timeout of slow-model, a dropped stream (both front doors) and total_ms are
in test_faults.py, test_messages.py and test_limits.py."""

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import (SLOW, Gateway, assert_gw_headers, assert_openai_error, content_of,
                      messages_headers, mock_provider, parse_events, post_messages,
                      post_messages_stream, serve)

CONNECT_MS = 300
SHORT_MS = 300  # the per-model first_byte_ms and idle_ms; the global ones are 5000


# --------------------------------------------------------------------------
# a connect that never completes


def _completes(port, wait):
    """Whether a non-blocking connect to port completes within wait seconds;
    the socket is returned either way (kept open by the caller)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    _, w, _ = select.select([], [s], [], wait)
    return bool(w) and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0, s


@pytest.fixture(scope="module")
def blackhole():
    """A loopback port where connect() hangs: a listener that never accepts,
    its accept queue (listen backlog 0) filled by connections held open here,
    so the kernel drops further SYNs instead of answering or refusing."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    held = []
    try:
        for _ in range(64):
            done, s = _completes(port, 0.3)
            held.append(s)
            if not done:
                break
        else:
            pytest.fail("could not fill the accept queue of a loopback listener: "
                        "64 connections all completed")
        # the proof the test relies on: a fresh connect still hangs
        done, s = _completes(port, 1.0)
        held.append(s)
        assert not done, "a connect to the full listener completed; no connect timeout to test"
        yield port
    finally:
        for s in held:
            s.close()
        lst.close()


# --------------------------------------------------------------------------
# an upstream that sends some text, then falls silent


STALL_WORDS = ["s1 ", "s2 ", "s3 "]


class _Staller(BaseHTTPRequestHandler):
    """POST .../chat/completions: an OpenAI stream head, a role chunk, one
    chunk per word of STALL_WORDS, then silence until the server stops."""

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        deltas = [{"role": "assistant", "content": ""}] + [{"content": w} for w in STALL_WORDS]
        for d in deltas:
            chunk = {"id": "chatcmpl-stall", "object": "chat.completion.chunk", "created": 1,
                     "model": "stall", "choices": [{"index": 0, "delta": d,
                                                    "finish_reason": None}]}
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()
        self.server.stop.wait(60)  # the gateway's idle timer must end it first

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def staller():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Staller)
    srv.daemon_threads = True
    srv.stop = threading.Event()
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield srv.server_address[1]
    srv.stop.set()
    srv.shutdown()
    srv.server_close()
    th.join(10)


# --------------------------------------------------------------------------
# the gateway: global timeouts 2000/5000/5000/30000 (conftest), overrides here


MODELS = """\
  - name: bh-model
    deployments: [ { provider: blackhole, model: nowhere } ]
    timeouts: { connect_ms: %d }
  - name: fb-short
    deployments: [ { provider: mock, model: fb } ]
    timeouts: { first_byte_ms: %d }
  - name: fb-global
    deployments: [ { provider: mock, model: fb } ]
  - name: idle-short
    deployments: [ { provider: mock, model: idle } ]
    timeouts: { idle_ms: %d }
  - name: idle-global
    deployments: [ { provider: mock, model: idle } ]
  - name: stall-model
    deployments: [ { provider: staller, model: stall } ]
    timeouts: { idle_ms: %d }
""" % (CONNECT_MS, SHORT_MS, SHORT_MS, SHORT_MS)


@pytest.fixture(scope="module")
def tgw(mock, dead_port, blackhole, staller, tmp_path_factory):
    providers = (mock_provider(blackhole, "blackhole", "openai", "/v1")
                 + mock_provider(staller, "staller", "openai", "/v1"))
    yield from serve(Gateway(tmp_path_factory.mktemp("gw"), mock.port, dead_port,
                             extra_models=MODELS, extra_providers=providers, name="timeouts"))


@pytest.fixture(scope="module")
def key(tgw):
    return tgw.create_key("timeouts")["key"]


@pytest.fixture(autouse=True)
def stays_healthy(tgw, key):
    yield
    assert tgw.healthy(), "gatewayd unhealthy after the test:\n" + tgw.stderr_tail()


def msg_body(text, model, stream=False):
    body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return body


def stream_error_after(s):
    """The seconds between the last data event before the error event and the
    error event itself (the stream's final event)."""
    assert len(s.events) >= 2, s.events
    return s.events[-1][0] - s.events[-2][0]


# --------------------------------------------------------------------------
# connect_ms


@pytest.mark.parametrize("stream", [False, True])
def test_connect_timeout(tgw, key, stream):
    t0 = time.monotonic()
    r = tgw.chat(key, "is anyone listening", model="bh-model", stream=stream)
    elapsed = time.monotonic() - t0
    err = assert_openai_error(r, 504, code="upstream_timeout")
    assert err["type"] == "upstream_error", err
    assert "blackhole" in err["message"] and "onnect" in err["message"], err
    rid = assert_gw_headers(r)
    # connect_ms is 300 and first_byte_ms 5000: only the connect timer explains this
    assert 0.25 <= elapsed <= 2.5 * SLOW, "504 after %.2fs (connect_ms is 300)" % elapsed
    row = tgw.usage_row(rid)
    assert row["status"] == 504 and row["error"] == "upstream_timeout", row
    assert row["provider"] == "blackhole" and row["model"] == "bh-model", row
    assert row["ttfb_ms"] is None, row
    assert row["stream"] == (1 if stream else 0), row


def test_connect_timeout_messages(tgw, key):
    t0 = time.monotonic()
    r = post_messages(tgw, key, msg_body("is anyone listening", "bh-model"))
    elapsed = time.monotonic() - t0
    assert r.status == 504, r
    doc = r.json()
    assert doc["type"] == "error" and doc["error"]["type"] == "api_error", doc
    assert "blackhole" in doc["error"]["message"], doc
    assert 0.25 <= elapsed <= 2.5 * SLOW, elapsed
    row = tgw.usage_row(r.headers["x-request-id"])
    assert row["status"] == 504 and row["error"] == "upstream_timeout", row


# --------------------------------------------------------------------------
# first_byte_ms per model


@pytest.mark.parametrize("stream", [False, True])
def test_model_first_byte_timeout(tgw, key, stream):
    t0 = time.monotonic()
    r = tgw.chat(key, "[[mock:delay_ms=1000]] late", model="fb-short", stream=stream)
    elapsed = time.monotonic() - t0
    err = assert_openai_error(r, 504, code="upstream_timeout")
    assert "first_byte_ms" in err["message"], err
    assert 0.25 <= elapsed <= 2.5 * SLOW, "504 after %.2fs (first_byte_ms is 300)" % elapsed
    row = tgw.usage_row(r.headers["x-request-id"])
    assert row["status"] == 504 and row["error"] == "upstream_timeout", row
    assert row["model"] == "fb-short", row


def test_global_first_byte_for_other_model(tgw, key):
    """The same delay on a model without the override: the global 5000 ms
    lets it through."""
    r = tgw.chat(key, "[[mock:delay_ms=1000]] late", model="fb-global")
    assert r.status == 200, r
    assert r.json()["choices"][0]["message"]["content"] == "echo: late"
    row = tgw.usage_row(r.headers["x-request-id"])
    assert row["status"] == 200 and row["error"] is None, row


# --------------------------------------------------------------------------
# idle_ms per model


def test_model_idle_timeout(tgw, key):
    s = tgw.stream(key, "[[mock:words=2,chunk_delay_ms=1000]]", model="idle-short")
    assert s.status == 200
    chunks, done, errors, garbage = parse_events(s.events)
    assert not done and not garbage, s.events
    assert len(errors) == 1 and errors[0] == json.loads(s.events[-1][1]), s.events
    err = errors[0]["error"]
    assert err["code"] == "upstream_timeout" and "idle_ms" in err["message"], err
    # the role chunk comes at once, the next one 1 s later: the 300 ms timer fires first
    gap = stream_error_after(s)
    assert 0.25 <= gap <= 0.95 * SLOW, "error event %.2fs after the last chunk" % gap
    row = tgw.usage_row(s.headers["x-request-id"])
    assert row["stream"] == 1 and row["error"] == "upstream_timeout", row


def test_global_idle_for_other_model(tgw, key):
    s = tgw.stream(key, "[[mock:words=2,chunk_delay_ms=600]]", model="idle-global")
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors, s.events
    assert content_of(chunks).split() == ["w1", "w2"], chunks
    row = tgw.usage_row(s.headers["x-request-id"])
    assert row["status"] == 200 and row["error"] is None, row


def test_idle_after_some_text(tgw, key):
    """An upstream that sends three words, then nothing: the words reach the
    client, then the OpenAI error chunk, no [DONE]."""
    s = tgw.stream(key, "tell me", model="stall-model")
    assert s.status == 200
    chunks, done, errors, garbage = parse_events(s.events)
    assert not done and not garbage, s.events
    assert content_of(chunks) == "".join(STALL_WORDS), chunks
    assert len(errors) == 1 and '"error"' in s.events[-1][1], s.events
    assert errors[0]["error"]["code"] == "upstream_timeout", errors
    gap = stream_error_after(s)
    assert 0.25 <= gap <= 1.5 * SLOW, gap
    row = tgw.usage_row(s.headers["x-request-id"])
    assert row["status"] == 200 and row["stream"] == 1, row
    assert row["error"] == "upstream_timeout", row


def test_messages_idle_after_some_text(tgw, key):
    """The same on /v1/messages: the text as content_block_delta events,
    then Anthropic's event: error; no message_stop."""
    a = post_messages_stream(tgw, key, msg_body("tell me", "stall-model", stream=True))
    assert a.status == 200
    names = a.names()
    assert names[0] == "message_start" and names[-1] == "error", names
    assert "message_stop" not in names and "message_delta" not in names, names
    assert a.text() == "".join(STALL_WORDS), a.events
    err = a.events[-1][1]
    assert err["type"] == "error" and err["error"]["type"] == "api_error", err
    assert "idle_ms" in err["error"]["message"], err
    row = tgw.usage_row(a.headers["x-request-id"])
    assert row["stream"] == 1 and row["error"] == "upstream_timeout", row
    assert row["endpoint"] == "/v1/messages", row


def test_messages_idle_timeout_mock(tgw, key):
    """/v1/messages on the mock, paced slower than idle_ms: event: error."""
    a = post_messages_stream(tgw, key, msg_body("[[mock:words=2,chunk_delay_ms=1000]]",
                                                "idle-short", stream=True))
    assert a.status == 200
    assert a.names()[-1] == "error" and "message_stop" not in a.names(), a.names()
    assert a.events[-1][1]["error"]["type"] == "api_error", a.events[-1]


def _prompt_count(tgw, key, text, model):
    """The gateway's own count of a one-message prompt (count_tokens counts
    a /v1/messages body in its chat form, which a chat request with the same
    message also is)."""
    r = tgw.request("POST", "/v1/messages/count_tokens", body=msg_body(text, model),
                    headers=messages_headers(key))
    assert r.status == 200, r
    return r.json()["input_tokens"]


@pytest.mark.parametrize("front", ["chat", "messages"])
def test_idle_usage_counts_what_was_received(tgw, key, front):
    """A stream cut by the idle timer never gets the provider's usage: the
    row carries the gateway's count of the prompt and of the text the client
    received. The staller's model ("stall") has no OpenAI encoding, so the
    text counts one token per 4 bytes: "s1 s2 s3 " (9 bytes) is 3."""
    if front == "chat":
        s = tgw.stream(key, "tell me", model="stall-model")
        rid = s.headers["x-request-id"]
        chunks, done, errors, _ = parse_events(s.events)
        assert not done and content_of(chunks) == "".join(STALL_WORDS), s.events
    else:
        a = post_messages_stream(tgw, key, msg_body("tell me", "stall-model", stream=True))
        rid = a.headers["x-request-id"]
        assert a.text() == "".join(STALL_WORDS), a.events
        start = a.events[0][1]["message"]["usage"]
    prompt = _prompt_count(tgw, key, "tell me", "stall-model")
    row = tgw.usage_row(rid)
    assert row["error"] == "upstream_timeout" and row["stream"] == 1, row
    assert row["prompt_tokens"] == prompt > 0, (row, prompt)
    assert row["completion_tokens"] == (len("".join(STALL_WORDS)) + 3) // 4 == 3, row
    if front == "messages":  # what message_start told the client, now billed
        assert start["input_tokens"] == prompt, start
