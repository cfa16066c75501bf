"""Content policy stage: blocked phrases matched case-insensitively in any
message (string or text parts) refuse the request with 400
content_policy_violation before anything reaches the upstream; prompts over
max_input_tokens get 400 context_length_exceeded; the stage can be switched
off; a reload applies new patterns."""

import subprocess
import time

from conftest import GATEWAYD, assert_openai_error, chat_body

POLICY = """content_policy:
  enabled: true
  max_input_tokens: 200
  blocked_patterns: ["ignore previous instructions", "rm -rf /", "Секрет"]
"""


def test_blocked_phrase_refused_before_upstream(make_gateway, mock):
    g = make_gateway(extra=POLICY)
    key = g.create_key("pol")["key"]
    mock.clear()
    marker = "policy-marker-%d" % time.time_ns()
    r = g.chat(key, "%s please IGNORE Previous   instructions now" % marker)
    assert r.status == 200, "only the exact phrase (with single spaces) is blocked: %r" % r
    r = g.chat(key, "%s please IGNORE Previous instructions now" % marker)
    assert_openai_error(r, 400, code="content_policy_violation")
    assert "ignore previous" not in r.body.decode().lower(), "the pattern is not revealed"
    assert len(mock.find(marker)) == 1, "a refused request must not reach the upstream"


def test_blocked_phrase_in_any_message_and_part(make_gateway):
    g = make_gateway(extra=POLICY)
    key = g.create_key("pol2")["key"]
    msgs = [{"role": "system", "content": "be nice"},
            {"role": "user", "content": [{"type": "text", "text": "first part"},
                                         {"type": "text", "text": "then RM -RF / everything"}]}]
    r = g.request("POST", "/v1/chat/completions", body=chat_body("x", messages=msgs), key=key)
    assert_openai_error(r, 400, code="content_policy_violation")
    msgs = [{"role": "system", "content": "the секрет is out"}, {"role": "user", "content": "hi"}]
    r = g.request("POST", "/v1/chat/completions", body=chat_body("x", messages=msgs), key=key)
    assert r.status == 200, "non-ASCII letters match exactly, not case-folded: %r" % r
    msgs[0]["content"] = "the Секрет is out"
    r = g.request("POST", "/v1/chat/completions", body=chat_body("x", messages=msgs), key=key)
    assert_openai_error(r, 400, code="content_policy_violation")
    # a phrase split across two parts is not a match
    msgs = [{"role": "user", "content": [{"type": "text", "text": "ignore previous"},
                                         {"type": "text", "text": "instructions"}]}]
    r = g.request("POST", "/v1/chat/completions", body=chat_body("x", messages=msgs), key=key)
    assert r.status == 200, r


def test_max_input_tokens(make_gateway, mock):
    g = make_gateway(extra=POLICY)
    key = g.create_key("pol3")["key"]
    assert g.chat(key, "short prompt").status == 200
    marker = "long-marker-%d" % time.time_ns()
    r = g.chat(key, marker + " " + "word " * 400)
    assert_openai_error(r, 400, code="context_length_exceeded")
    assert not mock.find(marker)
    row = g.usage_row(r.headers["x-request-id"])
    assert row["status"] == 400 and row["error"] == "context_length_exceeded"


def test_policy_disabled(make_gateway):
    g = make_gateway(extra=POLICY.replace("enabled: true", "enabled: false"))
    key = g.create_key("pol4")["key"]
    assert g.chat(key, "ignore previous instructions").status == 200
    assert g.chat(key, "word " * 400).status == 200


def test_reload_applies_new_patterns(make_gateway):
    g = make_gateway(extra=POLICY)
    key = g.create_key("pol5")["key"]
    assert g.chat(key, "tell me about bananas").status == 200
    g.write_config(extra=POLICY.replace('"rm -rf /"', '"bananas"'))
    g.gwctl("reload")
    assert_openai_error(g.chat(key, "tell me about BANANAS"), 400, code="content_policy_violation")


def test_default_limit_is_32000_tokens(make_gateway):
    # no content_policy section: the defaults apply (enabled, 32,000 tokens)
    g = make_gateway(limits_extra="max_body_bytes: 1048576")
    key = g.create_key("pol6")["key"]
    assert g.chat(key, "word " * 1000).status == 200
    assert_openai_error(g.chat(key, "abcdefgh " * 16000), 400, code="context_length_exceeded")


def test_bad_policy_config_is_refused(gw):
    bad = gw.dir / "bad-policy.yaml"
    bad.write_text(gw.config_text(extra="content_policy: { blocked_patterns: [\"\"] }\n"))
    p = subprocess.run([str(GATEWAYD), "--check-config", "-c", str(bad)],
                       capture_output=True, text=True, env=gw.env())
    assert p.returncode != 0 and "blocked_patterns" in p.stderr, p.stderr
    assert ":%d:" % (bad.read_text().splitlines().index(
        "content_policy: { blocked_patterns: [\"\"] }") + 1) in p.stderr, p.stderr


def test_prompt_tokens_are_exact_for_openai_models(make_gateway):
    """The gateway counts a prompt as OpenAI does (tokenizer + chat overhead)
    for the model the request reaches upstream: each case of
    tests/tokenizer/chat.json (expected counts from the reference
    tokenizer) is refused with exactly that count in the message."""
    import json
    import re
    from pathlib import Path
    cases = json.loads((Path(__file__).parent.parent / "tokenizer" / "chat.json").read_text())
    models = "".join(
        "  - { name: via-%s, deployments: [ { provider: mock, model: %s } ] }\n" % (m, m)
        for m in sorted({c["model"] for c in cases}))
    g = make_gateway(extra_models=models, extra="content_policy: { max_input_tokens: 1 }\n")
    key = g.create_key("counter")["key"]
    for c in cases:
        body = {"model": "via-" + c["model"], "messages": c["messages"]}
        r = g.request("POST", "/v1/chat/completions", body=body, key=key)
        assert_openai_error(r, 400, code="context_length_exceeded")
        n = int(re.search(r"has (\d+) input tokens", r.json()["error"]["message"]).group(1))
        assert n == c["expected"], (c, n)
