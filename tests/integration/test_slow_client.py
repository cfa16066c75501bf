"""Clients that read slowly or go away: a slow reader pauses the upstream
transfer instead of growing the daemon's memory, and a client that
disconnects mid-stream is cleaned up (usage row with client_gone = 1) while
the daemon keeps serving, also with many of them at once."""

import json
import socket
import struct
import threading
import time

from conftest import (SANITIZED, SLOW, SSEStream, auth, chat_body, content_of, parse_events,
                      wait_for)

N_WORDS = 300000


def test_slow_reader_backpressure(gw, key):
    # warm up: the first stream allocates what every stream needs
    for _ in range(3):
        s = gw.stream(key, "[[mock:words=2000]]")
        assert parse_events(s.events)[1]
    time.sleep(0.3)
    base = gw.rss_kb()

    s = SSEStream(gw.port, chat_body("[[mock:words=%d]]" % N_WORDS, stream=True),
                  headers=auth(key), rcvbuf=65536, timeout=120 * SLOW)
    try:
        assert s.status == 200
        peak = base
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end:  # read nothing for 2 s
            peak = max(peak, gw.rss_kb())
            time.sleep(0.1)
        grown_mb = (peak - base) / 1024.0
        limit = 32.0 if SANITIZED else 8.0  # ASan's quarantine holds freed blocks
        assert grown_mb <= limit, \
            "RSS grew by %.1f MB while the client read nothing (limit %.0f MB)" % (grown_mb, limit)

        s.read_all()
    finally:
        s.close()
    chunks, done, errors, _ = parse_events(s.events)
    assert not errors, errors[:1]
    assert done, "the stream did not end with [DONE]"
    content = content_of(chunks)
    expected = " ".join("w%d" % i for i in range(1, N_WORDS + 1))
    assert len(content) == len(expected) and content == expected, \
        "content incomplete: %d of %d bytes" % (len(content), len(expected))
    row = gw.usage_row(s.headers["x-request-id"], timeout=10 * SLOW)
    assert row["completion_tokens"] == N_WORDS
    assert row["client_gone"] == 0


def _stream_and_vanish(port, key, text, hard):
    """Opens a stream, reads until the first content chunk, then closes
    (hard: with RST). Returns the request id."""
    s = SSEStream(port, chat_body(text, stream=True), headers=auth(key), timeout=30 * SLOW)
    rid = s.headers.get("x-request-id")
    try:
        for _, data in s:
            if data != "[DONE]":
                obj = json.loads(data)
                if obj.get("choices") and (obj["choices"][0].get("delta") or {}).get("content"):
                    break
    finally:
        if hard and s.conn.sock is not None:
            s.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    return rid


def test_client_disconnect_mid_stream(gw, key):
    rid = _stream_and_vanish(gw.port, key, "[[mock:words=200,chunk_delay_ms=20]]", hard=False)
    assert rid and rid.startswith("req_")
    assert gw.healthy()
    r = gw.chat(key, "after a disconnect")
    assert r.status == 200, r
    row = gw.usage_row(rid, timeout=10 * SLOW, pred=lambda r: r["client_gone"] == 1)
    assert row["stream"] == 1
    assert row["client_gone"] == 1


def test_client_disconnect_while_paused(gw, key):
    """A client that stops reading and then goes away: the paused transfer is
    not left behind."""
    s = SSEStream(gw.port, chat_body("[[mock:words=100000]]", stream=True), headers=auth(key),
                  rcvbuf=32768, timeout=30 * SLOW)
    rid = s.headers["x-request-id"]
    time.sleep(0.5)
    s.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    assert gw.healthy()
    assert gw.chat(key, "after a paused disconnect").status == 200
    row = gw.usage_row(rid, timeout=20 * SLOW, pred=lambda r: r["client_gone"] == 1)
    assert row["client_gone"] == 1


def test_client_disconnect_before_response(gw, key):
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    body = json.dumps(chat_body("[[mock:delay_ms=1000]] gone early")).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
              % (key.encode(), len(body), body))
    time.sleep(0.2)
    s.close()
    time.sleep(1.2)
    assert gw.healthy()
    assert gw.chat(key, "after an early disconnect").status == 200


def test_many_disconnects_with_normal_traffic(gw, key):
    n_gone, n_normal = 30, 6
    gone_ids, normal_results, failures = [], [], []
    lock = threading.Lock()

    def vanish(i):
        try:
            rid = _stream_and_vanish(gw.port, key, "[[mock:words=200,chunk_delay_ms=20]]",
                                     hard=bool(i % 2))
            with lock:
                gone_ids.append(rid)
        except Exception as e:  # noqa: BLE001 - reported below
            with lock:
                failures.append("vanish %d: %r" % (i, e))

    def normal(i):
        try:
            text = "normal %d" % i
            if i % 2:
                r = gw.chat(key, text)
                ok = r.status == 200 and r.json()["choices"][0]["message"]["content"] == \
                    "echo: " + text
            else:
                s = gw.stream(key, text)
                ch, done, errs, _ = parse_events(s.events)
                ok = done and not errs and content_of(ch) == "echo: " + text
            with lock:
                normal_results.append(ok)
        except Exception as e:  # noqa: BLE001
            with lock:
                failures.append("normal %d: %r" % (i, e))

    threads = [threading.Thread(target=vanish, args=(i,)) for i in range(n_gone)]
    threads += [threading.Thread(target=normal, args=(i,)) for i in range(n_normal)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60 * SLOW
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "requests still running after 60 s"
    assert not failures, failures
    assert normal_results == [True] * n_normal
    assert len(gone_ids) == n_gone
    assert gw.healthy()
    assert gw.chat(key, "after the storm").status == 200

    def all_gone_rows():
        rows = gw.db_query("SELECT request_id, client_gone FROM usage WHERE request_id IN (%s)"
                           % ",".join("?" * len(gone_ids)), gone_ids)
        return len(rows) == n_gone and all(r["client_gone"] == 1 for r in rows) and rows
    wait_for(all_gone_rows, 15 * SLOW, interval=0.2, what="client_gone rows of every vanished stream")
