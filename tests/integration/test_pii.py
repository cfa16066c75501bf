"""PII scrubbing (config `pii:`, docs/safety.md): every entity's values are
replaced by <<PII_TYPE_xxxxxxxx>> placeholders before the upstream call
(checked in the mock's record of what it received: nothing of the original
reaches it) and restored in the answer, whole and streamed, including when
the upstream splits a placeholder across many stream events (the mock's
split=N), through both front doors, an OpenAI-format and an Anthropic-format
upstream and the echo provider; tool-call arguments are restored as JSON;
look-alikes pass untouched; the entity list, restore: false and the switch
work; embeddings input is scrubbed; metrics count; logs hold no value."""

import json
import re
import subprocess

import pytest

from conftest import (GATEWAYD, SSEAnswer, Gateway, assert_openai_error, chat_body,
                      chat_stream_parts, marker, mock_provider, parse_events, post_chat,
                      post_chat_stream, post_messages, post_messages_stream, serve)

PII = """pii: {{ enabled: true, entities: [{entities}] }}
"""
ALL = "email, phone, credit_card, ssn, iban, ip, secret"

MODELS = """\
  - name: claude-test
    deployments: [ { provider: anth, model: claude-upstream } ]
"""

# one value of each entity, as people write them
VALUES = {
    "EMAIL": "jane.roe@example.org",
    "PHONE": "+1 415 555 2671",
    "CREDIT_CARD": "4111 1111 1111 1111",
    "SSN": "123-45-6789",
    "IBAN": "DE89370400440532013000",
    "IP": "2001:db8::7",
    "SECRET": "sk-proj-Abc123Def456Ghi789Jkl0",
}
# look-alikes no detector takes
LOOKALIKES = ("order 4155552671", "on 2024-01-15", "v1.2.3", "card 4111 1111 1111 1112",
              "ssn 666-12-3456", "ip 256.1.1.1", "sk-short")

PLACEHOLDER = re.compile(r"<<PII_([A-Z_]+)_[0-9a-f]{8}>>")


def prompt_with_all(m):
    return "%s: mail %s, call %s, card %s, ssn %s, iban %s, host %s, key %s; %s" % (
        m, VALUES["EMAIL"], VALUES["PHONE"], VALUES["CREDIT_CARD"], VALUES["SSN"],
        VALUES["IBAN"], VALUES["IP"], VALUES["SECRET"], "; ".join(LOOKALIKES))


@pytest.fixture(scope="module")
def pgw(mock, dead_port, tmp_path_factory):
    yield from serve(Gateway(tmp_path_factory.mktemp("gw-pii"), mock.port, dead_port,
                             extra_models=MODELS, name="gw-pii", extra=PII.format(entities=ALL),
                             extra_providers=mock_provider(mock.port, "anth", "anthropic")))


@pytest.fixture(scope="module")
def pkey(pgw):
    return pgw.create_key("pii")["key"]


def upstream_body(mock, m):
    """The one body the mock received with marker m, as text."""
    rec = mock.find(m)
    assert len(rec) == 1, rec
    return rec[0]["body"]


def assert_scrubbed(body):
    """No original value in body; a placeholder of every type instead."""
    for t, v in VALUES.items():
        assert v not in body, "%s reached the upstream: %s" % (t, body)
    for part in ("jane.roe", "4111 1111 1111 1111", "555 2671", "Def456", "0532013000"):
        assert part not in body, body
    assert sorted(set(PLACEHOLDER.findall(body))) == sorted(VALUES), body
    for la in LOOKALIKES:
        assert la in body, "look-alike %r was changed: %s" % (la, body)


def test_every_entity_scrubbed_and_restored(pgw, pkey, mock):
    m = marker()
    text = prompt_with_all(m)
    r = pgw.chat(pkey, text)
    assert r.status == 200, r
    assert r.headers.get("x-gw-pii-replaced") == "7", r.headers
    assert_scrubbed(upstream_body(mock, m))
    doc = r.json()
    assert doc["choices"][0]["message"]["content"] == "echo: " + text
    assert doc["choices"][0]["finish_reason"] == "stop"
    assert doc["object"] == "chat.completion" and doc["model"] == "gpt-4o-mini"
    # the upstream's usage (words of the scrubbed prompt) is billed
    assert doc["usage"]["prompt_tokens"] > 0 and doc["usage"]["completion_tokens"] > 0


def test_same_value_same_placeholder(pgw, pkey, mock):
    m = marker()
    text = "%s %s and %s and other@example.org" % (m, VALUES["EMAIL"], VALUES["EMAIL"])
    r = pgw.chat(pkey, text)
    assert r.status == 200 and r.headers.get("x-gw-pii-replaced") == "3", r
    body = json.loads(upstream_body(mock, m))["messages"][0]["content"]
    found = re.findall(r"<<PII_EMAIL_[0-9a-f]{8}>>", body)
    assert len(found) == 3 and found[0] == found[1] != found[2], body
    assert r.json()["choices"][0]["message"]["content"] == "echo: " + text


@pytest.mark.parametrize("split", [1, 2, 3, 7, 13])
def test_stream_restored_across_event_splits(pgw, pkey, mock, split):
    """The mock sends each word in events of `split` bytes: every placeholder
    arrives in pieces, and comes out whole."""
    m = marker()
    text = "%s mail %s or %s [[mock:split=%d]]" % (m, VALUES["EMAIL"], VALUES["SECRET"], split)
    s = post_chat_stream(pgw, pkey, chat_body(text, stream=True, include_usage=True))
    chunks, done, errors, garbage = parse_events(s.events)
    assert done and not errors and not garbage, s.events
    content, calls, finishes, usage = chat_stream_parts(chunks)
    want = "echo: %s mail %s or %s" % (m, VALUES["EMAIL"], VALUES["SECRET"])
    assert content == want
    assert finishes == ["stop"] and usage and usage["completion_tokens"] == 6
    assert not PLACEHOLDER.search(json.dumps(chunks))
    body = upstream_body(mock, m)
    assert VALUES["EMAIL"] not in body and VALUES["SECRET"] not in body
    # the restored text is streamed in pieces, not held to the end
    assert len([c for c in chunks if (c["choices"] or [{}])[0].get("delta", {}).get("content")]) > 3


def test_messages_caller_restored(pgw, pkey, mock):
    """/v1/messages through the OpenAI-format mock, whole and streamed."""
    m = marker()
    text = "%s reach me at %s" % (m, VALUES["EMAIL"])
    body = {"model": "gpt-4o-mini", "max_tokens": 50,
            "messages": [{"role": "user", "content": text}]}
    r = post_messages(pgw, pkey, body)
    assert r.status == 200, r
    assert r.json()["content"] == [{"type": "text", "text": "echo: " + text}]
    assert VALUES["EMAIL"] not in upstream_body(mock, m)
    m2 = marker()
    body["messages"][0]["content"] = "%s reach me at %s [[mock:split=4]]" % (m2, VALUES["EMAIL"])
    s = post_messages_stream(pgw, pkey, dict(body, stream=True))
    assert s.status == 200 and not s.errors(), s.raw
    assert s.text() == "echo: %s reach me at %s" % (m2, VALUES["EMAIL"])
    assert s.names()[-1] == "message_stop"
    assert VALUES["EMAIL"] not in upstream_body(mock, m2)


@pytest.mark.parametrize("front", ["chat", "messages"])
@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_upstream(pgw, pkey, mock, front, stream):
    """An Anthropic-format upstream: never relayed, scrubbed, restored."""
    m = marker()
    text = "%s card %s, ssn %s [[mock:split=3]]" % (m, VALUES["CREDIT_CARD"], VALUES["SSN"])
    want = "echo: %s card %s, ssn %s" % (m, VALUES["CREDIT_CARD"], VALUES["SSN"])
    if front == "chat":
        body = chat_body(text, model="claude-test", stream=stream, max_tokens=64)
        if stream:
            s = post_chat_stream(pgw, pkey, body)
            chunks, done, errors, _ = parse_events(s.events)
            assert done and not errors, s.events
            got = chat_stream_parts(chunks)[0]
        else:
            r = post_chat(pgw, pkey, body)
            assert r.status == 200, r
            got = r.json()["choices"][0]["message"]["content"]
    else:
        body = {"model": "claude-test", "max_tokens": 64, "stream": stream,
                "messages": [{"role": "user", "content": text}]}
        if stream:
            s = post_messages_stream(pgw, pkey, body)
            assert s.status == 200 and not s.errors(), s.raw
            got = s.text()
        else:
            r = post_messages(pgw, pkey, body)
            assert r.status == 200, r
            got = r.json()["content"][0]["text"]
    assert got == want
    up = upstream_body(mock, m)
    assert VALUES["CREDIT_CARD"] not in up and VALUES["SSN"] not in up, up
    assert "<<PII_CREDIT_CARD_" in up and "<<PII_SSN_" in up


@pytest.mark.parametrize("front", ["chat", "messages"])
@pytest.mark.parametrize("stream", [False, True])
def test_echo_provider(pgw, pkey, front, stream):
    text = "%s mail %s" % (marker(), VALUES["EMAIL"])
    if front == "chat":
        body = chat_body(text, model="echo", stream=stream)
        if stream:
            chunks, done, _, _ = parse_events(post_chat_stream(pgw, pkey, body).events)
            assert done
            got = chat_stream_parts(chunks)[0]
        else:
            got = post_chat(pgw, pkey, body).json()["choices"][0]["message"]["content"]
    else:
        body = {"model": "echo", "max_tokens": 20, "stream": stream,
                "messages": [{"role": "user", "content": text}]}
        got = (post_messages_stream(pgw, pkey, body).text() if stream
               else post_messages(pgw, pkey, body).json()["content"][0]["text"])
    assert got == text


@pytest.mark.parametrize("stream", [False, True])
def test_tool_arguments_restored(pgw, pkey, mock, stream):
    """The mock calls tool `lookup` with {"text": <echo>}: the placeholder in
    the arguments comes back as the value, the arguments still JSON."""
    m = marker()
    text = "%s find %s [[mock:tool=lookup]]" % (m, VALUES["EMAIL"])
    body = chat_body(text, stream=stream, tools=[{"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object", "properties": {}}}}])
    if stream:
        chunks, done, errors, _ = parse_events(post_chat_stream(pgw, pkey, body).events)
        assert done and not errors
        content, calls, finishes, _ = chat_stream_parts(chunks)
    else:
        r = post_chat(pgw, pkey, body)
        assert r.status == 200, r
        msg = r.json()["choices"][0]["message"]
        content = msg["content"]
        calls = [{"id": c["id"], "name": c["function"]["name"],
                  "arguments": c["function"]["arguments"]} for c in msg["tool_calls"]]
        finishes = [r.json()["choices"][0]["finish_reason"]]
    assert content == "Calling lookup."
    assert len(calls) == 1 and calls[0]["name"] == "lookup" and calls[0]["id"]
    assert json.loads(calls[0]["arguments"]) == {"text": "echo: %s find %s" % (m, VALUES["EMAIL"])}
    assert finishes[-1] == "tool_calls"
    assert VALUES["EMAIL"] not in upstream_body(mock, m)


def test_earlier_tool_call_arguments_scrubbed(pgw, pkey, mock):
    """An assistant message's tool-call arguments (JSON) are scrubbed as JSON."""
    m = marker()
    msgs = [{"role": "user", "content": m + " who?"},
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function", "function": {
                    "name": "send", "arguments": json.dumps({"to": VALUES["EMAIL"], "n": 1})}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sent to " + VALUES["PHONE"]},
            {"role": "user", "content": "thanks"}]
    r = post_chat(pgw, pkey, chat_body("x", messages=msgs, user=VALUES["EMAIL"]))
    assert r.status == 200, r
    up = json.loads(upstream_body(mock, m))
    args = json.loads(up["messages"][1]["tool_calls"][0]["function"]["arguments"])
    assert PLACEHOLDER.fullmatch(args["to"]) and args["n"] == 1, args
    assert VALUES["PHONE"] not in up["messages"][2]["content"]
    assert PLACEHOLDER.fullmatch(up["user"]), up["user"]
    assert r.headers.get("x-gw-pii-replaced") == "3"


def test_embeddings_input_scrubbed(pgw, pkey, mock):
    m = marker()
    body = {"model": "gpt-4o-mini", "input": ["%s %s" % (m, VALUES["EMAIL"]), "plain"]}
    r = pgw.request("POST", "/v1/embeddings", body=body, key=pkey)
    assert r.status == 200, r
    assert len(r.json()["data"]) == 2
    assert r.headers.get("x-gw-pii-replaced") == "1"
    up = json.loads(upstream_body(mock, m))
    assert up["input"][0].startswith(m + " <<PII_EMAIL_") and up["input"][1] == "plain", up
    # token arrays have no text to scrub: passed on
    r = pgw.request("POST", "/v1/embeddings", body={"model": "gpt-4o-mini", "input": [[1, 2]]},
                    key=pkey)
    assert r.status == 200 and "x-gw-pii-replaced" not in r.headers, r


def test_no_pii_request_stays_relayed(pgw, pkey, mock):
    """Nothing found: the caller's bytes go up as they came (only the model
    changed), and no header."""
    m = marker()
    raw = '{"model":"gpt-4o-mini",  "messages":[{"role":"user","content":"%s plain"}]}' % m
    r = pgw.request("POST", "/v1/chat/completions", body=raw, key=pkey,
                    headers={"Content-Type": "application/json"})
    assert r.status == 200 and "x-gw-pii-replaced" not in r.headers, r
    assert upstream_body(mock, m) == raw.replace("gpt-4o-mini", "mock-upstream-model")
    # relayed: the upstream's own id and fingerprint
    assert r.json()["id"].startswith("chatcmpl-mock-") and r.json()["system_fingerprint"] == "mock"


def test_n_and_logprobs_refused_when_restoring(pgw, pkey, mock):
    m = marker()
    r = pgw.chat(pkey, "%s %s" % (m, VALUES["EMAIL"]), n=2)
    assert_openai_error(r, 400, code="unsupported_parameter", param="n")
    r = pgw.chat(pkey, "%s %s" % (m, VALUES["EMAIL"]), logprobs=True)
    assert_openai_error(r, 400, code="unsupported_parameter", param="logprobs")
    assert not mock.find(m)
    assert pgw.chat(pkey, "%s plain" % m, n=2).status == 200  # nothing to restore: relayed


def test_metrics_and_logs(pgw, pkey):
    def count(entity):
        text = pgw.request("GET", "/metrics").body.decode()
        mm = re.search(r'^gw_pii_replacements_total\{entity="%s"\} (\d+)$' % entity, text, re.M)
        assert mm, text
        return int(mm.group(1))
    before = count("iban"), count("ip")
    assert pgw.chat(pkey, "%s %s %s 10.1.2.3" % (marker(), VALUES["IBAN"], VALUES["IBAN"])).status == 200
    assert (count("iban"), count("ip")) == (before[0] + 2, before[1] + 1)
    log = pgw.stderr_text()
    assert "pii: replaced" in log
    for v in VALUES.values():
        assert v not in log, "a value reached the log: %s" % v


def test_entities_and_restore_switch(make_gateway, mock):
    g = make_gateway(extra="pii: { enabled: true, restore: false }\n")
    k = g.create_key("pii-default")["key"]
    m = marker()
    text = "%s %s %s %s %s" % (m, VALUES["EMAIL"], VALUES["PHONE"], VALUES["CREDIT_CARD"],
                               VALUES["SSN"])
    r = g.chat(k, text)
    assert r.status == 200 and r.headers.get("x-gw-pii-replaced") == "3", r
    up = upstream_body(mock, m)
    # default entities: email, phone, credit_card; the SSN is not among them
    assert VALUES["SSN"] in up and VALUES["EMAIL"] not in up
    # restore: false: the answer keeps the placeholders the upstream saw
    content = r.json()["choices"][0]["message"]["content"]
    assert content == "echo: " + json.loads(up)["messages"][0]["content"]
    assert len(PLACEHOLDER.findall(content)) == 3

    g.write_config(extra="pii: { enabled: true, entities: [ssn] }\n")
    g.gwctl("reload")
    m = marker()
    r = g.chat(k, "%s %s %s" % (m, VALUES["EMAIL"], VALUES["SSN"]))
    up = upstream_body(mock, m)
    assert VALUES["EMAIL"] in up and VALUES["SSN"] not in up
    assert r.json()["choices"][0]["message"]["content"].endswith(VALUES["SSN"])

    g.write_config(extra="pii: { enabled: false, entities: [all] }\n")
    g.gwctl("reload")
    m = marker()
    r = g.chat(k, "%s %s" % (m, VALUES["EMAIL"]))
    assert r.status == 200 and "x-gw-pii-replaced" not in r.headers
    assert VALUES["EMAIL"] in upstream_body(mock, m)


@pytest.mark.parametrize("section,err", [
    ("pii: { enabled: true, entities: [email, passport] }", "unknown entity 'passport'"),
    ("pii: { enabled: true, entities: [email, email] }", "'email' is listed twice"),
    ("pii: { enabled: yes please }", "enabled"),
    ("pii: { mode: redact }", "unknown key in pii"),
    ("output_guard: { enabled: true, blocked: [x] }", "unknown key in output_guard"),
    ("output_guard: { blocked_patterns: [\"\"] }", "blocked_patterns"),
])
def test_config_errors(tmp_path, section, err):
    cfg = tmp_path / "gatewayd.yaml"
    text = "listen: 127.0.0.1:1\ndata_dir: %s\n%s\n" % (tmp_path / "var", section)
    cfg.write_text(text)
    p = subprocess.run([str(GATEWAYD), "--check-config", "-c", str(cfg)], capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert p.returncode != 0, p
    assert "%s:3:" % cfg in p.stderr and err in p.stderr, p.stderr
