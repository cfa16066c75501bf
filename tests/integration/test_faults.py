"""Upstream faults: statuses passed on, refused connections (502), silence past
the first-byte timeout (504), garbage (502), a stream dropped or stalled
mid-way (an SSE error event, no [DONE]); the daemon stays healthy."""

import time

import pytest

from conftest import (SLOW, assert_gw_headers, assert_openai_error, content_of, messages_headers,
                      parse_events)


@pytest.fixture(autouse=True)
def stays_healthy(gw, key):
    yield
    assert gw.healthy(), "gatewayd unhealthy after the test:\n" + gw.stderr_tail()
    r = gw.chat(key, "still working")
    assert r.status == 200, r


@pytest.mark.parametrize("status", [400, 422, 429, 500, 503])
def test_upstream_status_passed_on(gw, key, status):
    r = gw.chat(key, "[[mock:status=%d]] fail please" % status)
    assert_openai_error(r, status)
    assert_gw_headers(r)
    assert r.headers.get("x-gw-provider") == "mock"


def test_upstream_429_keeps_retry_after(gw, key):
    r = gw.chat(key, "[[mock:status=429,retry_after=7]] slow down")
    assert_openai_error(r, 429)
    assert r.headers.get("retry-after") == "7", r.headers


def test_upstream_status_on_stream_request(gw, key):
    r = gw.chat(key, "[[mock:status=500]] stream fail", stream=True)
    assert_openai_error(r, 500)


def test_upstream_error_has_usage_row(gw, key):
    r = gw.chat(key, "[[mock:status=500]] recorded")
    assert r.status == 500
    row = gw.usage_row(r.headers["x-request-id"])
    assert row["status"] == 500, row


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_unreachable(gw, key, stream):
    t0 = time.monotonic()
    r = gw.chat(key, "anyone there", model="dead-model", stream=stream)
    elapsed = time.monotonic() - t0
    assert_openai_error(r, 502, code="upstream_unreachable")
    assert_gw_headers(r)
    assert elapsed < 5 * SLOW, "a refused connection took %.1fs" % elapsed


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_hang_times_out(gw, key, stream):
    t0 = time.monotonic()
    r = gw.chat(key, "[[mock:hang]]", model="slow-model", stream=stream)
    elapsed = time.monotonic() - t0
    assert_openai_error(r, 504, code="upstream_timeout")
    assert_gw_headers(r)
    assert 0.7 <= elapsed <= 3.0 * SLOW, "504 after %.2fs (first_byte_ms is 800)" % elapsed


def test_delay_below_timeout_is_fine(gw, key):
    r = gw.chat(key, "[[mock:delay_ms=300]] patience", model="slow-model")
    assert r.status == 200, r
    assert r.json()["choices"][0]["message"]["content"] == "echo: patience"


def test_upstream_garbage(gw, key):
    r = gw.chat(key, "[[mock:garbage]]")
    assert_openai_error(r, 502, code="upstream_bad_response")
    assert_gw_headers(r)


def test_stream_dropped_mid_way(gw, key):
    t0 = time.monotonic()
    s = gw.stream(key, "[[mock:words=10,drop_after=3]]")
    elapsed = time.monotonic() - t0
    assert s.status == 200
    # the upstream closed its connection: noticed at once, not by the 5 s idle timer
    assert elapsed < 2.5 * SLOW, "dropped stream reported after %.1fs" % elapsed
    chunks, done, errors, garbage = parse_events(s.events)
    assert not done, "[DONE] after a dropped upstream"
    assert content_of(chunks) == "w1 w2 w3 ", chunks
    assert len(errors) == 1, s.events
    err = errors[0]["error"]
    assert isinstance(err.get("message"), str) and err["message"], err
    # the error is the last event
    assert s.events[-1][1].startswith("{") and '"error"' in s.events[-1][1], s.events[-1]
    row = gw.usage_row(s.headers["x-request-id"])
    assert row["stream"] == 1 and row["error"] == "upstream_stream_error", row
    # billed at the gateway's counts: the prompt, and the 9 bytes delivered
    # (the upstream model has no OpenAI encoding: one token per 4 bytes)
    count = gw.request("POST", "/v1/messages/count_tokens",
                       body={"model": "gpt-4o-mini", "max_tokens": 16, "messages": [
                           {"role": "user", "content": "[[mock:words=10,drop_after=3]]"}]},
                       headers=messages_headers(key)).json()["input_tokens"]
    assert row["prompt_tokens"] == count > 0 and row["completion_tokens"] == 3, row


def test_stream_idle_timeout(gw, key):
    s = gw.stream(key, "[[mock:words=5,chunk_delay_ms=2000]]", model="slow-model")
    assert s.status == 200
    chunks, done, errors, _ = parse_events(s.events)
    assert not done
    assert len(errors) == 1, s.events
    # the role chunk arrives at once, then 2 s of silence: the 800 ms idle timer fires
    first = s.events[0][0]
    err_t = s.events[-1][0]
    assert '"error"' in s.events[-1][1]
    silence = err_t - first
    assert 0.6 <= silence <= 1.9 * SLOW, "error event %.2fs after the last chunk" % silence
    assert content_of(chunks) == ""


def test_stream_garbage_event_does_not_crash(gw, key):
    s = gw.stream(key, "[[mock:words=3,sse_garbage]]")
    assert s.status == 200
    assert s.events, "no events at all"
    chunks, done, errors, garbage = parse_events(s.events)
    # either relayed as-is and completed, or ended with an error event: never both
    assert done != bool(errors), s.events


def test_stream_hang_times_out(gw, key):
    t0 = time.monotonic()
    r = gw.chat(key, "[[mock:hang]]", model="slow-model", stream=True)
    assert_openai_error(r, 504, code="upstream_timeout")
    assert time.monotonic() - t0 <= 3.0 * SLOW


def test_upstream_non_stream_truncated(gw, key):
    r = gw.chat(key, "[[mock:drop_after=20]] cut short")
    err = assert_openai_error(r, 502)
    assert err["code"] in ("upstream_bad_response", "upstream_unreachable", "upstream_error"), err


def test_upstream_garbage_on_stream_request(gw, key):
    """A 200 that is not an event stream: a 502 before any byte, or an SSE
    error event, never a [DONE]."""
    from conftest import SSEStream, auth, chat_body
    s = SSEStream(gw.port, chat_body("[[mock:garbage]]", stream=True), headers=auth(key),
                  timeout=30 * SLOW)
    try:
        if s.status == 200:
            s.read_all()
        else:
            body = s.resp.read()
    finally:
        s.close()
    if s.status == 200:
        chunks, done, errors, _ = parse_events(s.events)
        assert not done and len(errors) == 1, s.events
        assert content_of(chunks) == ""
    else:
        import json
        assert s.status == 502, (s.status, body)
        assert json.loads(body)["error"]["code"] == "upstream_bad_response", body


def test_stream_without_upstream_usage(gw, key):
    """An upstream that sends no usage chunk: the stream still completes and a
    usage row is still written."""
    s = gw.stream(key, "[[mock:no_usage]] quiet upstream")
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors
    assert content_of(chunks) == "echo: quiet upstream"
    row = gw.usage_row(s.headers["x-request-id"])
    assert row["status"] == 200 and row["stream"] == 1
