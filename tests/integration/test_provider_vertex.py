"""The vertex provider adapter (Google Vertex AI) through a gateway whose `vx`
provider points at the mock: Anthropic models through rawPredict /
streamRawPredict and Gemini models through generateContent /
streamGenerateContent, from both front doors, streamed and not; the OAuth2
access token obtained from the service-account key by a signed JWT (the mock
verifies the signature with the key's public half), cached, refreshed
before it expires, and its failures reported as the gateway's, not the
caller's; what went upstream (URL, bearer token, Vertex's body changes, no
gateway key); usage rows."""

import json
import subprocess

import pytest

from conftest import (ROOT, Gateway, assert_openai_error, http_request, marker, mock_provider,
                      parse_events, post_chat, post_chat_stream, post_messages,
                      post_messages_stream, serve, words)

SA_FIXTURE = ROOT / "tests" / "fixtures" / "vertex-sa.json"
PROJECT = "gw-test-project"
REGION = "us-east5"
CLAUDE = "claude-3-5-haiku@20241022"
GEMINI = "gemini-2.0-flash"

MODELS = """\
  - name: claude-vx
    deployments: [ { provider: vx, model: %s } ]
    pricing: { input_per_mtok: 1.0, output_per_mtok: 5.0 }
  - name: gemini-vx
    deployments: [ { provider: vx, model: %s } ]
""" % (CLAUDE, GEMINI)


def write_sa(path, mock_port, private_key=None):
    sa = json.loads(SA_FIXTURE.read_text())
    sa["token_uri"] = "http://127.0.0.1:%d/token" % mock_port
    if private_key is not None:
        sa["private_key"] = private_key
    path.write_text(json.dumps(sa))
    return path


def vertex_provider(mock_port, sa_path):
    """The provider `vx`: Vertex AI at the mock, with the service account sa_path."""
    return mock_provider(mock_port, "vx", "vertex", api_key=None, region=REGION,
                         credentials_file=sa_path)


@pytest.fixture(scope="module")
def vgw(mock, dead_port, tmp_path_factory):
    d = tmp_path_factory.mktemp("gw-vertex")
    yield from serve(Gateway(d, mock.port, dead_port, extra_models=MODELS, name="gw-vertex",
                             extra_providers=vertex_provider(
                                 mock.port, write_sa(d / "sa.json", mock.port))))


@pytest.fixture(scope="module")
def vkey(vgw):
    return vgw.create_key("vertex-tests")["key"]


@pytest.fixture
def fresh_gateway(make_gateway, mock, tmp_path):
    """A private vertex gateway (its own token cache), started by the test."""
    accounts = []

    def make(private_key=None):
        sa = write_sa(tmp_path / ("sa%d.json" % len(accounts)), mock.port, private_key)
        accounts.append(sa)
        return make_gateway(extra_models=MODELS, extra_providers=vertex_provider(mock.port, sa))

    return make


def mock_config(mock, **settings):
    if settings:
        r = http_request(mock.port, "POST", "/_mock/config", body=settings, timeout=10)
        assert r.status == 200, r
    r = http_request(mock.port, "GET", "/_mock/config", timeout=10)
    assert r.status == 200, r
    return r.json()


@pytest.fixture
def token_ttl(mock):
    """Sets the mock's token lifetime for one test; restores the default."""
    yield lambda seconds: mock_config(mock, token_expires_in=seconds)
    mock_config(mock, token_expires_in=3600)


def upstream_call(mock, m):
    """The one model call (not a token request) whose body holds marker m."""
    found = [q for q in mock.find(m) if q["path"] != "/token"]
    assert len(found) == 1, found
    return found[0]


def check_headers(q, key):
    h = q["headers"]
    assert h.get("authorization", "").startswith("Bearer ya29.mock-"), h
    assert key not in json.dumps(q), "the gateway key went upstream"
    assert "x-api-key" not in h and "x-goog-api-key" not in h, h


def model_path(publisher, model, verb):
    return "/v1/projects/%s/locations/%s/publishers/%s/models/%s:%s" % (
        PROJECT, REGION, publisher, model, verb)


# ---------------------------------------------------------------------------
# Anthropic models


def test_claude_chat_whole(vgw, vkey, mock):
    m = marker()
    r = post_chat(vgw, vkey, {"model": "claude-vx", "max_tokens": 50,
                              "messages": [{"role": "system", "content": "be brief"},
                                           {"role": "user", "content": "hello " + m}]})
    assert r.status == 200, r
    doc = r.json()
    assert doc["object"] == "chat.completion"
    assert doc["choices"][0]["message"]["content"] == "echo: hello " + m
    assert doc["choices"][0]["finish_reason"] == "stop"
    assert r.headers["x-gw-provider"] == "vx"
    q = upstream_call(mock, m)
    assert q["path"] == model_path("anthropic", CLAUDE, "rawPredict"), q["path"]
    check_headers(q, vkey)
    body = json.loads(q["body"])
    assert "model" not in body, body
    assert body["anthropic_version"] == "vertex-2023-10-16", body
    assert body["system"] == "be brief" and body["max_tokens"] == 50, body
    row = vgw.usage_row(r.headers["x-request-id"])
    assert row["provider"] == "vx" and row["status"] == 200, row
    assert row["prompt_tokens"] == words("be brief hello " + m), row
    assert row["completion_tokens"] == words("echo: hello " + m), row


def test_claude_chat_stream_with_tool(vgw, vkey, mock):
    m = marker()
    s = post_chat_stream(vgw, vkey, {"model": "claude-vx", "stream": True,
                                     "stream_options": {"include_usage": True},
                                     "tools": [{"type": "function", "function": {
                                         "name": "lookup", "parameters": {"type": "object"}}}],
                                     "messages": [{"role": "user",
                                                   "content": m + " [[mock:tool=lookup]]"}]})
    assert s.status == 200
    chunks, done, errors, garbage = parse_events(s.events)
    assert done and not errors and not garbage, s.events
    args = "".join(tc["function"].get("arguments", "")
                   for c in chunks for ch in c["choices"]
                   for tc in (ch["delta"].get("tool_calls") or []))
    assert json.loads(args) == {"text": "echo: " + m}, args
    finishes = [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch["finish_reason"]]
    assert finishes == ["tool_calls"], chunks
    assert chunks[-1]["usage"]["completion_tokens"] > 0, chunks[-1]
    q = upstream_call(mock, m)
    assert q["path"] == model_path("anthropic", CLAUDE, "streamRawPredict"), q["path"]
    assert json.loads(q["body"])["stream"] is True


def test_claude_messages_relayed(vgw, vkey, mock):
    m = marker()
    body = {"model": "claude-vx", "max_tokens": 20,
            "messages": [{"role": "user", "content": "hi " + m}]}
    r = post_messages(vgw, vkey, body)
    assert r.status == 200, r
    doc = r.json()
    assert doc["type"] == "message" and doc["content"][0]["text"] == "echo: hi " + m, doc
    q = upstream_call(mock, m)
    sent = json.loads(q["body"])
    assert sent == {"max_tokens": 20, "messages": body["messages"],
                    "anthropic_version": "vertex-2023-10-16"}, sent

    s = post_messages_stream(vgw, vkey, dict(body, stream=True))
    assert s.status == 200, s.raw
    names = s.names()
    assert names[0] == "message_start" and names[-1] == "message_stop", names
    assert "content_block_delta" in names, names


def test_claude_messages_anthropic_only_features(vgw, vkey, mock):
    """A document block and extended thinking reach a Claude model on Vertex
    untouched; a Gemini model on the same provider refuses them."""
    m = marker()
    body = {"model": "claude-vx", "max_tokens": 2048,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": [
                {"type": "document",
                 "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
                {"type": "text", "text": "hi " + m}]}]}
    r = post_messages(vgw, vkey, body)
    assert r.status == 200, r
    sent = json.loads(upstream_call(mock, m)["body"])
    assert sent == {"max_tokens": 2048, "thinking": body["thinking"],
                    "messages": body["messages"],
                    "anthropic_version": "vertex-2023-10-16"}, sent

    m2 = marker()
    body["model"] = "gemini-vx"
    body["messages"][0]["content"][1]["text"] = "hi " + m2
    r = post_messages(vgw, vkey, body)
    assert r.status == 400, r
    assert r.json()["error"]["message"].startswith("messages.0.content.0.type: 'document'"), r
    assert mock.find(m2) == []


# ---------------------------------------------------------------------------
# Gemini models


def test_gemini_chat_whole_and_messages(vgw, vkey, mock):
    m = marker()
    r = post_chat(vgw, vkey, {"model": "gemini-vx", "temperature": 0.5,
                              "messages": [{"role": "user", "content": "hey " + m}]})
    assert r.status == 200, r
    assert r.json()["choices"][0]["message"]["content"] == "echo: hey " + m
    q = upstream_call(mock, m)
    assert q["path"] == model_path("google", GEMINI, "generateContent"), q["path"]
    check_headers(q, vkey)
    sent = json.loads(q["body"])
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "hey " + m}]}], sent
    assert sent["generationConfig"]["temperature"] == 0.5, sent

    m2 = marker()
    r = post_messages(vgw, vkey, {"model": "gemini-vx", "max_tokens": 30,
                                  "messages": [{"role": "user", "content": "yo " + m2}]})
    assert r.status == 200, r
    doc = r.json()
    assert doc["type"] == "message" and doc["content"][0]["text"] == "echo: yo " + m2, doc
    assert doc["stop_reason"] == "end_turn", doc


def test_gemini_chat_stream(vgw, vkey, mock):
    m = marker()
    s = post_chat_stream(vgw, vkey, {"model": "gemini-vx", "stream": True,
                                     "messages": [{"role": "user", "content": "one two " + m}]})
    chunks, done, errors, _ = parse_events(s.events)
    assert s.status == 200 and done and not errors, s.events
    text = "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"])
    assert text == "echo: one two " + m, text
    q = upstream_call(mock, m)
    assert q["path"] == model_path("google", GEMINI, "streamGenerateContent?alt=sse"), q["path"]
    row = vgw.usage_row(s.headers["x-request-id"])
    assert row["completion_tokens"] == words("echo: one two " + m), row


# ---------------------------------------------------------------------------
# the access token


def token_requests(mock):
    return mock_config(mock)["token_requests"]


def test_token_fetched_once_and_reused(fresh_gateway, mock):
    g = fresh_gateway()
    key = g.create_key("t")["key"]
    before = token_requests(mock)
    for _ in range(3):
        r = post_chat(g, key, {"model": "claude-vx",
                               "messages": [{"role": "user", "content": "a"}]})
        assert r.status == 200, r
    assert token_requests(mock) - before == 1
    # the token request itself: a JWT-bearer grant, form-encoded
    tok = [q for q in mock.requests() if q["path"] == "/token"][-1]
    assert tok["headers"]["content-type"] == "application/x-www-form-urlencoded", tok
    assert tok["body"].startswith(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="), tok


def test_token_refreshed_before_expiry(fresh_gateway, mock, token_ttl):
    # a token with under five minutes left is refreshed by the next request
    token_ttl(200)
    g = fresh_gateway()
    key = g.create_key("t")["key"]
    body = {"model": "gemini-vx", "messages": [{"role": "user", "content": "a"}]}
    before = token_requests(mock)
    assert post_chat(g, key, body).status == 200
    assert post_chat(g, key, body).status == 200
    assert token_requests(mock) - before == 2  # cold, then a refresh
    token_ttl(3600)
    assert post_chat(g, key, body).status == 200  # refreshes once more (the 200 s token)
    assert post_chat(g, key, body).status == 200
    assert post_chat(g, key, body).status == 200
    assert token_requests(mock) - before == 3


def test_token_refused_is_the_gateways_problem(fresh_gateway, mock, tmp_path):
    # a key the mock does not know: invalid_grant, reported as a 502
    pem = tmp_path / "other.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", str(pem)], check=True,
                   capture_output=True)
    g = fresh_gateway(private_key=pem.read_text())
    key = g.create_key("t")["key"]
    m = marker()
    r = post_chat(g, key, {"model": "claude-vx", "messages": [{"role": "user", "content": m}]})
    err = assert_openai_error(r, 502, code="upstream_auth_failed")
    assert "access token" in err["message"] and "invalid_grant" in err["message"], err
    assert not [q for q in mock.find(m)], "no model call without a token"
    r = post_messages(g, key, {"model": "gemini-vx", "max_tokens": 5,
                               "messages": [{"role": "user", "content": m}]})
    assert r.status == 502 and r.json()["type"] == "error", r
    row = g.usage_row(r.headers["x-request-id"])
    assert row["error"] == "upstream_auth_failed", row


def test_refused_parameter_costs_no_token(fresh_gateway, mock):
    # the body is translated (and refused) before any token is fetched
    g = fresh_gateway()
    key = g.create_key("t")["key"]
    before = token_requests(mock)
    r = post_chat(g, key, {"model": "claude-vx", "n": 2,
                           "messages": [{"role": "user", "content": "a"}]})
    assert_openai_error(r, 400)
    assert token_requests(mock) == before
