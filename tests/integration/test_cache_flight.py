"""The cache's single flight (docs/caching.md): identical requests that
arrive while the first is still waiting for its upstream wait for its answer
instead of calling the upstream again, each answered in its own front door
and stream mode; when the first fails, each goes on to the upstream itself;
a waiting client that leaves is let go at once, without an answer and
without disturbing the others."""

import json
import socket
import threading
import time

import pytest

from conftest import (SLOW, SSEAnswer, auth, chat_body, chat_stream_parts, marker,
                      messages_headers, parse_events, post_chat, post_messages, serve, Gateway,
                      wait_for, words)


@pytest.fixture(scope="module")
def fgw(mock, dead_port, tmp_path_factory):
    yield from serve(Gateway(tmp_path_factory.mktemp("fgw"), mock.port, dead_port,
                             extra="cache: { enabled: true }\n", name="fgw"))


@pytest.fixture(scope="module")
def team_keys(fgw):
    """Two keys of one team: they share cache entries, and flights."""
    fgw.gwctl("team", "create", "flight")
    return [fgw.create_key("flight-%d" % i, "--team", "flight")["key"] for i in range(2)]


def metric(gw, name):
    for line in gw.request("GET", "/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError("no metric " + name)


def run_all(fns):
    """Runs each fn in its own thread, all at once; returns their results."""
    out = [None] * len(fns)
    errs = []

    def wrap(i, fn):
        try:
            out[i] = fn()
        except Exception as e:  # reported below
            errs.append(e)
    ts = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60 * SLOW)
    assert not errs, errs
    return out


def test_identical_requests_in_flight_wait_for_the_first(fgw, team_keys, mock):
    m = marker()
    text = "slow question %s [[mock:delay_ms=1500]]" % m
    echo = "echo: slow question " + m
    chat = chat_body(text, max_tokens=64)
    mbody = {"model": "gpt-4o-mini", "max_tokens": 64,
             "messages": [{"role": "user", "content": text}]}
    k0, k1 = team_keys
    before = metric(fgw, 'gw_cache_lookups_total{result="waited"}')

    def lead():
        return "chat", post_chat(fgw, k0, chat)

    def later(fn):  # arrives while the leader waits for the upstream
        def go():
            time.sleep(0.4)
            return fn()
        return go

    followers = [
        lambda: ("chat", post_chat(fgw, k1, chat)),
        lambda: ("chat-stream", SSEAnswer(fgw.port, "/v1/chat/completions",
                                          dict(chat, stream=True), auth(k0))),
        lambda: ("messages", post_messages(fgw, k1, mbody)),
        lambda: ("messages-stream", SSEAnswer(fgw.port, "/v1/messages",
                                              dict(mbody, stream=True), messages_headers(k0))),
        lambda: ("chat", post_chat(fgw, k0, chat)),
    ]
    t0 = time.monotonic()
    results = run_all([lead] + [later(f) for f in followers])
    elapsed = time.monotonic() - t0
    assert len(mock.find(m)) == 1, "a follower called the upstream"
    assert elapsed < 1.5 + 3 * SLOW
    caches = [r.headers.get("x-gw-cache") for _, r in results]
    assert caches == ["miss"] + ["hit-exact"] * 5, caches
    for kind, r in results:
        assert r.status == 200, (kind, r)
        if kind == "chat":
            assert r.json()["choices"][0]["message"]["content"] == echo
        elif kind == "messages":
            assert r.json()["content"] == [{"type": "text", "text": echo}]
        elif kind == "chat-stream":
            events = [(0, d if isinstance(d, str) else json.dumps(d)) for _, d in r.events]
            chunks, done, errors, _ = parse_events(events)
            assert done and not errors
            assert chat_stream_parts(chunks)[0] == echo
        else:
            assert r.text() == echo and r.names()[-1] == "message_stop"
    assert metric(fgw, 'gw_cache_lookups_total{result="waited"}') == before + 5
    for kind, r in results[1:]:  # nothing billed, the saving recorded
        row = fgw.usage_row(r.headers["x-request-id"])
        assert row["cache_hit"] == "exact" and row["cost_usd"] == 0 and row["prompt_tokens"] == 0
        assert row["saved_tokens"] == words(text) + words(echo)
        # the wait is not the gateway's own time
        assert int(r.headers["x-gw-overhead-us"]) < 500000


def test_when_the_first_fails_each_waiter_asks_the_upstream(fgw, team_keys, mock):
    m = marker()
    body = chat_body("failing %s [[mock:delay_ms=800,status=500]]" % m)
    k0, k1 = team_keys

    def one(k, wait):
        def go():
            time.sleep(wait)
            return post_chat(fgw, k, body)
        return go

    results = run_all([one(k0, 0)] + [one(k1, 0.3) for _ in range(3)])
    assert [r.status for r in results] == [500] * 4
    assert [r.headers["x-gw-cache"] for r in results] == ["miss"] * 4
    assert len(mock.find(m)) == 4  # the leader, then each waiter on its own
    assert not fgw.db_query("SELECT id FROM cache_entries WHERE question LIKE ?",
                            ("%" + m + "%",))


def test_a_streamed_leader_answers_waiting_non_streamed_requests(fgw, team_keys, mock):
    m = marker()
    text = "stream leads %s [[mock:delay_ms=700,chunk_delay_ms=20]]" % m
    k0, k1 = team_keys

    def lead():
        return SSEAnswer(fgw.port, "/v1/chat/completions", chat_body(text, stream=True), auth(k0))

    def follow():
        time.sleep(0.3)
        return post_chat(fgw, k1, chat_body(text))

    s, r = run_all([lead, follow])
    assert s.headers["x-gw-cache"] == "miss" and r.headers["x-gw-cache"] == "hit-exact"
    assert r.json()["choices"][0]["message"]["content"] == "echo: stream leads " + m
    assert len(mock.find(m)) == 1


def raw_request(port, key, body):
    """Sends a chat request on a raw socket and returns the socket."""
    data = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
              key.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: " +
              str(len(data)).encode() + b"\r\n\r\n" + data)
    return s


def test_a_waiter_whose_client_leaves_is_let_go(fgw, team_keys, mock):
    m = marker()
    body = chat_body("leaving %s [[mock:delay_ms=2500]]" % m)
    k0, _ = team_keys
    gone_key = fgw.create_key("flight-gone", "--team", "flight")
    results = {}

    def lead():
        results["lead"] = post_chat(fgw, k0, body)

    t = threading.Thread(target=lead)
    t.start()
    time.sleep(0.3)
    s = raw_request(fgw.port, gone_key["key"], body)
    time.sleep(0.3)
    t_close = time.monotonic()
    s.close()

    def gone_row():
        rows = fgw.db_query("SELECT * FROM usage WHERE key_id = ?", (gone_key["id"],))
        return rows[0] if rows else None
    row = wait_for(gone_row, 2 * SLOW, what="the departed waiter's usage row")
    assert time.monotonic() - t_close < 1.0 * SLOW + 0.5  # well before the leader's answer
    assert row["client_gone"] == 1 and row["cost_usd"] == 0 and row["cache_hit"] is None
    assert "lead" not in results  # the leader is still waiting
    t.join(30 * SLOW)
    assert results["lead"].status == 200 and results["lead"].headers["x-gw-cache"] == "miss"
    assert len(mock.find(m)) == 1
    # and its answer is there for the next one
    assert post_chat(fgw, k0, body).headers["x-gw-cache"] == "hit-exact"
