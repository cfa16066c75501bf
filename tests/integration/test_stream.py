"""Streamed chat completions: SSE relayed chunk by chunk as the upstream
sends it, reassembled content, [DONE], and the usage chunk shown only to a
client that asked for it (the gateway always asks the upstream)."""

import json
import os

from conftest import (SSEStream, assert_gw_headers, auth, chat_body, content_of, parse_events,
                      words)


def marker():
    return "s" + os.urandom(6).hex()


def test_stream_basic(gw, key, mock):
    m = marker()
    text = "stream me please " + m
    s = gw.stream(key, text)
    assert s.status == 200
    assert s.headers.get("content-type", "").startswith("text/event-stream"), s.headers
    assert s.headers.get("x-gw-provider") == "mock", s.headers
    assert_gw_headers(s)
    chunks, done, errors, garbage = parse_events(s.events)
    assert not errors and not garbage, (errors, garbage)
    assert done, "no data: [DONE]"
    assert s.events[-1][1] == "[DONE]", "events after [DONE]: %r" % s.events[-3:]
    assert content_of(chunks) == "echo: " + text
    # one chunk per word, plus role and finish chunks, as the upstream sent them
    content_chunks = [c for c in chunks if c["choices"] and
                      (c["choices"][0].get("delta") or {}).get("content")]
    assert len(content_chunks) == words("echo: " + text)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    for c in chunks:
        assert c["object"] == "chat.completion.chunk", c
    sent = json.loads(mock.find(m)[0]["body"])
    assert sent["stream"] is True
    assert sent["model"] == "mock-upstream-model"


def test_stream_usage_hidden_unless_asked(gw, key, mock):
    m = marker()
    s = gw.stream(key, "hide usage " + m)
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors
    for c in chunks:
        assert c.get("choices") != [], "a usage-only chunk reached the client: %r" % c
        assert not c.get("usage"), "usage reached a client that did not ask: %r" % c
    sent = json.loads(mock.find(m)[0]["body"])
    assert sent.get("stream_options", {}).get("include_usage") is True, \
        "the gateway did not ask the upstream for usage: %r" % sent


def test_stream_usage_hidden_when_client_says_false(gw, key, mock):
    m = marker()
    s = gw.stream(key, "explicit false " + m, include_usage=False)
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors
    assert all(c.get("choices") != [] and not c.get("usage") for c in chunks), chunks
    sent = json.loads(mock.find(m)[0]["body"])
    assert sent["stream_options"]["include_usage"] is True


def test_stream_usage_shown_when_asked(gw, key):
    text = "give me usage " + marker()
    s = gw.stream(key, text, include_usage=True)
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors
    usage_chunks = [c for c in chunks if c.get("choices") == []]
    assert len(usage_chunks) == 1, chunks[-3:]
    u = usage_chunks[0]["usage"]
    assert u["prompt_tokens"] == words(text)
    assert u["completion_tokens"] == words("echo: " + text)
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    # the usage chunk is the last one before [DONE]
    assert chunks[-1] is usage_chunks[0]


def test_stream_is_incremental(gw, key):
    """The first token reaches the client when the upstream sends it."""
    s = SSEStream(gw.port, chat_body("[[mock:words=5,chunk_delay_ms=300]]", stream=True),
                  headers=auth(key))
    try:
        first_content = None
        for t, data in s:
            if first_content is None and data != "[DONE]":
                obj = json.loads(data)
                if obj.get("choices") and (obj["choices"][0].get("delta") or {}).get("content"):
                    first_content = t
        end = s.events[-1][0]
    finally:
        s.close()
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors
    assert content_of(chunks) == "w1 w2 w3 w4 w5"
    assert first_content is not None
    # upstream: w1 at 0.3 s, ..., [DONE] at ~2.1 s
    assert first_content < end - 0.8, \
        "first content chunk at %.2fs, stream ended at %.2fs: buffered" % (first_content, end)
    # and the events were spread out, not delivered in one burst
    content_times = []
    for t, d in s.events:
        if d == "[DONE]":
            continue
        ch = json.loads(d).get("choices") or [{}]
        if (ch[0].get("delta") or {}).get("content"):
            content_times.append(t)
    assert content_times[-1] - content_times[0] > 0.6, content_times


def test_stream_many_words(gw, key):
    s = gw.stream(key, "[[mock:words=2000]]")
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors
    assert content_of(chunks) == " ".join("w%d" % i for i in range(1, 2001))


def test_stream_echo_model(gw, key, mock):
    before = mock.stats()["requests"]
    s = gw.stream(key, "echo stream words", model="echo")
    assert s.status == 200
    assert s.headers.get("content-type", "").startswith("text/event-stream")
    rid = assert_gw_headers(s)
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors
    assert content_of(chunks) == "echo stream words"
    assert all(c.get("choices") != [] for c in chunks)
    assert mock.stats()["requests"] == before
    row = gw.usage_row(rid)
    assert row["model"] == "echo"
    assert row["stream"] == 1


def test_stream_echo_model_usage_when_asked(gw, key):
    s = gw.stream(key, "echo usage", model="echo", include_usage=True)
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors
    usage = [c for c in chunks if c.get("choices") == []]
    assert len(usage) == 1 and usage[0]["usage"]["completion_tokens"] > 0, chunks
    row = gw.usage_row(s.headers["x-request-id"])
    assert row["prompt_tokens"] == usage[0]["usage"]["prompt_tokens"]
    assert row["completion_tokens"] == usage[0]["usage"]["completion_tokens"]


def test_concurrent_streams_do_not_mix(gw, key):
    import threading
    results = {}

    def one(i):
        text = "stream number %d %s" % (i, marker())
        try:
            s = gw.stream(key, text, include_usage=bool(i % 2))
            chunks, done, errors, _ = parse_events(s.events)
            results[i] = (done and not errors, content_of(chunks), text)
        except Exception as e:  # noqa: BLE001
            results[i] = (False, repr(e), text)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 16
    for i, (ok, content, text) in results.items():
        assert ok and content == "echo: " + text, (i, content)


def test_stream_request_ids_in_chunks_consistent(gw, key):
    s = gw.stream(key, "ids please")
    chunks, done, _, _ = parse_events(s.events)
    assert done
    assert len({c["id"] for c in chunks}) == 1, "chunks of one stream carry different ids"
    assert all(c.get("model") for c in chunks)
