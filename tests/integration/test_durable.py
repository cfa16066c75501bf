"""Durable answers: a client that disconnects (mid-stream, or before a
non-streamed answer) does not lose the answer. The gateway reads the
upstream to the end, stores the whole answer in the caller's wire format,
and the key that made the request fetches it with GET /v1/gw/requests/{id}
(and finds it in GET /v1/gw/requests); `gwctl request show ID` shows it
too. Other keys and unknown ids get 404; an answer over
durable_answers.max_bytes is stored cut (complete: false, never inside a
UTF-8 character); a stream the upstream broke is stored complete: false;
store: all keeps every answer, store: off none; expired answers are never
served; a bad durable_answers section is refused."""

import json
import os
import socket
import sqlite3
import subprocess
import time

import pytest

from conftest import (GATEWAYD, PROVIDER_KEY, SLOW, SSEStream, assert_openai_error, auth,
                      chat_body, content_of, free_port, gateway_config, messages_headers,
                      parse_events, wait_for)

N_WORDS = 200
ALL_WORDS = " ".join("w%d" % i for i in range(1, N_WORDS + 1))
SLOW_STREAM = "[[mock:words=%d,chunk_delay_ms=5]]" % N_WORDS


@pytest.fixture(scope="module")
def bob(gw):
    """A second key on the module's gateway."""
    return gw.create_key("bob")


# --------------------------------------------------------------------------
# helpers


def vanish_mid_stream(port, key, text, path="/v1/chat/completions", body=None,
                      headers=None):
    """Opens a stream, reads until the first piece of content, closes the
    connection. Returns the request id."""
    if path == "/v1/chat/completions":
        s = SSEStream(port, body or chat_body(text, stream=True), headers=auth(key),
                      timeout=30 * SLOW)
        rid = s.headers.get("x-request-id")
        try:
            for _, data in s:
                if data == "[DONE]":
                    break
                obj = json.loads(data)
                if obj.get("choices") and (obj["choices"][0].get("delta") or {}).get("content"):
                    break
        finally:
            s.close()
        return rid
    # Anthropic's SSE: read raw until the first content_block_delta
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30 * SLOW)
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    conn.request("POST", path, body=json.dumps(body).encode(), headers=hdrs)
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    rid = resp.getheader("x-request-id")
    seen = b""
    while b"content_block_delta" not in seen:
        b = resp.read1(4096)
        if not b:
            break
        seen += b
    conn.close()
    return rid


def get_stored(gw, key, rid, **kw):
    return gw.request("GET", "/v1/gw/requests/" + rid, key=key, **kw)


def wait_stored(gw, key, rid, timeout=None):
    """Polls GET /v1/gw/requests/{rid} until 200; returns the document."""
    def get():
        r = get_stored(gw, key, rid)
        if r.status == 200:
            return r
        assert r.status == 404, r
        return None
    r = wait_for(get, timeout or 20 * SLOW, interval=0.1, what="stored answer of " + rid)
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    doc = r.json()
    for field in ("id", "status", "model", "created_at", "complete", "response"):
        assert field in doc, "missing %r: %r" % (field, doc)
    assert doc["id"] == rid
    return doc


def sse_data(text):
    """(data strings of an OpenAI SSE text, the text left after the last
    blank line)."""
    blocks = text.split("\n\n")
    rest = blocks.pop()
    out = []
    for b in blocks:
        data = [line[5:].lstrip(" ") for line in b.split("\n") if line.startswith("data:")]
        if data:
            out.append("\n".join(data))
    return out, rest


def openai_stream_content(text):
    data, rest = sse_data(text)
    assert rest == "", "the stored stream does not end with a blank line: %r" % rest[-200:]
    chunks, done, errors, garbage = parse_events([(0, d) for d in data])
    return content_of(chunks), done, errors, garbage


def raw_post_and_leave(port, key, body, leave_after=0.2):
    """Sends a non-streamed chat request on a raw socket and closes it before
    any answer can arrive."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw = json.dumps(body).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
              % (key.encode(), len(raw), raw))
    time.sleep(leave_after)
    s.close()


def only_request_of(gw, key_id, timeout=None):
    """The request id of the one usage row of key_id."""
    def get():
        rows = gw.db_query("SELECT request_id FROM usage WHERE key_id = ?", (key_id,))
        return rows[0]["request_id"] if len(rows) == 1 else None
    return wait_for(get, timeout or 20 * SLOW, interval=0.1, what="the usage row of " + key_id)


# --------------------------------------------------------------------------
# a stream whose client left


def test_stream_disconnect_answer_fetched_whole(gw, key, bob):
    t0 = time.time()
    rid = vanish_mid_stream(gw.port, key, SLOW_STREAM)
    assert rid and rid.startswith("req_")
    doc = wait_stored(gw, key, rid)
    assert doc["status"] == 200
    assert doc["model"] == "gpt-4o-mini"
    assert doc["complete"] is True and doc["truncated"] is False
    assert doc["stream"] is True and doc["client_gone"] is True
    assert doc["content_type"] == "text/event-stream"
    assert doc["object"] == "gw.request"
    assert isinstance(doc["created_at"], int) and t0 - 2 <= doc["created_at"] <= time.time() + 1
    body = doc["response"]
    assert doc["response_bytes"] == len(body.encode())
    content, done, errors, garbage = openai_stream_content(body)
    assert not errors and not garbage, (errors, garbage)
    assert done, "the stored stream has no [DONE]"
    assert content == ALL_WORDS, "stored content: %d of %d bytes" % (len(content), len(ALL_WORDS))
    # the usage row says the client had gone, and counts every word
    row = gw.usage_row(rid, timeout=10 * SLOW)
    assert row["client_gone"] == 1 and row["completion_tokens"] == N_WORDS

    # only the key that made the request may read it: another key gets the
    # same 404 as an unknown id; no key gets 401
    other = assert_openai_error(get_stored(gw, bob["key"], rid), 404, code="not_found")
    unknown = assert_openai_error(get_stored(gw, key, "req_" + "0" * 24), 404, code="not_found")
    assert other["message"] == unknown["message"].replace("req_" + "0" * 24, rid)
    assert_openai_error(get_stored(gw, None, rid), 401, code="invalid_api_key")


def test_stream_disconnect_shown_by_gwctl(gw, key):
    rid = vanish_mid_stream(gw.port, key, SLOW_STREAM)
    doc = wait_stored(gw, key, rid)
    res = gw.gwctl("request", "show", rid)
    assert res["request"] == doc
    p = gw.gwctl_run("request", "show", rid, json_out=False)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert rid in out and "gpt-4o-mini" in out
    lines = dict(line.split(":", 1) for line in out.split("\n\n", 1)[0].splitlines())
    assert lines["complete"].strip() == "yes" and lines["client_gone"].strip() == "yes"
    assert lines["status"].strip() == "200"
    assert "data: [DONE]" in out and '"w200"' in out


def test_stream_disconnect_through_messages(gw, key):
    """The same through /v1/messages: the answer is stored in Anthropic's
    SSE form."""
    body = {"model": "gpt-4o-mini", "max_tokens": 1000, "stream": True,
            "messages": [{"role": "user", "content": SLOW_STREAM}]}
    rid = vanish_mid_stream(gw.port, key, None, path="/v1/messages", body=body,
                            headers=messages_headers(key))
    doc = wait_stored(gw, key, rid)
    assert doc["complete"] is True and doc["stream"] is True and doc["status"] == 200
    events, text = [], []
    for block in doc["response"].split("\n\n"):
        name = next((ln[6:].strip() for ln in block.split("\n") if ln.startswith("event:")), None)
        data = "\n".join(ln[5:].lstrip() for ln in block.split("\n") if ln.startswith("data:"))
        if name:
            events.append(name)
            d = json.loads(data)
            if name == "content_block_delta" and d["delta"]["type"] == "text_delta":
                text.append(d["delta"]["text"])
    assert events[0] == "message_start" and events[-1] == "message_stop", events
    assert "".join(text) == ALL_WORDS


def test_stream_broken_upstream_stored_incomplete(gw, key):
    """A stream whose upstream breaks after the client left: what was
    answered is stored, with the gateway's error event, complete: false."""
    rid = vanish_mid_stream(gw.port, key, "[[mock:words=100,chunk_delay_ms=5,drop_after=60]]")
    doc = wait_stored(gw, key, rid)
    assert doc["complete"] is False and doc["truncated"] is False
    content, done, errors, _ = openai_stream_content(doc["response"])
    assert not done and errors, doc["response"][-300:]
    assert content and ALL_WORDS.startswith(content.rstrip())


# --------------------------------------------------------------------------
# non-streamed answers


def test_non_streamed_disconnect_before_answer(gw):
    k = gw.create_key("nonstream")
    raw_post_and_leave(gw.port, k["key"], chat_body("[[mock:delay_ms=800]] left early"))
    rid = only_request_of(gw, k["id"])
    doc = wait_stored(gw, k["key"], rid)
    assert doc["status"] == 200 and doc["stream"] is False and doc["client_gone"] is True
    assert doc["complete"] is True and doc["content_type"] == "application/json"
    answer = json.loads(doc["response"])
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"] == "echo: left early"
    assert gw.usage_row(rid)["client_gone"] == 1


def test_answers_received_whole_are_not_stored(gw, key):
    r = gw.chat(key, "received whole")
    assert r.status == 200
    rid = r.headers["x-request-id"]
    s = gw.stream(key, "[[mock:words=5]]")
    sid = s.headers["x-request-id"]
    gw.usage_row(rid, timeout=10 * SLOW)
    gw.usage_row(sid, timeout=10 * SLOW)
    for i in (rid, sid):
        assert_openai_error(get_stored(gw, key, i), 404, code="not_found")
        p = gw.gwctl_run("request", "show", i)
        assert p.returncode == 1
        err = json.loads(p.stdout)["error"]
        assert err["code"] == "not_found" and "no stored answer" in err["message"], err


def test_list_of_the_keys_stored_answers(gw, key, bob):
    """GET /v1/gw/requests: the key's stored answers, newest first, without
    their responses: how a client that never saw the x-request-id (it left
    before the response head) finds its answer."""
    k = gw.create_key("lister")
    raw_post_and_leave(gw.port, k["key"], chat_body("[[mock:delay_ms=500]] first"))
    first = only_request_of(gw, k["id"])
    wait_stored(gw, k["key"], first)
    rid = vanish_mid_stream(gw.port, k["key"], SLOW_STREAM)
    wait_stored(gw, k["key"], rid)
    r = gw.request("GET", "/v1/gw/requests", key=k["key"])
    assert r.status == 200, r
    doc = r.json()
    assert doc["object"] == "list"
    assert [d["id"] for d in doc["data"]] == [rid, first]
    for d in doc["data"]:
        assert "response" not in d and d["object"] == "gw.request" and d["client_gone"] is True
        assert d["key_id"] == k["id"]
    assert [d["stream"] for d in doc["data"]] == [True, False]
    r = gw.request("GET", "/v1/gw/requests?limit=1", key=k["key"])
    assert [d["id"] for d in r.json()["data"]] == [rid]
    # another key sees none of them
    ids = [d["id"] for d in gw.request("GET", "/v1/gw/requests", key=bob["key"]).json()["data"]]
    assert rid not in ids and first not in ids
    for bad in ("0", "101", "x", ""):
        assert_openai_error(gw.request("GET", "/v1/gw/requests?limit=" + bad, key=k["key"]),
                            400, code="invalid_value", param="limit")
    assert_openai_error(gw.request("GET", "/v1/gw/requests"), 401, code="invalid_api_key")


# --------------------------------------------------------------------------
# ids


@pytest.mark.parametrize("rid", ["req_000000000000000000000000", "req_1", "nope",
                                 "REQ_0123456789ABCDEF01234567", "req_" + "g" * 24])
def test_unknown_id_404(gw, key, rid):
    assert_openai_error(get_stored(gw, key, rid), 404, code="not_found")


def test_request_paths(gw, key):
    # an empty id, or more than one segment: not a route
    for path in ("/v1/gw/requests/", "/v1/gw/requests/req_1/x"):
        r = gw.request("GET", path, key=key)
        assert_openai_error(r, 404, code="not_found")
    r = gw.request("POST", "/v1/gw/requests/req_000000000000000000000000", body={}, key=key)
    assert_openai_error(r, 405, code="method_not_allowed")


def test_gwctl_request_show_errors(gw):
    p = gw.gwctl_run("request", "show", "req_000000000000000000000000")
    assert p.returncode == 1
    assert json.loads(p.stdout)["error"]["code"] == "not_found"
    p = gw.gwctl_run("request", "show")
    assert p.returncode == 2  # usage: the id is required


# --------------------------------------------------------------------------
# configuration


def test_cap_stores_what_fits(make_gateway):
    g = make_gateway(extra="durable_answers: { max_bytes: 4096 }\n")
    key = g.create_key("capped")
    k = key["key"]
    rid = vanish_mid_stream(g.port, k, "[[mock:words=2000,chunk_delay_ms=1]]")
    doc = wait_stored(g, k, rid)
    assert doc["complete"] is False and doc["truncated"] is True
    stored = doc["response"].encode()
    assert 0 < len(stored) <= 4096
    assert doc["response_bytes"] > 4096
    assert doc["response"].startswith("data: {")
    # what fits is the beginning of the answer: whole events, then a cut one
    data, _ = sse_data(doc["response"])
    chunks, done, errors, garbage = parse_events([(0, d) for d in data])
    assert not done and not errors and not garbage
    content = content_of(chunks)
    assert content.startswith("w1 w2 w3")
    assert " ".join("w%d" % i for i in range(1, 2001)).startswith(content)
    row = g.usage_row(rid, timeout=10 * SLOW)
    assert row["completion_tokens"] == 2000  # the whole answer was read all the same

    # a non-streamed answer is cut the same way, never inside a UTF-8 character:
    # three answers whose 3-byte characters start at three different offsets
    for pad in ("", "a", "ab"):
        raw_post_and_leave(g.port, k, chat_body("[[mock:delay_ms=300]]" + pad + "\u4e2d" * 2000))
    def non_streamed():
        rows = g.db_query("SELECT request_id FROM usage WHERE key_id = ? AND stream = 0",
                          (key["id"],))
        return [r["request_id"] for r in rows] if len(rows) == 3 else None
    for nid in wait_for(non_streamed, 20 * SLOW, interval=0.1, what="3 non-streamed usage rows"):
        doc = wait_stored(g, k, nid)
        assert doc["complete"] is False and doc["truncated"] is True and doc["stream"] is False
        assert 4094 <= len(doc["response"].encode()) <= 4096 and doc["response_bytes"] > 6000
        assert "\ufffd" not in doc["response"]
        assert doc["response"].startswith('{"') and doc["response"].endswith("\u4e2d")


def test_store_all_keeps_every_answer(make_gateway):
    g = make_gateway(extra="durable_answers: { store: all }\n")
    k = g.create_key("all")["key"]
    r = g.chat(k, "kept anyway")
    assert r.status == 200
    doc = wait_stored(g, k, r.headers["x-request-id"])
    assert doc["client_gone"] is False and doc["complete"] is True
    assert json.loads(doc["response"]) == r.json()
    s = g.stream(k, "[[mock:words=7]]")
    doc = wait_stored(g, k, s.headers["x-request-id"])
    data, rest = sse_data(doc["response"])
    assert rest == "" and [d for _, d in s.events] == data
    # an error answer is kept too, with its status
    r = g.chat(k, "x", model="no-such-model")
    assert r.status == 404
    doc = wait_stored(g, k, r.headers["x-request-id"])
    assert doc["status"] == 404 and json.loads(doc["response"]) == r.json()


def test_store_off_keeps_nothing(make_gateway):
    g = make_gateway(extra="durable_answers: { store: off }\n")
    k = g.create_key("off")["key"]
    rid = vanish_mid_stream(g.port, k, SLOW_STREAM)
    g.usage_row(rid, timeout=20 * SLOW, pred=lambda row: row["client_gone"] == 1)
    assert_openai_error(get_stored(g, k, rid), 404, code="not_found")
    assert g.db_query("SELECT count(*) AS n FROM answers")[0]["n"] == 0


def test_expired_answer_not_served(make_gateway):
    g = make_gateway(extra="durable_answers: { retention_hours: 1 }\n")
    k = g.create_key("expiring")["key"]
    rid = vanish_mid_stream(g.port, k, SLOW_STREAM)
    doc = wait_stored(g, k, rid)
    row = g.db_query("SELECT created_at, expires_at FROM answers WHERE request_id = ?", (rid,))[0]
    assert row["expires_at"] == row["created_at"] + 3600 * 1000
    assert doc["created_at"] == row["created_at"] // 1000
    con = sqlite3.connect(str(g.db_path), timeout=5)
    try:
        con.execute("UPDATE answers SET expires_at = 1 WHERE request_id = ?", (rid,))
        con.commit()
    finally:
        con.close()
    assert_openai_error(get_stored(g, k, rid), 404, code="not_found")


@pytest.mark.parametrize("bad,what", [
    ("durable_answers: { store: sometimes }\n", "store"),
    ("durable_answers: { max_bytes: 10 }\n", "max_bytes"),
    ("durable_answers: { keep: 1 }\n", "keep"),
])
def test_bad_config_refused(tmp_path, mock, dead_port, bad, what):
    text = gateway_config(free_port(), tmp_path / "var", mock.port, dead_port, extra=bad)
    path = tmp_path / "gw.yaml"
    path.write_text(text)
    env = dict(os.environ, MOCK_PROVIDER_KEY=PROVIDER_KEY)
    p = subprocess.run([str(GATEWAYD), "--check-config", "-c", str(path)], capture_output=True,
                       text=True, env=env, timeout=20 * SLOW, stdin=subprocess.DEVNULL)
    assert p.returncode != 0
    line = len(text.splitlines())  # the section is the config's last line
    assert ":%d: %s" % (line, what) in p.stderr, p.stderr
