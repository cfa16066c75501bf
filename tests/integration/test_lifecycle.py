"""The daemon's life: SIGTERM drains streams in flight and flushes usage,
SIGHUP (and gwctl reload) reload the config without dropping connections,
--check-config reports FILE:LINE: key, --help and --version."""

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time

import pytest

from conftest import (GATEWAYD, PROVIDER_KEY, SLOW, SSEStream, auth, chat_body, content_of,
                      free_port, gateway_config, http_request, parse_events, wait_for)

NEW_MODEL = """\
  - name: reloaded-model
    deployments: [ { provider: mock, model: reloaded-upstream } ]
"""


def model_ids(g, key):
    r = g.request("GET", "/v1/models", key=key)
    assert r.status == 200, r
    return [m["id"] for m in r.json()["data"]]


def test_sigterm_drains_stream(make_gateway):
    g = make_gateway()
    key = g.create_key("drain")["key"]
    s = SSEStream(g.port, chat_body("[[mock:words=20,chunk_delay_ms=100]]", stream=True),
                  headers=auth(key), timeout=30 * SLOW)
    rid = s.headers["x-request-id"]
    t_sig = None
    try:
        for _, data in s:
            if t_sig is None and data != "[DONE]" and content_of([json.loads(data)]):
                g.signal(signal.SIGTERM)
                t_sig = time.monotonic()
    finally:
        s.close()
    assert t_sig is not None, "no content before the stream ended"
    chunks, done, errors, _ = parse_events(s.events)
    assert not errors, errors
    assert done, "the stream in flight was cut by SIGTERM"
    assert content_of(chunks) == " ".join("w%d" % i for i in range(1, 21))
    rc = g.stop(timeout=20 * SLOW)
    assert rc == 0, "exit status %s after SIGTERM:\n%s" % (rc, g.stderr_tail())
    con = sqlite3.connect("file:%s?mode=ro" % g.db_path, uri=True)
    try:
        rows = con.execute("SELECT completion_tokens, stream FROM usage WHERE request_id = ?",
                           (rid,)).fetchall()
    finally:
        con.close()
    assert rows == [(20, 1)], rows


def test_sigterm_stops_accepting(make_gateway):
    g = make_gateway()
    key = g.create_key("drain2")["key"]
    s = SSEStream(g.port, chat_body("[[mock:words=30,chunk_delay_ms=100]]", stream=True),
                  headers=auth(key), timeout=30 * SLOW)
    try:
        it = iter(s)
        next(it)
        g.signal(signal.SIGTERM)
        time.sleep(0.3)
        # a new connection during the drain is refused or told to go away
        try:
            r = http_request(g.port, "POST", "/v1/chat/completions", chat_body("too late"),
                             headers=auth(key), timeout=5 * SLOW)
            assert r.status == 503, "new request accepted during shutdown: %r" % r
        except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
            pass
        except socket.timeout:
            pytest.fail("a new connection during shutdown hung instead of being refused")
        for _ in it:
            pass
    finally:
        s.close()
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors
    assert g.stop(timeout=20 * SLOW) == 0


def test_sigterm_idle_exits_promptly(make_gateway):
    g = make_gateway()
    t0 = time.monotonic()
    assert g.stop(timeout=20 * SLOW) == 0
    assert time.monotonic() - t0 < 5 * SLOW


def test_usage_flushed_on_sigterm(make_gateway):
    g = make_gateway()
    key = g.create_key("flush")["key"]
    ids = []
    for i in range(20):
        r = g.chat(key, "flush %d" % i)
        assert r.status == 200
        ids.append(r.headers["x-request-id"])
    assert g.stop() == 0
    con = sqlite3.connect("file:%s?mode=ro" % g.db_path, uri=True)
    try:
        n = con.execute("SELECT count(*) FROM usage WHERE request_id IN (%s)"
                        % ",".join("?" * len(ids)), ids).fetchone()[0]
    finally:
        con.close()
    assert n == 20


def test_sighup_reload_adds_model_keeps_connection(make_gateway):
    g = make_gateway()
    key = g.create_key("reload")["key"]
    assert "reloaded-model" not in model_ids(g, key)

    conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=30 * SLOW)
    try:
        def ka_request(text, model="gpt-4o-mini"):
            conn.request("POST", "/v1/chat/completions",
                         body=json.dumps(chat_body(text, model=model)),
                         headers={"Authorization": "Bearer " + key,
                                  "Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, json.loads(r.read())

        st, doc = ka_request("before reload")
        assert st == 200
        sock = conn.sock
        assert sock is not None, "the gateway closed a keep-alive connection"

        g.write_config(extra_models=NEW_MODEL)
        g.signal(signal.SIGHUP)
        wait_for(lambda: "reloaded-model" in model_ids(g, key), 5 * SLOW,
                 what="the new model in /v1/models after SIGHUP")

        st, doc = ka_request("after reload")
        assert st == 200, doc
        assert doc["choices"][0]["message"]["content"] == "echo: after reload"
        assert conn.sock is sock, "the keep-alive connection was dropped by the reload"
        st, doc = ka_request("new model", model="reloaded-model")
        assert st == 200, doc
        assert doc["choices"][0]["message"]["content"] == "echo: new model"
        assert conn.sock is sock
    finally:
        conn.close()
    # keys survive a reload
    assert g.chat(key, "key still valid").status == 200


def test_sighup_during_stream(make_gateway):
    g = make_gateway()
    key = g.create_key("reload-stream")["key"]
    s = SSEStream(g.port, chat_body("[[mock:words=10,chunk_delay_ms=100]]", stream=True),
                  headers=auth(key), timeout=30 * SLOW)
    try:
        it = iter(s)
        next(it)
        g.write_config(extra_models=NEW_MODEL)
        g.signal(signal.SIGHUP)
        for _ in it:
            pass
    finally:
        s.close()
    chunks, done, errors, _ = parse_events(s.events)
    assert done and not errors
    assert content_of(chunks) == " ".join("w%d" % i for i in range(1, 11))
    wait_for(lambda: "reloaded-model" in model_ids(g, key), 5 * SLOW, what="reload")


def test_sighup_with_bad_config_keeps_old(make_gateway):
    g = make_gateway()
    key = g.create_key("bad-reload")["key"]
    good = g.config_path.read_text()
    g.write_config(text=good + "no_such_key: 1\n")
    g.signal(signal.SIGHUP)
    time.sleep(0.5 * SLOW)
    assert g.healthy(), "a bad config on SIGHUP killed the daemon:\n" + g.stderr_tail()
    r = g.chat(key, "still on the old config")
    assert r.status == 200, r
    g.write_config(text=good)  # so the teardown sees a clean daemon


def test_gwctl_reload(make_gateway):
    g = make_gateway()
    key = g.create_key("gwctl-reload")["key"]
    g.write_config(extra_models=NEW_MODEL)
    out = g.gwctl("reload")
    assert out.get("reloaded") is True, out
    assert "reloaded-model" in model_ids(g, key)


def test_gwctl_reload_bad_config(make_gateway):
    g = make_gateway()
    good = g.config_path.read_text()
    lines = good.splitlines()
    lines.insert(3, "bogus_setting: true")
    g.write_config(text="\n".join(lines) + "\n")
    p = g.gwctl_run("reload")
    assert p.returncode != 0, p.stdout
    assert "bogus_setting" in p.stdout + p.stderr
    assert ":4:" in p.stdout + p.stderr, p.stdout + p.stderr
    assert g.healthy()
    g.write_config(text=good)


# -------------------------------------------------------------------- config


def run_gatewayd(*args, timeout=20, env_extra=None):
    env = dict(os.environ)
    env["MOCK_PROVIDER_KEY"] = PROVIDER_KEY
    env.pop("UNSET_PROVIDER_VAR_FOR_TEST", None)
    env.update(env_extra or {})
    return subprocess.run([str(GATEWAYD)] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout * SLOW, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture
def cfgdir(tmp_path, mock, dead_port):
    def write(text, name="gw.yaml"):
        p = tmp_path / name
        p.write_text(text)
        return p
    write.good = gateway_config(free_port(), tmp_path / "var", mock.port, dead_port)
    return write


def test_check_config_good(cfgdir):
    p = cfgdir(cfgdir.good)
    r = run_gatewayd("--check-config", "-c", p)
    assert r.returncode == 0, r.stderr


def line_of(text, needle):
    for i, ln in enumerate(text.splitlines(), 1):
        if needle in ln:
            return i
    raise AssertionError("%r not in config" % needle)


def replace_line(text, needle, new):
    out = []
    for ln in text.splitlines():
        out.append(new if needle in ln else ln)
    return "\n".join(out) + "\n"


BAD_CASES = {
    # name: (transform(good) -> bad text, needle on the offending line, word in the message)
    "unknown-top-key": (lambda t: t.replace("log_level: debug\n",
                                            "log_level: debug\nfrobnicate: 3\n"),
                        "frobnicate", "frobnicate"),
    "unknown-nested-key": (lambda t: t.replace("limits: { max_body_bytes: 65536 }",
                                               "limits: { max_body_bytes: 65536, max_bogus: 3 }"),
                           "max_bogus", "max_bogus"),
    "unknown-model-key": (lambda t: t.replace("  - name: slow-model\n",
                                              "  - name: slow-model\n    colour: blue\n"),
                          "colour", "colour"),
    "wrong-type": (lambda t: t.replace("shutdown_grace_ms: 10000",
                                       "shutdown_grace_ms: [1, 2]"),
                   "shutdown_grace_ms", "shutdown_grace_ms"),
    "wrong-type-limits": (lambda t: t.replace("limits: { max_body_bytes: 65536 }",
                                              "limits: { max_body_bytes: lots }"),
                          "max_body_bytes", "max_body_bytes"),
    "unknown-provider-type": (lambda t: t.replace("{ name: echo, type: echo }",
                                                  "{ name: echo, type: carrier-pigeon }"),
                              "carrier-pigeon", "type"),
    "clear-api-key": (lambda t: replace_line(
        t, "name: mock,", '  - { name: mock, type: openai, base_url: "http://127.0.0.1:1/v1", '
        'api_key: "sk-live-plaintext" }'), "sk-live-plaintext", "api_key"),
    "unset-env-var": (lambda t: replace_line(
        t, "name: mock,", '  - { name: mock, type: openai, base_url: "http://127.0.0.1:1/v1", '
        'api_key: "env:UNSET_PROVIDER_VAR_FOR_TEST" }'), "UNSET_PROVIDER_VAR_FOR_TEST",
        "UNSET_PROVIDER_VAR_FOR_TEST"),
    "unknown-provider-in-deployment": (lambda t: t.replace(
        "{ provider: mock, model: slow }", "{ provider: nosuchprov, model: slow }"),
        "nosuchprov", "nosuchprov"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_check_config_bad(cfgdir, case):
    transform, needle, word = BAD_CASES[case]
    text = transform(cfgdir.good)
    assert text != cfgdir.good
    p = cfgdir(text)
    line = line_of(text, needle)
    r = run_gatewayd("--check-config", "-c", p)
    assert r.returncode != 0, "bad config accepted (%s)" % case
    assert "%s:%d:" % (p, line) in r.stderr, \
        "expected %s:%d: in stderr, got:\n%s" % (p, line, r.stderr)
    assert word in r.stderr, r.stderr
    # and the daemon refuses to start on it
    r = run_gatewayd("-c", p)
    assert r.returncode != 0
    assert "%s:%d:" % (p, line) in r.stderr, r.stderr


def test_check_config_missing_file(tmp_path):
    r = run_gatewayd("--check-config", "-c", tmp_path / "nope.yaml")
    assert r.returncode != 0
    assert "nope.yaml" in r.stderr


def test_check_config_not_yaml(cfgdir):
    p = cfgdir("listen: [unclosed\n  - : :\n")
    r = run_gatewayd("--check-config", "-c", p)
    assert r.returncode != 0
    assert str(p) + ":" in r.stderr, r.stderr


def test_help_and_version():
    r = run_gatewayd("--help")
    assert r.returncode == 0
    out = r.stdout + r.stderr
    for opt in ("-c", "--check-config", "--version"):
        assert opt in out, out
    r = run_gatewayd("--version")
    assert r.returncode == 0
    version = (GATEWAYD.parent.parent / "VERSION")
    if version.exists():
        assert version.read_text().strip() in r.stdout + r.stderr


def test_listen_port_taken_fails(cfgdir, tmp_path):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        port = s.getsockname()[1]
        text = cfgdir.good.replace("listen: 127.0.0.1:", "listen: 127.0.0.1:%d\n#" % port, 1)
        p = cfgdir(text)
        r = run_gatewayd("-c", p, timeout=20)
        assert r.returncode != 0, "gatewayd started on a port already in use"
    finally:
        s.close()


def test_sigint_like_sigterm(make_gateway):
    g = make_gateway()
    key = g.create_key("sigint")["key"]
    r = g.chat(key, "before sigint")
    assert r.status == 200
    rid = r.headers["x-request-id"]
    g.signal(signal.SIGINT)
    try:
        rc = g.proc.wait(timeout=20 * SLOW)
    except subprocess.TimeoutExpired:
        pytest.fail("gatewayd ignored SIGINT")
    assert rc == 0, g.stderr_tail()
    con = sqlite3.connect("file:%s?mode=ro" % g.db_path, uri=True)
    try:
        assert con.execute("SELECT count(*) FROM usage WHERE request_id = ?",
                           (rid,)).fetchone()[0] == 1
    finally:
        con.close()


def test_sighup_removes_model(make_gateway):
    g = make_gateway()
    key = g.create_key("remove")["key"]
    assert g.chat(key, "slow model present", model="slow-model").status == 200
    text = g.config_path.read_text()
    start = text.index("  - name: slow-model\n")
    end = text.index("  - name: echo\n")
    g.write_config(text=text[:start] + text[end:])
    g.signal(signal.SIGHUP)
    wait_for(lambda: "slow-model" not in model_ids(g, key), 5 * SLOW, what="slow-model removed")
    r = g.chat(key, "slow model gone", model="slow-model")
    assert r.status == 404, r


def test_restart_keeps_keys_and_usage(make_gateway):
    g = make_gateway()
    k = g.create_key("persist")
    r = g.chat(k["key"], "before restart")
    assert r.status == 200
    assert g.stop() == 0
    g.start()
    r2 = g.chat(k["key"], "after restart")
    assert r2.status == 200, r2
    doc = g.usage_report("key")
    rows = [x for x in doc["rows"] if x.get("key_id") == k["id"]]
    assert len(rows) == 1 and rows[0]["requests"] == 2, doc
