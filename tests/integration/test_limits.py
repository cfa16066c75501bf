"""Configured limits and timeouts in effect: idle client connections closed
(slowloris), per-IP connection cap, the non-streamed response cap, a model's
own total timeout, a provider key read from a file, and a single worker
thread still serving concurrent streams."""

import json
import os
import socket
import threading
import time

import pytest

from conftest import (PROVIDER_KEY, SLOW, assert_openai_error, content_of, http_request,
                      parse_events, words)


def wait_closed(sock, timeout):
    """Seconds until the server closes sock (EOF or reset), or None."""
    t0 = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - t0 < timeout:
        try:
            b = sock.recv(4096)
            if not b:
                return time.monotonic() - t0
            # a response (e.g. 408) before the close is fine: keep reading
        except socket.timeout:
            continue
        except ConnectionError:
            return time.monotonic() - t0
    return None


def test_idle_connection_closed(make_gateway):
    g = make_gateway(limits_extra="connection_timeout_s: 1")
    s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
    try:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")  # and never finish
        took = wait_closed(s, 10 * SLOW)
    finally:
        s.close()
    assert took is not None, "a half-sent request held its connection for 10 s"
    assert took >= 0.5
    assert g.healthy()


def test_idle_keepalive_connection_closed(make_gateway):
    g = make_gateway(limits_extra="connection_timeout_s: 1")
    s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        s.recv(65536)
        took = wait_closed(s, 10 * SLOW)
    finally:
        s.close()
    assert took is not None, "an idle keep-alive connection was never closed"


def test_per_ip_connection_limit(make_gateway):
    g = make_gateway(limits_extra="per_ip_connections: 4")
    time.sleep(0.5)  # let the start-up health check's connection close
    for _ in range(2):
        conns = [socket.create_connection(("127.0.0.1", g.port), timeout=5) for _ in range(8)]
        served = 0
        try:
            time.sleep(0.2)
            for c in conns:
                try:
                    c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                except OSError:
                    pass
            for c in conns:
                c.settimeout(3 * SLOW)
                try:
                    served += c.recv(65536).startswith(b"HTTP/1.1 200")
                except (ConnectionError, socket.timeout):
                    pass
        finally:
            for c in conns:
                c.close()
        assert served == 4, "%d of 8 connections from one IP served (limit 4)" % served
        time.sleep(0.3)
    assert g.healthy()


def test_max_response_bytes(make_gateway):
    g = make_gateway(limits_extra="max_response_bytes: 4096")
    key = g.create_key("cap")["key"]
    r = g.chat(key, "[[mock:words=3000]]")
    assert_openai_error(r, 502)
    assert g.chat(key, "small answer").status == 200
    # streams are relayed chunk by chunk: the cap is not theirs
    s = g.stream(key, "[[mock:words=3000]]")
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors
    assert content_of(chunks) == " ".join("w%d" % i for i in range(1, 3001))


def test_model_total_timeout(make_gateway):
    g = make_gateway(extra_models="""\
  - name: short-total
    deployments: [ { provider: mock, model: short } ]
    timeouts: { total_ms: 1200 }
""")
    key = g.create_key("total")["key"]
    t0 = time.monotonic()
    r = g.chat(key, "[[mock:delay_ms=4000]]", model="short-total")
    elapsed = time.monotonic() - t0
    assert_openai_error(r, 504, code="upstream_timeout")
    assert 1.0 <= elapsed <= 3.5 * SLOW, elapsed
    # a stream that outlives total_ms ends with an error event, no [DONE]
    t0 = time.monotonic()
    s = g.stream(key, "[[mock:words=40,chunk_delay_ms=100]]", model="short-total")
    elapsed = time.monotonic() - t0
    chunks, done, errors, _ = parse_events(s.events)
    assert not done and len(errors) == 1, s.events[-2:]
    assert elapsed <= 3.5 * SLOW
    # the other models keep the global timeouts
    assert g.chat(key, "[[mock:delay_ms=1500]] fine", model="gpt-4o-mini").status == 200


def test_provider_key_from_file(make_gateway, mock, tmp_path):
    secret = "file-secret-" + os.urandom(6).hex()
    kf = tmp_path / "provider.key"
    kf.write_text(secret + "\n")
    os.chmod(kf, 0o600)
    g = make_gateway(start=False)
    text = g.config_text().replace(
        "  - { name: echo, type: echo }\n",
        '  - { name: echo, type: echo }\n'
        '  - { name: filemock, type: openai, base_url: "%s", api_key: "file:%s" }\n'
        % (mock.base_url, kf))
    text = text.replace("models:\n", """models:
  - name: via-file
    deployments: [ { provider: filemock, model: file-upstream } ]
""", 1)
    g.write_config(text=text)
    g.start()
    key = g.create_key("file")["key"]
    marker = "f" + os.urandom(5).hex()
    r = g.chat(key, "file key " + marker, model="via-file")
    assert r.status == 200, r
    rec = mock.find(marker)
    assert len(rec) == 1
    assert rec[0]["headers"].get("authorization") == "Bearer " + secret
    assert json.loads(rec[0]["body"])["model"] == "file-upstream"
    assert PROVIDER_KEY not in json.dumps(rec[0])


def test_single_thread_serves_concurrent_streams(make_gateway):
    g = make_gateway(extra="threads: 1\n")
    key = g.create_key("one-thread")["key"]
    results = []
    lock = threading.Lock()

    def one(i):
        s = g.stream(key, "[[mock:words=10,chunk_delay_ms=100]]")
        ch, done, errs, _ = parse_events(s.events)
        with lock:
            results.append(done and not errs and content_of(ch) ==
                           " ".join("w%d" % j for j in range(1, 11)))

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30 * SLOW)
    elapsed = time.monotonic() - t0
    assert results == [True] * 8
    # suspended, not parked: 8 one-second streams on one thread overlap
    assert elapsed < 4.0 * SLOW, "8 concurrent streams took %.1fs on one thread" % elapsed
    assert g.chat(key, "after").status == 200


def test_overhead_excludes_upstream(gw_local):
    g, key = gw_local
    r = g.chat(key, "[[mock:delay_ms=500]] timed")
    assert r.status == 200
    ov = int(r.headers["x-gw-overhead-us"])
    assert ov < 100000, "x-gw-overhead-us %d counts the upstream's 500 ms" % ov
    row = g.usage_row(r.headers["x-request-id"])
    assert row["latency_ms"] >= 450  # the mock waits 500 ms at millisecond granularity
    assert row["overhead_us"] == ov


@pytest.fixture
def gw_local(make_gateway):
    g = make_gateway()
    return g, g.create_key("local")["key"]


def test_unicode_round_trip(gw_local):
    g, key = gw_local
    text = "héllo wörld 世界 🎉 — ok"
    r = g.chat(key, text)
    assert r.status == 200
    assert r.json()["choices"][0]["message"]["content"] == "echo: " + text
    s = g.stream(key, text, include_usage=True)
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors
    assert content_of(chunks) == "echo: " + text
    usage = [c for c in chunks if c.get("choices") == []][0]["usage"]
    assert usage["prompt_tokens"] == words(text)


def test_expect_100_continue_too_large(gw_local):
    g, key = gw_local
    body = json.dumps({"model": "gpt-4o-mini",
                       "messages": [{"role": "user", "content": "q" * (2 << 20)}]}).encode()
    s = socket.create_connection(("127.0.0.1", g.port), timeout=10 * SLOW)
    try:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                  b"Expect: 100-continue\r\n\r\n" % (key.encode(), len(body)))
        s.settimeout(3 * SLOW)
        try:
            first = s.recv(65536)
        except socket.timeout:
            first = b""
        if first.startswith(b"HTTP/1.1 100"):
            rest = first.split(b"\r\n\r\n", 1)[1]
            try:
                s.sendall(body)
            except (BrokenPipeError, ConnectionResetError):
                pass
            s.settimeout(10 * SLOW)
            first = rest or s.recv(65536)
        elif not first:
            # the client gave up waiting for 100 (as curl does after 1 s): it sends anyway
            try:
                s.sendall(body)
            except (BrokenPipeError, ConnectionResetError):
                pass
            s.settimeout(10 * SLOW)
            first = s.recv(65536)
    finally:
        s.close()
    assert first.startswith(b"HTTP/1.1 413"), first[:200]
    assert g.healthy()


def test_large_request_under_limit(make_gateway):
    g = make_gateway(start=False)
    # the body limit is what this test is about: lift the prompt-size policy
    g.write_config(text=g.config_text(extra="content_policy: { max_input_tokens: 0 }\n").replace(
        "max_body_bytes: 65536", "max_body_bytes: 4194304"))
    g.start()
    key = g.create_key("big")["key"]
    text = " ".join(["word"] * 300000)  # 1.5 MB
    r = http_request(g.port, "POST", "/v1/chat/completions",
                     {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
                     headers={"Authorization": "Bearer " + key})
    assert r.status == 200, r
    doc = r.json()
    assert doc["usage"]["prompt_tokens"] == 300000
    assert doc["choices"][0]["message"]["content"] == "echo: " + text
