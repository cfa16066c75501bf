"""The output guard (config `output_guard:`, docs/safety.md): blocked phrases
in an answer's text are caught as the text arrives, also when the upstream
splits the phrase across many stream events (the mock's split=N), and not a
byte of the phrase reaches the client. A stream ends with the caller's error
event (OpenAI's data: {"error"} or Anthropic's
event: error, code output_blocked) and nothing after it; a whole answer is
replaced by a 400 in the caller's format. Both front doors, OpenAI- and
Anthropic-format upstreams and echo; tool-call arguments; the guard sees
restored PII; a blocked answer is counted, logged, recorded in the usage row
and not held against the deployment; an answer that passes is a faithful
OpenAI answer; switched off, answers are relayed byte for byte."""

import json
import re

import pytest

from conftest import (Gateway, SSEAnswer, assert_openai_error, chat_body, chat_stream_parts,
                      marker, mock_provider, parse_events, post_chat, post_chat_stream,
                      post_messages, post_messages_stream, serve)

GUARD = """output_guard: { enabled: true, blocked_patterns: ["forbidden phrase", "Project Zeus",
  "jane.roe@example.org"] }
pii: { enabled: true, entities: [email] }
"""

MODELS = """\
  - name: claude-test
    deployments: [ { provider: anth, model: claude-upstream } ]
"""

EMAIL = "jane.roe@example.org"


@pytest.fixture(scope="module")
def ggw(mock, dead_port, tmp_path_factory):
    yield from serve(Gateway(tmp_path_factory.mktemp("gw-guard"), mock.port, dead_port,
                             extra_models=MODELS, name="gw-guard", extra=GUARD,
                             extra_providers=mock_provider(mock.port, "anth", "anthropic")))


@pytest.fixture(scope="module")
def gkey(ggw):
    return ggw.create_key("guard")["key"]


def metric(gw, name, labels=""):
    text = gw.request("GET", "/metrics").body.decode()
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    assert m, "%s%s not in /metrics" % (name, labels)
    return float(m.group(1))


def assert_blocked_stream_openai(s):
    chunks, done, errors, garbage = parse_events(s.events)
    assert not done, "a blocked stream has no [DONE]"
    assert len(errors) == 1 and not garbage, s.events
    err = errors[0]["error"]
    assert err["code"] == "output_blocked" and err["type"] == "invalid_request_error", err
    assert "forbidden" not in err["message"].lower(), "the pattern is not revealed"
    assert s.events[-1][1] == json.dumps(errors[0], separators=(",", ":")) or \
        json.loads(s.events[-1][1]) == errors[0], "the error is the last event"
    return chat_stream_parts(chunks)[0] or ""


def test_whole_answer_blocked(ggw, gkey, mock):
    before = metric(ggw, "gw_output_guard_blocks_total")
    m = marker()
    r = ggw.chat(gkey, "%s say the Forbidden Phrase now" % m)
    err = assert_openai_error(r, 400, code="output_blocked")
    assert "phrase" not in err["message"].lower()
    assert len(mock.find(m)) == 1, "the upstream was called"
    row = ggw.usage_row(r.headers["x-request-id"])
    assert row["status"] == 400 and row["error"] == "output_blocked", row
    assert metric(ggw, "gw_output_guard_blocks_total") == before + 1
    assert "output guard: the answer from mock matches blocked pattern 0" in ggw.stderr_text()


@pytest.mark.parametrize("split", [1, 2, 5])
def test_stream_blocked_across_events(ggw, gkey, mock, split):
    """"forbidden phrase" arrives over several events (two words, each split
    into `split`-byte events): the stream stops with the error event."""
    m = marker()
    text = "%s one two forbidden phrase three four [[mock:split=%d]]" % (m, split)
    s = post_chat_stream(ggw, gkey, chat_body(text, stream=True, include_usage=True))
    content = assert_blocked_stream_openai(s)
    # everything before the phrase, not a byte of it (held while it might be one)
    assert content == "echo: %s one two " % m, content
    row = ggw.usage_row(s.headers["x-request-id"])
    assert row["error"] == "output_blocked" and row["stream"] == 1, row
    assert row["status"] == 200, "the stream had started: its status stays"
    # the provider's usage was still read to its end and billed
    assert row["completion_tokens"] == 8, row


def test_blocked_not_held_against_deployment(ggw, gkey):
    labels = '{model="gpt-4o-mini",provider="mock",upstream_model="mock-upstream-model"}'
    failures = metric(ggw, "gw_deployment_failures_total", labels)
    for stream in (False, True):
        body = chat_body("%s Project Zeus" % marker(), stream=stream)
        if stream:
            assert_blocked_stream_openai(post_chat_stream(ggw, gkey, body))
        else:
            assert_openai_error(post_chat(ggw, gkey, body), 400, code="output_blocked")
    assert metric(ggw, "gw_deployment_failures_total", labels) == failures


def test_messages_caller(ggw, gkey):
    body = {"model": "gpt-4o-mini", "max_tokens": 50,
            "messages": [{"role": "user", "content": "%s about project zeus" % marker()}]}
    r = post_messages(ggw, gkey, body)
    assert r.status == 400, r
    doc = r.json()
    assert doc["type"] == "error" and doc["error"]["type"] == "invalid_request_error", doc
    assert "output guard" in doc["error"]["message"]
    body["messages"][0]["content"] = "%s about project zeus [[mock:split=3]]" % marker()
    s = post_messages_stream(ggw, gkey, dict(body, stream=True))
    assert s.status == 200
    assert s.names()[-1] == "error" and "message_stop" not in s.names(), s.names()
    assert s.text().startswith("echo: ") and s.text().endswith(" about "), s.text()


@pytest.mark.parametrize("front", ["chat", "messages"])
@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_upstream(ggw, gkey, front, stream):
    text = "%s the forbidden phrase [[mock:split=4]]" % marker()
    if front == "chat":
        body = chat_body(text, model="claude-test", stream=stream, max_tokens=64)
        if stream:
            assert_blocked_stream_openai(post_chat_stream(ggw, gkey, body))
        else:
            assert_openai_error(post_chat(ggw, gkey, body), 400, code="output_blocked")
    else:
        body = {"model": "claude-test", "max_tokens": 64, "stream": stream,
                "messages": [{"role": "user", "content": text}]}
        if stream:
            s = post_messages_stream(ggw, gkey, body)
            assert s.names()[-1] == "error", s.names()
            assert s.errors()[0]["error"]["message"].startswith("The answer was stopped")
        else:
            r = post_messages(ggw, gkey, body)
            assert r.status == 400 and r.json()["error"]["type"] == "invalid_request_error", r


@pytest.mark.parametrize("stream", [False, True])
def test_echo_provider(ggw, gkey, stream):
    body = chat_body("tell me of Project Zeus", model="echo", stream=stream)
    if stream:
        # "Project " waited for what followed: not a byte of the phrase went out
        assert assert_blocked_stream_openai(post_chat_stream(ggw, gkey, body)) == "tell me of "
    else:
        assert_openai_error(post_chat(ggw, gkey, body), 400, code="output_blocked")


def test_guard_sees_restored_text(ggw, gkey, mock):
    """The pattern is an e-mail address the PII stage scrubs: the upstream
    only sees its placeholder, the guard the restored address."""
    m = marker()
    r = ggw.chat(gkey, "%s write to %s" % (m, EMAIL))
    assert_openai_error(r, 400, code="output_blocked")
    assert EMAIL not in mock.find(m)[0]["body"]
    r = ggw.chat(gkey, "%s write to other@example.org" % m)
    assert r.status == 200
    assert r.json()["choices"][0]["message"]["content"] == "echo: %s write to other@example.org" % m


@pytest.mark.parametrize("stream", [False, True])
def test_tool_arguments_guarded(ggw, gkey, stream):
    """The mock calls tool lookup with {"text": <echo>}, the phrase inside."""
    text = "%s the forbidden phrase [[mock:tool=lookup]]" % marker()
    body = chat_body(text, stream=stream, tools=[{"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object", "properties": {}}}}])
    if stream:
        content = assert_blocked_stream_openai(post_chat_stream(ggw, gkey, body))
        assert content == "Calling lookup."
    else:
        assert_openai_error(post_chat(ggw, gkey, body), 400, code="output_blocked")


@pytest.mark.parametrize("stream", [False, True])
def test_passing_answer_is_faithful(ggw, gkey, stream):
    """With the guard on, answers are decoded and written again: what the
    client gets is a complete OpenAI answer (id, model, usage, tool calls,
    finish reason), as the relay would give."""
    m = marker()
    text = "%s all fine here [[mock:tool=lookup]]" % m
    tools = [{"type": "function", "function": {"name": "lookup",
                                                "parameters": {"type": "object"}}}]
    body = chat_body(text, stream=stream, tools=tools, include_usage=True if stream else None)
    want_args = {"text": "echo: %s all fine here" % m}
    prompt_words = len(text.split())
    if stream:
        s = post_chat_stream(ggw, gkey, body)
        chunks, done, errors, _ = parse_events(s.events)
        assert done and not errors
        content, calls, finishes, usage = chat_stream_parts(chunks)
        ids = {c["id"] for c in chunks}
        assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
        assert {c["model"] for c in chunks} == {"gpt-4o-mini"}
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == usage
    else:
        r = post_chat(ggw, gkey, body)
        assert r.status == 200, r
        doc = r.json()
        assert doc["object"] == "chat.completion" and doc["id"].startswith("chatcmpl-")
        assert doc["model"] == "gpt-4o-mini"
        msg = doc["choices"][0]["message"]
        assert msg["role"] == "assistant"
        content = msg["content"]
        calls = [{"id": c["id"], "name": c["function"]["name"],
                  "arguments": c["function"]["arguments"]} for c in msg["tool_calls"]]
        finishes = [doc["choices"][0]["finish_reason"]]
        usage = doc["usage"]
    assert content == "Calling lookup."
    assert len(calls) == 1 and calls[0]["id"].startswith("call_mock_")
    assert calls[0]["name"] == "lookup" and json.loads(calls[0]["arguments"]) == want_args
    assert finishes == ["tool_calls"]
    # the mock's usage: words of the prompt, words of "Calling lookup." + the echo
    assert usage["prompt_tokens"] == prompt_words
    assert usage["completion_tokens"] == 2 + len(want_args["text"].split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_off_relays_bytes(make_gateway, mock):
    g = make_gateway(extra='output_guard: { enabled: false, blocked_patterns: ["zeus"] }\n')
    k = g.create_key("noguard")["key"]
    r = g.chat(k, "%s project zeus" % marker())
    assert r.status == 200
    doc = r.json()
    assert doc["id"].startswith("chatcmpl-mock-") and doc["system_fingerprint"] == "mock"
    assert "zeus" in doc["choices"][0]["message"]["content"]
    # on with no patterns: nothing to guard, still relayed
    g.write_config(extra="output_guard: { enabled: true }\n")
    g.gwctl("reload")
    assert g.chat(k, "zeus").json()["system_fingerprint"] == "mock"
