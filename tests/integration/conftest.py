"""Fixtures of the integration tests: the mock upstream, gatewayd instances
on loopback (with extra providers pointed at the mock, for the provider
tests), gwctl, HTTP/SSE helpers for both front doors, usage-database
helpers, and the runner of the official SDKs' scripts in tests/sdk.

Binaries come from $BUILD (default "build", relative to the repository
root): $BUILD/gatewayd, $BUILD/gwctl, $BUILD/mock_upstream. When $BUILD is a
sanitizer build (its name ends in "-san", or SANITIZER is set) the daemon
runs with ASan/UBSan options and its stderr is checked for reports at
teardown. Every daemon is stopped with SIGTERM at teardown and must exit 0.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_build = os.environ.get("BUILD", "build")
BUILD_DIR = Path(_build) if os.path.isabs(_build) else ROOT / _build
GATEWAYD = BUILD_DIR / "gatewayd"
GWCTL = BUILD_DIR / "gwctl"
MOCK = BUILD_DIR / "mock_upstream"
# The test service account's public key, given to the mock for POST /token.
VERTEX_PUBLIC_KEY = ROOT / "tests" / "fixtures" / "vertex-sa.pub.pem"
# The npm project of the SDK scripts (tests/sdk/*.mjs).
SDK_DIR = ROOT / "tests" / "sdk"

SANITIZED = BUILD_DIR.name.endswith("-san") or bool(os.environ.get("SANITIZER"))
# Waits (never assertions on latency budgets) are stretched under sanitizers.
SLOW = 3.0 if SANITIZED else 1.0

SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
SAN_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")

# The provider secret the gateway must send upstream (and nothing else).
PROVIDER_KEY = "mock-provider-secret-" + os.urandom(8).hex()

HTTP_TIMEOUT = 30 * SLOW


# --------------------------------------------------------------------------
# small helpers


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value; returns it, or fails."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def words(text):
    """The mock's token count: whitespace-separated words."""
    return len(text.split())


def san_report(text):
    return [m for m in SAN_MARKERS if m in text]


class Response:
    def __init__(self, status, headers, body, reason="", complete=True):
        self.status = status
        self.headers = headers  # dict, lower-cased names (last value wins)
        self.body = body
        self.reason = reason
        self.complete = complete  # False: the body was cut off (see http_request)

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise AssertionError("response body is not JSON: %r" % self.body[:500])

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:300])


def http_request(port, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT, conn=None,
                 partial=False):
    """One HTTP/1.1 request to 127.0.0.1:port. body: bytes, str or a JSON value.
    partial: a body cut off mid-way is returned (what arrived, complete=False)
    instead of raising."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        complete = True
        try:
            data = r.read()
        except http.client.IncompleteRead as e:
            if not partial:
                raise
            data, complete = e.partial, False
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data, r.reason,
                        complete)
    finally:
        if own:
            conn.close()


def auth(key):
    return {"Authorization": "Bearer " + key} if key else {}


def marker():
    """A random word to find one request among the mock's records."""
    return "m" + os.urandom(6).hex()


def chat_body(text, model="gpt-4o-mini", stream=None, include_usage=None, messages=None, **extra):
    body = {"model": model, "messages": messages or [{"role": "user", "content": text}]}
    if stream is not None:
        body["stream"] = stream
    if include_usage is not None:
        body["stream_options"] = {"include_usage": include_usage}
    body.update(extra)
    return body


def assert_openai_error(resp, status, code=None, param=None):
    """resp has the status and an OpenAI-shaped error body."""
    assert resp.status == status, "expected %d, got %r" % (status, resp)
    doc = resp.json()
    assert isinstance(doc, dict) and isinstance(doc.get("error"), dict), doc
    err = doc["error"]
    for field in ("message", "type", "param", "code"):
        assert field in err, "error object lacks %r: %r" % (field, err)
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["type"], str) and err["type"], err
    if code is not None:
        assert err["code"] == code, "expected code %r: %r" % (code, err)
    if param is not None:
        assert err["param"] == param, "expected param %r: %r" % (param, err)
    return err


def assert_gw_headers(resp):
    rid = resp.headers.get("x-request-id")
    assert rid and rid.startswith("req_"), "x-request-id: %r (%r)" % (rid, resp)
    ov = resp.headers.get("x-gw-overhead-us")
    assert ov is not None and re.fullmatch(r"[0-9]+", ov), "x-gw-overhead-us: %r" % ov
    return rid


# --------------------------------------------------------------------------
# SSE


class SSEStream:
    """A streamed response read event by event, with arrival times."""

    def __init__(self, port, body, headers=None, timeout=HTTP_TIMEOUT, rcvbuf=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        if rcvbuf:
            # a small receive window so the daemon, not the kernel, holds the backlog
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.settimeout(timeout)
            s.connect(("127.0.0.1", port))
            self.conn.sock = s
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        self.t0 = time.monotonic()
        self.conn.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(),
                          headers=hdrs)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.events = []  # (seconds since request, data string)

    def __iter__(self):
        """Yields (t, data) per SSE event; data is the joined data: lines."""
        data, buf = [], b""
        while True:
            try:
                b = self.resp.read1(65536)
            except (http.client.HTTPException, ConnectionError, OSError):
                b = b""  # aborted mid-stream: what arrived so far is the stream
            if not b:
                if buf.strip():
                    data.append(buf.decode("utf-8", "replace"))
                if data:
                    ev = (time.monotonic() - self.t0, "\n".join(data))
                    self.events.append(ev)
                    yield ev
                return
            now = time.monotonic() - self.t0
            lines = (buf + b).split(b"\n")
            buf = lines.pop()
            for raw in lines:
                line = raw.rstrip(b"\r").decode("utf-8", "replace")
                if line == "":
                    if data:
                        ev = (now, "\n".join(data))
                        self.events.append(ev)
                        yield ev
                        data = []
                    continue
                if line.startswith(":"):
                    continue
                if line.startswith("data:"):
                    v = line[5:]
                    data.append(v[1:] if v.startswith(" ") else v)

    def read_all(self):
        for _ in self:
            pass
        return self.events

    def close(self):
        self.conn.close()


def parse_events(events):
    """Splits SSE events into (json chunks, done flag, error objects, garbage)."""
    chunks, errors, garbage, done = [], [], [], False
    for _, data in events:
        if data == "[DONE]":
            done = True
            continue
        try:
            obj = json.loads(data)
        except ValueError:
            garbage.append(data)
            continue
        if isinstance(obj, dict) and "error" in obj:
            errors.append(obj)
        else:
            chunks.append(obj)
    return chunks, done, errors, garbage


def content_of(chunks):
    out = []
    for c in chunks:
        for ch in c.get("choices") or []:
            piece = (ch.get("delta") or {}).get("content")
            if isinstance(piece, str):
                out.append(piece)
    return "".join(out)


def chat_stream_parts(chunks):
    """What a streamed chat completion's chunks add up to: (the text, None
    when no chunk has any; the tool calls in index order as {"id", "name",
    "arguments"} with the arguments' text; the finish reasons in order; the
    last usage, or None)."""
    text, calls, finishes, usage = [], {}, [], None
    for c in chunks:
        if c.get("usage"):
            usage = c["usage"]
        for ch in c.get("choices") or []:
            d = ch.get("delta") or {}
            if isinstance(d.get("content"), str) and d["content"]:
                text.append(d["content"])
            for tc in d.get("tool_calls") or []:
                t = calls.setdefault(tc["index"], {"id": None, "name": None, "arguments": ""})
                if tc.get("id"):
                    t["id"] = tc["id"]
                fn = tc.get("function") or {}
                if fn.get("name"):
                    t["name"] = fn["name"]
                t["arguments"] += fn.get("arguments") or ""
            if ch.get("finish_reason"):
                finishes.append(ch["finish_reason"])
    return "".join(text) or None, [calls[i] for i in sorted(calls)], finishes, usage


def read_chat_stream(port, key, body, **kw):
    """POST /v1/chat/completions with body, the SSE answer read to its end."""
    s = SSEStream(port, body, headers=auth(key), **kw)
    try:
        s.read_all()
    finally:
        s.close()
    return s


def stream_chat(port, key, text, model="gpt-4o-mini", include_usage=None, **kw):
    return read_chat_stream(port, key, chat_body(text, model=model, stream=True,
                                                 include_usage=include_usage), **kw)


class SSEAnswer:
    """A streamed answer of either front door read to its end: status,
    headers, the raw bytes, and the SSE events as (event name or None, data
    parsed as JSON or else its text). A connection cut mid-stream ends the
    answer: what arrived is the stream."""

    def __init__(self, port, path, body, headers=None, timeout=HTTP_TIMEOUT):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        conn.request("POST", path, body=body.encode() if isinstance(body, str) else body,
                     headers=hdrs)
        resp = conn.getresponse()
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.getheaders()}
        self.raw = b""
        while True:
            try:
                b = resp.read1(65536)
            except (http.client.HTTPException, ConnectionError, OSError):
                b = b""
            if not b:
                break
            self.raw += b
        conn.close()
        self.events = []
        for block in self.raw.decode("utf-8", "replace").split("\n\n"):
            name, data = None, []
            for line in block.split("\n"):
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
            if name is None and not data:
                continue
            text = "\n".join(data)
            try:
                self.events.append((name, json.loads(text)))
            except ValueError:
                self.events.append((name, text))

    def names(self):
        return [n for n, _ in self.events]

    def text(self):
        """The text of Anthropic's text_delta events, joined."""
        return "".join(d["delta"]["text"] for n, d in self.events
                       if n == "content_block_delta" and d["delta"]["type"] == "text_delta")

    def errors(self):
        """The error events: OpenAI's {"error":...} data, Anthropic's event: error."""
        return [d for n, d in self.events
                if n == "error" or (isinstance(d, dict) and "error" in d and n is None)]


# --------------------------------------------------------------------------
# both front doors, with a gateway key


def post_chat(gw, key, body, headers=None):
    """POST /v1/chat/completions, the key as a bearer token."""
    return gw.request("POST", "/v1/chat/completions", body=body, key=key, headers=headers)


def post_chat_stream(gw, key, body, **kw):
    """A streamed chat completion read to its end (an SSEStream: timed data events)."""
    return read_chat_stream(gw.port, key, body, **kw)


def messages_headers(key, headers=None, version="2023-06-01"):
    """The key in x-api-key and anthropic-version (none when version is None),
    then headers."""
    h = {"x-api-key": key}
    if version is not None:
        h["anthropic-version"] = version
    h.update(headers or {})
    return h


def post_messages(gw, key, body, headers=None, version="2023-06-01"):
    """POST /v1/messages with the key in x-api-key (see messages_headers)."""
    return gw.request("POST", "/v1/messages", body=body,
                      headers=messages_headers(key, headers, version))


def post_messages_stream(gw, key, body, headers=None, version="2023-06-01"):
    """A streamed /v1/messages answer read to its end (an SSEAnswer)."""
    return SSEAnswer(gw.port, "/v1/messages", body, messages_headers(key, headers, version))


# --------------------------------------------------------------------------
# the mock upstream


class Mock:
    def __init__(self, port, proc, log):
        self.port = port
        self.proc = proc
        self.log = log
        self.base_url = "http://127.0.0.1:%d/v1" % port

    def requests(self):
        r = http_request(self.port, "GET", "/_mock/requests", timeout=10)
        assert r.status == 200, r
        return r.json()["requests"]

    def find(self, marker):
        """Recorded requests whose body contains marker."""
        return [q for q in self.requests() if marker in q.get("body", "")]

    def clear(self):
        http_request(self.port, "DELETE", "/_mock/requests", timeout=10)

    def stats(self):
        return http_request(self.port, "GET", "/_mock/stats", timeout=10).json()


@pytest.fixture(scope="session")
def mock(tmp_path_factory):
    if not MOCK.exists():
        pytest.fail("%s is missing: build it (make %s/mock_upstream)" % (MOCK, BUILD_DIR.name))
    d = tmp_path_factory.mktemp("mock")
    port_file = d / "port"
    log = open(d / "mock.log", "wb")
    env = dict(os.environ)
    if SANITIZED:
        env.update(SAN_ENV)
    argv = [str(MOCK), "--port", "0", "--port-file", str(port_file)]
    if VERTEX_PUBLIC_KEY.exists():  # verifies the JWTs of Vertex AI's token requests
        argv += ["--gcp-public-key", str(VERTEX_PUBLIC_KEY)]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        def ready():
            if proc.poll() is not None:
                pytest.fail("mock_upstream exited with %s" % proc.returncode)
            try:
                return int(port_file.read_text().strip())
            except (OSError, ValueError):
                return None
        port = wait_for(ready, 10 * SLOW, what="the mock's port file")
        m = Mock(port, proc, d / "mock.log")
        wait_for(lambda: _healthy_mock(port), 10 * SLOW, what="the mock to answer")
        yield m
    finally:
        rc = proc.poll()
        if rc is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=10 * SLOW)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                rc = "hung"
        log.close()
    text = (d / "mock.log").read_text(errors="replace")
    if rc != 0 or san_report(text):
        pytest.fail("mock_upstream: exit status %s on SIGTERM%s\n%s"
                    % (rc, " and a sanitizer report" if san_report(text) else "", text[-6000:]),
                    pytrace=False)


def _healthy_mock(port):
    try:
        return http_request(port, "GET", "/_mock/stats", timeout=2).status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def dead_port():
    """A loopback port where a socket is bound but not listening: connect is refused."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


# --------------------------------------------------------------------------
# gatewayd

BASE_MODELS = """\
  - name: gpt-4o-mini
    deployments: [ { provider: mock, model: mock-upstream-model } ]
    pricing: { input_per_mtok: 1.0, output_per_mtok: 2.0 }
  - name: slow-model
    deployments: [ { provider: mock, model: slow } ]
    timeouts: { first_byte_ms: 800, idle_ms: 800 }
  - name: echo
    deployments: [ { provider: echo, model: echo } ]
  - name: dead-model
    deployments: [ { provider: dead, model: dead-upstream } ]
"""


def mock_provider(mock_port, name, ptype, path="", api_key="env:MOCK_PROVIDER_KEY",
                  **fields):
    """One provider (a line under providers:) whose base URL is the mock's
    path; api_key=None leaves the key out; fields follow, their values quoted."""
    items = [("base_url", "http://127.0.0.1:%d%s" % (mock_port, path))]
    if api_key is not None:
        items.append(("api_key", api_key))
    items += fields.items()
    return "  - { name: %s, type: %s, %s }\n" % (
        name, ptype, ", ".join('%s: "%s"' % kv for kv in items))


def gateway_config(port, data_dir, mock_port, dead_port, extra_models="", extra="",
                   max_body=65536, limits_extra="", extra_providers=""):
    return """\
listen: 127.0.0.1:{port}
data_dir: {data_dir}
log_level: debug
providers:
{extra_providers}  - {{ name: mock, type: openai, base_url: "http://127.0.0.1:{mock_port}/v1", api_key: "env:MOCK_PROVIDER_KEY" }}
  - {{ name: echo, type: echo }}
  - {{ name: dead, type: openai, base_url: "http://127.0.0.1:{dead_port}/v1", api_key: "env:MOCK_PROVIDER_KEY" }}
models:
{models}{extra_models}limits: {{ max_body_bytes: {max_body}{limits_extra} }}
timeouts: {{ connect_ms: 2000, first_byte_ms: 5000, idle_ms: 5000, total_ms: 30000 }}
shutdown_grace_ms: 10000
rate_limiting: {{ defaults: {{ rpm: 1000000, tpm: 1000000000 }} }}
routing: {{ circuit_breaker: {{ enabled: false }}, retries: {{ attempts: 1 }} }}
cache: {{ enabled: false }}
{extra}""".format(port=port, data_dir=data_dir, mock_port=mock_port, dead_port=dead_port,
                  models=BASE_MODELS, extra_models=extra_models, extra=extra, max_body=max_body,
                  limits_extra=(", " + limits_extra) if limits_extra else "",
                  extra_providers=extra_providers)


class Gateway:
    """One gatewayd. extra_providers: YAML lines put first under providers:
    (see mock_provider), in every config it writes."""

    def __init__(self, workdir, mock_port, dead_port, extra_models="", extra="", name="gw",
                 limits_extra="", extra_providers=""):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.data_dir = self.dir / "var"
        self.sock = self.data_dir / "gwctl.sock"
        self.db_path = self.data_dir / "gateway.db"
        self.config_path = self.dir / "gatewayd.yaml"
        self.stderr_path = self.dir / "gatewayd.stderr"
        self.stdout_path = self.dir / "gatewayd.stdout"
        self.mock_port = mock_port
        self.dead_port = dead_port
        self.port = free_port()
        self.proc = None
        self.returncode = None
        self.limits_extra = limits_extra
        self.extra_providers = extra_providers
        self.write_config(extra_models=extra_models, extra=extra)

    # config -------------------------------------------------------------
    def config_text(self, extra_models="", extra=""):
        return gateway_config(self.port, self.data_dir, self.mock_port, self.dead_port,
                              extra_models=extra_models, extra=extra,
                              limits_extra=self.limits_extra,
                              extra_providers=self.extra_providers)

    def write_config(self, text=None, extra_models="", extra=""):
        if text is None:
            text = self.config_text(extra_models=extra_models, extra=extra)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config_path)

    # process ------------------------------------------------------------
    def env(self):
        env = dict(os.environ)
        env["MOCK_PROVIDER_KEY"] = PROVIDER_KEY
        for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GWCTL_SOCKET"):
            env.pop(k, None)
        if SANITIZED:
            env.update(SAN_ENV)
        return env

    def start(self):
        if not GATEWAYD.exists():
            pytest.fail("%s is missing: build it (make)" % GATEWAYD)
        self._out = open(self.stdout_path, "ab")
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([str(GATEWAYD), "-c", str(self.config_path)],
                                     stdout=self._out, stderr=self._err, env=self.env(),
                                     cwd=str(self.dir))
        self.pid = self.proc.pid

        def healthy():
            if self.proc.poll() is not None:
                pytest.fail("gatewayd exited with %s during start-up:\n%s"
                            % (self.proc.returncode, self.stderr_tail()))
            try:
                return http_request(self.port, "GET", "/health", timeout=2).status == 200
            except OSError:
                return False

        wait_for(healthy, 15 * SLOW, what="GET /health == 200")
        wait_for(lambda: self.sock.exists(), 10 * SLOW, what="the admin socket")
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def stderr_tail(self, n=4000):
        return self.stderr_text()[-n:]

    def signal(self, sig):
        assert self.alive(), "gatewayd is not running:\n" + self.stderr_tail()
        self.proc.send_signal(sig)

    def stop(self, timeout=None):
        """SIGTERM, wait; returns the exit status (kills after timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout=timeout or 30 * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.returncode = "hung (killed after SIGTERM timeout)"
        for f in (self._out, self._err):
            f.close()
        return self.returncode

    def teardown_problems(self, expect_rc=0):
        """Stops the daemon if needed; returns a list of problems found."""
        was_alive = self.alive()
        rc = self.stop()
        problems = []
        if not was_alive and self.returncode is not None and self.returncode != expect_rc:
            problems.append("gatewayd had already died (status %s) before teardown"
                            % self.returncode)
        elif rc != expect_rc:
            problems.append("gatewayd exited %s on SIGTERM (expected %s)" % (rc, expect_rc))
        found = san_report(self.stderr_text())
        if found:
            problems.append("sanitizer report in gatewayd's stderr (%s)" % ", ".join(found))
        if problems:
            problems.append("stderr tail:\n" + self.stderr_tail(8000))
        return problems

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    # HTTP ---------------------------------------------------------------
    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, key=None, headers=None, **kw):
        hdrs = dict(auth(key))
        hdrs.update(headers or {})
        return http_request(self.port, method, path, body=body, headers=hdrs, **kw)

    def chat(self, key, text, model="gpt-4o-mini", headers=None, **kw):
        return self.request("POST", "/v1/chat/completions", chat_body(text, model=model, **kw),
                            key=key, headers=headers)

    def stream(self, key, text, model="gpt-4o-mini", include_usage=None, **kw):
        return stream_chat(self.port, key, text, model=model, include_usage=include_usage, **kw)

    def healthy(self):
        try:
            return self.alive() and self.request("GET", "/health", timeout=5).status == 200
        except OSError:
            return False

    # gwctl --------------------------------------------------------------
    def gwctl_run(self, *args, json_out=True, sock=None, timeout=None):
        argv = [str(GWCTL), "-s", str(sock or self.sock)]
        if json_out:
            argv.append("--json")
        argv += [str(a) for a in args]
        env = dict(os.environ)
        env.pop("GWCTL_SOCKET", None)
        if SANITIZED:
            env.update(SAN_ENV)
        p = subprocess.run(argv, capture_output=True, text=True, env=env,
                           timeout=timeout or 20 * SLOW, stdin=subprocess.DEVNULL)
        found = san_report(p.stderr)
        assert not found, "sanitizer report from gwctl %s:\n%s" % (args, p.stderr)
        return p

    def gwctl(self, *args):
        """Runs gwctl --json ARGS, requires exit 0, returns the parsed JSON."""
        if not GWCTL.exists():
            pytest.fail("%s is missing: build it (make)" % GWCTL)
        p = self.gwctl_run(*args)
        assert p.returncode == 0, "gwctl %s exited %d:\n%s%s" % (
            " ".join(map(str, args)), p.returncode, p.stdout, p.stderr)
        try:
            return json.loads(p.stdout)
        except ValueError:
            raise AssertionError("gwctl %s printed no JSON: %r" % (args, p.stdout))

    def create_key(self, name, *opts):
        k = self.gwctl("key", "create", "--name", name, *opts)
        assert isinstance(k.get("id"), str) and k["id"], k
        assert isinstance(k.get("key"), str) and k["key"].startswith("sk-gw-"), k
        return k

    def usage_report(self, by="key"):
        return self.gwctl("usage", "report", "--by", by)

    # database -----------------------------------------------------------
    def db_query(self, sql, params=()):
        con = sqlite3.connect("file:%s?mode=ro" % self.db_path, uri=True, timeout=5)
        try:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(sql, params).fetchall()]
        finally:
            con.close()

    def usage_row(self, request_id, timeout=None, pred=None):
        """Waits for the usage row of request_id (and pred(row), if given)."""
        def get():
            rows = self.db_query("SELECT * FROM usage WHERE request_id = ?", (request_id,))
            if len(rows) > 1:
                raise AssertionError("%d usage rows for %s" % (len(rows), request_id))
            if rows and (pred is None or pred(rows[0])):
                return rows[0]
            return None
        return wait_for(get, timeout or 3 * SLOW, what="usage row of " + request_id)


def _finish(gateways):
    problems = []
    for g in gateways:
        for p in g.teardown_problems():
            problems.append("[%s] %s" % (g.name, p))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def serve(g):
    """A module fixture's gateway: started, then stopped and checked at
    teardown. In the fixture: yield from serve(Gateway(...))."""
    g.start()
    yield g
    _finish([g])


@pytest.fixture(scope="module")
def gw(mock, dead_port, tmp_path_factory):
    """A gateway shared by the tests of one module."""
    yield from serve(Gateway(tmp_path_factory.mktemp("gw"), mock.port, dead_port, name="gw"))


@pytest.fixture(scope="module")
def key(gw):
    """The secret of a key on the module's gateway."""
    return gw.create_key("alice")["key"]


@pytest.fixture
def make_gateway(mock, dead_port, tmp_path):
    """Factory of gateways private to one test: make_gateway(extra_models=..., extra=...,
    limits_extra=..., extra_providers=..., start=True). All are stopped (SIGTERM,
    exit 0, no sanitizer report) at teardown."""
    made = []

    def make(extra_models="", extra="", limits_extra="", extra_providers="", start=True):
        g = Gateway(tmp_path / ("gw%d" % len(made)), mock.port, dead_port,
                    extra_models=extra_models, extra=extra, name="gw%d" % len(made),
                    limits_extra=limits_extra, extra_providers=extra_providers)
        made.append(g)
        if start:
            g.start()
        return g

    yield make
    _finish(made)


# --------------------------------------------------------------------------
# the official SDKs' scripts (tests/sdk/*.mjs)

# Ambient settings the SDKs would read instead of the script's own.
SDK_AMBIENT = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
               "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")


def ensure_node_modules(packages=("openai",)):
    """node's path, once tests/sdk has the npm packages (npm ci if not); fails
    without node and npm."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm are required for the SDK test (Debian: apt-get install "
                    "nodejs npm); found node=%s npm=%s" % (node, npm))
    if all((SDK_DIR / "node_modules" / p / "package.json").exists() for p in packages):
        return node
    p = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=str(SDK_DIR),
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        pytest.fail("npm ci in tests/sdk failed (%d):\n%s\n%s"
                    % (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return node


def run_sdk_script(gw, script, key_name=None, model="gpt-4o-mini", packages=("openai",),
                   **extra_env):
    """Runs tests/sdk/SCRIPT with node against gw with a fresh key (named
    key_name, default sdk-SCRIPT) and model in GW_BASE_URL, GW_KEY and
    GW_MODEL; requires every check it reports to be ok and exit 0; returns
    the checks."""
    node = ensure_node_modules(packages)
    key = gw.create_key(key_name or "sdk-" + script.split(".")[0])["key"]
    env = dict(os.environ, GW_BASE_URL=gw.base_url, GW_KEY=key, GW_MODEL=model, **extra_env)
    for k in SDK_AMBIENT:
        env.pop(k, None)
    p = subprocess.run([node, script], cwd=str(SDK_DIR), capture_output=True, text=True,
                       env=env, timeout=120 * SLOW, stdin=subprocess.DEVNULL)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        pytest.fail("%s printed no JSON (exit %d):\n%s\n%s"
                    % (script, p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    failed = [c for c in doc["checks"] if not c["ok"]]
    assert not failed, json.dumps(failed, indent=2)
    assert p.returncode == 0, p.stderr
    return doc["checks"]


def check_detail(checks, name):
    """The detail of the SDK script's check called name."""
    return [c for c in checks if c["name"] == name][0]["detail"]
