"""The prompt library (docs/prompts.md): `gwctl prompt create | list | show |
diff | rollback | delete`, and requests that name a template with the
x-gw-prompt header or the body's "prompt" field and fill its {{variables}}
from "inputs". Checks what reaches the upstream (the mock records it): the
template's system message and messages before the caller's, its params as
defaults, its model when the request has none or it forces its own, no
"prompt"/"inputs"; the x-gw-prompt answer header; every 400/404 in both
front doors' shapes with nothing sent upstream; versions pinned with
NAME@VERSION, rollback, delete; usage rows naming the version and `usage
report --by prompt`; the content policy and token limits seeing the
rendered prompt; `prompts: {enabled: false}`; prompts surviving a restart."""

import json
import subprocess
import threading

import pytest

from conftest import (GATEWAYD, Gateway, SSEAnswer, assert_openai_error, marker, messages_headers,
                      mock_provider, post_chat, post_chat_stream, post_messages, serve)

SUPPORT_YAML = """\
description: Support answers for one product
model: gpt-4o-mini
params: { temperature: 0.2, max_tokens: 300 }
system: |
  You are the support agent of {{company}}.
  Answer in {{ language }}.
messages:
  - role: user
    content: "The product is {{product}}."
  - role: assistant
    content: Understood.
"""


@pytest.fixture(scope="module")
def pgw(mock, dead_port, tmp_path_factory):
    """A gateway of this module's own, with a model the templates can force
    and an Anthropic-format provider (the mock)."""
    extra_models = """\
  - name: forced-model
    deployments: [ { provider: mock, model: forced-upstream } ]
  - name: claude-mock
    deployments: [ { provider: anth, model: claude-upstream } ]
"""
    yield from serve(Gateway(tmp_path_factory.mktemp("prompts"), mock.port, dead_port,
                             extra_models=extra_models, name="prompts",
                             extra_providers=mock_provider(mock.port, "anth", "anthropic")))


@pytest.fixture(scope="module")
def pkey(pgw):
    return pgw.create_key("prompt-user")["key"]


_files = [0]


def write_file(g, text, suffix):
    _files[0] += 1
    p = g.dir / ("template-%d%s" % (_files[0], suffix))
    p.write_text(text)
    return p


def create(g, name, text, suffix=".yaml", *extra):
    """gwctl prompt create NAME --file F (as --json); returns the result."""
    return g.gwctl("prompt", "create", name, "--file", write_file(g, text, suffix), *extra)


def upstream_body(mock, mark):
    """The one request the mock received whose body holds mark, parsed."""
    found = mock.find(mark)
    assert len(found) == 1, "expected one upstream request with %s, got %d" % (mark, len(found))
    return json.loads(found[0]["body"])


def chat(g, key, body, headers=None):
    return post_chat(g, key, body, headers=headers)


def assert_anthropic_error(resp, status, etype):
    assert resp.status == status, resp
    doc = resp.json()
    assert doc.get("type") == "error" and doc["error"]["type"] == etype, doc
    return doc["error"]["message"]


# --------------------------------------------------------------------------
# gwctl


def test_create_list_show_versions(pgw):
    r1 = create(pgw, "greeter", "Greet {{name}} warmly.\n", ".txt")
    assert r1["prompt"]["name"] == "greeter" and r1["prompt"]["version"] == 1
    assert r1["prompt"]["active"] is True and r1["previous_version"] == 0
    assert r1["prompt"]["format"] == "text"
    assert r1["prompt"]["template"] == {"variables": ["name"], "system": "Greet {{name}} warmly."}
    assert r1["prompt"]["source"] == "Greet {{name}} warmly.\n"
    assert r1["prompt"]["created_by"], "the OS user running gwctl is recorded"
    r2 = create(pgw, "greeter", "Greet {{name}} briefly.", ".txt")
    assert r2["prompt"]["version"] == 2 and r2["previous_version"] == 1

    listed = {p["name"]: p for p in pgw.gwctl("prompt", "list")["prompts"]}
    g = listed["greeter"]
    assert (g["active_version"], g["latest_version"], g["versions"]) == (2, 2, 2)
    assert g["variables"] == ["name"] and g["model"] is None

    shown = pgw.gwctl("prompt", "show", "greeter")
    assert shown["prompt"]["version"] == 2 and shown["prompt"]["active"] is True
    assert shown["prompt"]["yaml"] == 'variables: [name]\nsystem: "Greet {{name}} briefly."\n'
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert [(e["action"], e["version"], e["from_version"]) for e in shown["events"]] == \
        [("create", 1, None), ("create", 2, 1)]
    old = pgw.gwctl("prompt", "show", "greeter@1")["prompt"]
    assert old["version"] == 1 and old["active"] is False
    assert old["template"]["system"] == "Greet {{name}} warmly."

    # the human views
    p = pgw.gwctl_run("prompt", "list", json_out=False)
    assert p.returncode == 0 and "greeter" in p.stdout and "NAME" in p.stdout, p
    p = pgw.gwctl_run("prompt", "show", "greeter@1", json_out=False)
    assert p.returncode == 0 and 'system: "Greet {{name}} warmly."' in p.stdout, p


def test_diff(pgw):
    create(pgw, "differ", "system: |\n  line one\n  line two {{x}}\n  line three\n")
    create(pgw, "differ", "system: |\n  line one\n  line 2 {{x}}\n  line three\n")
    d = pgw.gwctl("prompt", "diff", "differ", "1", "2")
    assert d["identical"] is False
    assert d["diff"] == ("--- differ@1\n+++ differ@2\n@@ -1,5 +1,5 @@\n variables: [x]\n"
                         " system: |\n   line one\n-  line two {{x}}\n+  line 2 {{x}}\n"
                         "   line three\n")
    # V2 defaults to the active version
    assert pgw.gwctl("prompt", "diff", "differ", "1")["diff"] == d["diff"]
    same = pgw.gwctl("prompt", "diff", "differ", "2", "2")
    assert same["identical"] is True and same["diff"] == ""
    p = pgw.gwctl_run("prompt", "diff", "differ", "1", "2", json_out=False)
    assert p.returncode == 0 and p.stdout == d["diff"], p
    p = pgw.gwctl_run("prompt", "diff", "differ", "1", "9")
    assert p.returncode == 1 and "no version 9" in p.stderr, p


def test_gwctl_refusals(pgw):
    p = pgw.gwctl_run("prompt", "create", "bad", "--file", write_file(pgw, "system: [x\n", ".yaml"))
    assert p.returncode == 1 and "line 2" in p.stderr and ".yaml" in p.stderr, p
    p = pgw.gwctl_run("prompt", "create", "bad", "--file",
                      write_file(pgw, "system: \"{{a}} {{b\"\n", ".yml"))
    assert p.returncode == 1 and "system: '{{' not closed" in p.stderr, p
    p = pgw.gwctl_run("prompt", "create", "bad", "--file",
                      write_file(pgw, '{"system": "{{a}}", "variables": ["a", "b"]}', ".json"))
    assert p.returncode == 1 and "'b' is declared but no text uses {{b}}" in p.stderr, p
    p = pgw.gwctl_run("prompt", "create", "bad", "--file", pgw.dir / "does-not-exist.txt")
    assert p.returncode == 2 and "does-not-exist.txt" in p.stderr, p
    p = pgw.gwctl_run("prompt", "create", "no spaces", "--file", write_file(pgw, "x", ".txt"))
    assert p.returncode == 1 and "not a prompt name" in p.stderr, p
    p = pgw.gwctl_run("prompt", "create", "bad", "--file", write_file(pgw, "x", ".txt"),
                      "--format", "toml")
    assert p.returncode == 2, p
    # --format overrides the extension: this YAML-looking text is a system prompt
    r = create(pgw, "as-text", "system: {{x}}\n", ".yaml", "--format", "text")
    assert r["prompt"]["template"]["system"] == "system: {{x}}"
    p = pgw.gwctl_run("prompt", "show", "nothing-here")
    assert p.returncode == 1 and "no prompt named 'nothing-here'" in p.stderr, p
    p = pgw.gwctl_run("prompt", "show", "as-text@7")
    assert p.returncode == 1 and "no version 7" in p.stderr, p
    assert not [x for x in pgw.gwctl("prompt", "list")["prompts"] if x["name"] == "bad"]


# --------------------------------------------------------------------------
# requests


def test_text_template_is_the_system_message(pgw, pkey, mock):
    create(pgw, "plain", "You are a poet from {{city}}.\n", ".txt")
    m = marker()
    r = chat(pgw, pkey, {"model": "gpt-4o-mini", "inputs": {"city": "Lyon"},
                         "messages": [{"role": "user", "content": m}]},
             headers={"x-gw-prompt": "plain"})
    assert r.status == 200, r
    assert r.headers["x-gw-prompt"] == "plain@1"
    assert r.json()["choices"][0]["message"]["content"] == "echo: " + m
    up = upstream_body(mock, m)
    assert up["messages"] == [{"role": "system", "content": "You are a poet from Lyon."},
                              {"role": "user", "content": m}]
    assert up["model"] == "mock-upstream-model"
    assert "prompt" not in up and "inputs" not in up


def test_yaml_template_supplies_model_messages_and_params(pgw, pkey, mock):
    create(pgw, "support", SUPPORT_YAML)
    m = marker()
    # no model, no messages of its own: the template's
    r = chat(pgw, pkey, {"prompt": "support", "user": m,
                         "inputs": {"company": "Acme", "language": "French", "product": m}})
    assert r.status == 200, r
    assert r.headers["x-gw-prompt"] == "support@1"
    up = upstream_body(mock, m)
    assert up["model"] == "mock-upstream-model"
    assert up["messages"] == [
        {"role": "system", "content": "You are the support agent of Acme.\nAnswer in French.\n"},
        {"role": "user", "content": "The product is %s." % m},
        {"role": "assistant", "content": "Understood."}]
    assert up["temperature"] == 0.2 and up["max_tokens"] == 300
    # the request's own parameters win; max_completion_tokens replaces max_tokens
    m = marker()
    r = chat(pgw, pkey, {"prompt": "support", "temperature": 0.9, "max_completion_tokens": 50,
                         "inputs": {"company": "Acme", "language": "French", "product": "P"},
                         "messages": [{"role": "system", "content": "caller system"},
                                      {"role": "user", "content": m}]})
    assert r.status == 200, r
    up = upstream_body(mock, m)
    assert up["temperature"] == 0.9 and up["max_completion_tokens"] == 50
    assert "max_tokens" not in up
    assert [x["role"] for x in up["messages"]] == ["system", "user", "assistant", "system", "user"]
    assert up["messages"][3]["content"] == "caller system"


def test_forced_model_and_request_model(pgw, pkey, mock):
    create(pgw, "forced", json.dumps({"model": "forced-model", "force_model": True,
                                      "system": "Be terse."}), ".json")
    create(pgw, "default-model", json.dumps({"model": "forced-model", "system": "Be terse."}),
           ".json")
    m = marker()
    r = chat(pgw, pkey, {"model": "gpt-4o-mini", "prompt": "forced",
                         "messages": [{"role": "user", "content": m}]})
    assert r.status == 200, r
    assert upstream_body(mock, m)["model"] == "forced-upstream"
    assert r.headers["x-gw-deployment"] == "mock/forced-upstream"
    m = marker()
    r = chat(pgw, pkey, {"model": "gpt-4o-mini", "prompt": "default-model",
                         "messages": [{"role": "user", "content": m}]})
    assert r.status == 200, r
    assert upstream_body(mock, m)["model"] == "mock-upstream-model", "the request's model wins"


def test_values_and_escapes(pgw, pkey, mock):
    create(pgw, "values", 'system: "n={{n}} f={{f}} b={{b}} s={{s}} lit={{{{s}} json={{{s}}}"\n')
    m = marker()
    r = chat(pgw, pkey, {"model": "gpt-4o-mini", "prompt": "values",
                         "inputs": {"n": 42, "f": 0.5, "b": True, "s": "{{n}}"},
                         "messages": [{"role": "user", "content": m}]})
    assert r.status == 200, r
    assert upstream_body(mock, m)["messages"][0]["content"] == \
        "n=42 f=0.5 b=true s={{n}} lit={{s}} json={{{n}}}", "values are not expanded again"


def test_pinned_versions_and_rollback(pgw, pkey, mock):
    create(pgw, "pinned", "Version one says {{w}}.", ".txt")
    create(pgw, "pinned", "Version two says {{w}}.", ".txt")

    def system_of(ref, header=True):
        m = marker()
        body = {"model": "gpt-4o-mini", "inputs": {"w": "hi"},
                "messages": [{"role": "user", "content": m}]}
        if header:
            r = chat(pgw, pkey, body, headers={"x-gw-prompt": ref})
        else:
            body["prompt"] = ref
            r = chat(pgw, pkey, body)
        assert r.status == 200, r
        return r.headers["x-gw-prompt"], upstream_body(mock, m)["messages"][0]["content"]

    assert system_of("pinned") == ("pinned@2", "Version two says hi.")
    assert system_of("pinned@1") == ("pinned@1", "Version one says hi.")
    assert system_of("pinned@1", header=False) == ("pinned@1", "Version one says hi.")
    rb = pgw.gwctl("prompt", "rollback", "pinned", "1")
    assert rb["prompt"]["version"] == 1 and rb["previous_version"] == 2 and rb["changed"] is True
    assert system_of("pinned") == ("pinned@1", "Version one says hi.")
    assert system_of("pinned@2") == ("pinned@2", "Version two says hi.")
    again = pgw.gwctl("prompt", "rollback", "pinned", "1")
    assert again["changed"] is False
    shown = pgw.gwctl("prompt", "show", "pinned")
    assert [(e["action"], e["version"], e["from_version"]) for e in shown["events"]] == \
        [("create", 1, None), ("create", 2, 1), ("rollback", 1, 2)]
    assert all(e["by"] for e in shown["events"])
    listed = {p["name"]: p for p in pgw.gwctl("prompt", "list")["prompts"]}
    assert (listed["pinned"]["active_version"], listed["pinned"]["latest_version"]) == (1, 2)
    p = pgw.gwctl_run("prompt", "rollback", "pinned", "5")
    assert p.returncode == 1 and "no version 5" in p.stderr, p
    p = pgw.gwctl_run("prompt", "rollback", "pinned", "2", json_out=False)
    assert p.returncode == 0 and p.stdout == "pinned@2 is now active (was pinned@1)\n", p


def test_streaming_with_a_template(pgw, pkey, mock):
    create(pgw, "streamer", "Stream for {{who}}.", ".txt")
    m = marker()
    s = post_chat_stream(pgw, pkey, {"model": "gpt-4o-mini", "stream": True, "prompt": "streamer",
                                     "inputs": {"who": "Bo"},
                                     "messages": [{"role": "user", "content": m}]})
    assert s.status == 200 and s.headers["x-gw-prompt"] == "streamer@1"
    assert s.events[-1][1] == "[DONE]"
    up = upstream_body(mock, m)
    assert up["messages"][0] == {"role": "system", "content": "Stream for Bo."}
    assert up["stream"] is True


def test_messages_front_door(pgw, pkey, mock):
    create(pgw, "anthro", SUPPORT_YAML)
    m = marker()
    inputs = {"company": "Acme", "language": "German", "product": m}
    # no model, no max_tokens, no messages: all from the template
    r = post_messages(pgw, pkey, {"prompt": "anthro", "inputs": inputs})
    assert r.status == 200, r
    assert r.headers["x-gw-prompt"] == "anthro@1"
    assert r.json()["type"] == "message"
    up = upstream_body(mock, m)
    assert up["messages"][0]["role"] == "system" and "German" in up["messages"][0]["content"]
    assert up["max_tokens"] == 300 and "prompt" not in up and "inputs" not in up
    # streamed, named by the header, with a caller message
    m = marker()
    s = SSEAnswer(pgw.port, "/v1/messages",
                  {"model": "gpt-4o-mini", "max_tokens": 20, "stream": True, "inputs": inputs,
                   "messages": [{"role": "user", "content": m}]},
                  messages_headers(pkey, {"x-gw-prompt": "anthro@1"}))
    assert s.status == 200 and s.headers["x-gw-prompt"] == "anthro@1"
    assert s.text() == "echo: " + m
    assert upstream_body(mock, m)["max_tokens"] == 20
    # errors in Anthropic's shape
    r = post_messages(pgw, pkey, {"prompt": "anthro", "inputs": {"company": "Acme"}})
    msg = assert_anthropic_error(r, 400, "invalid_request_error")
    assert "missing variables: language, product" in msg
    r = post_messages(pgw, pkey, {"prompt": "nope", "max_tokens": 5,
                                  "messages": [{"role": "user", "content": "x"}]})
    assert_anthropic_error(r, 404, "not_found_error")
    # count_tokens counts the rendered prompt
    base = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
    plain = pgw.request("POST", "/v1/messages/count_tokens", body=base,
                        headers=messages_headers(pkey)).json()["input_tokens"]
    with_tpl = pgw.request("POST", "/v1/messages/count_tokens",
                           body=dict(base, prompt="anthro", inputs=inputs),
                           headers=messages_headers(pkey)).json()["input_tokens"]
    assert with_tpl > plain + 15, (plain, with_tpl)


def test_anthropic_provider_gets_a_translation(pgw, pkey, mock):
    """/v1/messages to an Anthropic provider is relayed byte for byte without a
    template; with one, the rendered request is translated instead."""
    create(pgw, "claude-sys", "You speak like {{who}}.", ".txt")
    m = marker()
    r = post_messages(pgw, pkey, {"model": "claude-mock", "max_tokens": 30, "prompt": "claude-sys",
                                  "inputs": {"who": "a pirate"},
                                  "system": "Caller system.",
                                  "messages": [{"role": "user", "content": m}]})
    assert r.status == 200, r
    assert r.headers["x-gw-prompt"] == "claude-sys@1"
    up = upstream_body(mock, m)
    assert up["model"] == "claude-upstream" and up["max_tokens"] == 30
    system = up["system"] if isinstance(up["system"], str) else \
        "\n".join(b["text"] for b in up["system"])
    assert "You speak like a pirate." in system and "Caller system." in system
    assert system.index("pirate") < system.index("Caller")
    assert up["messages"] == [{"role": "user", "content": m}] or \
        up["messages"][0]["content"][0]["text"] == m
    assert "prompt" not in up and "inputs" not in up
    # and from the OpenAI front door
    m = marker()
    r = chat(pgw, pkey, {"model": "claude-mock", "prompt": "claude-sys@1", "inputs": {"who": "Yoda"},
                         "messages": [{"role": "user", "content": m}]})
    assert r.status == 200, r
    up = upstream_body(mock, m)
    assert "Yoda" in json.dumps(up["system"]) and "prompt" not in up


def test_every_refusal(pgw, pkey, mock):
    create(pgw, "strict", "Hello {{first}} {{last}}.", ".txt")
    create(pgw, "modelless", "No model here.", ".txt")
    mock.clear()
    m = marker()
    msgs = [{"role": "user", "content": m}]

    def refused(status, code, param, body, headers=None, says=()):
        full = dict({"model": "gpt-4o-mini", "messages": msgs}, **body)
        r = chat(pgw, pkey, full, headers=headers)
        err = assert_openai_error(r, status, code=code, param=param)
        for s in says:
            assert s in err["message"], err
        assert "x-gw-prompt" not in r.headers
        return err

    refused(400, "missing_prompt_variables", "inputs", {"prompt": "strict"},
            says=("strict@1", "missing variables: first, last", "it takes: first, last"))
    refused(400, "missing_prompt_variables", "inputs",
            {"prompt": "strict", "inputs": {"first": "A"}}, says=("missing variable: last",))
    refused(400, "unknown_prompt_variables", "inputs",
            {"prompt": "strict", "inputs": {"first": "A", "last": "B", "middle": "C"}},
            says=("unknown variable: middle",))
    refused(400, "missing_prompt_variables", "inputs",
            {"prompt": "strict", "inputs": {"first": "A", "lst": "B"}},
            says=("missing variable: last; unknown variable: lst",))
    refused(400, "invalid_prompt_input", "inputs",
            {"prompt": "strict", "inputs": {"first": {"a": 1}, "last": "B"}}, says=("inputs.first",))
    refused(400, "invalid_prompt_input", "inputs",
            {"prompt": "strict", "inputs": {"first": ["a"], "last": "B"}})
    refused(400, "invalid_prompt_input", "inputs",
            {"prompt": "strict", "inputs": {"first": None, "last": "B"}})
    refused(400, "invalid_type", "inputs", {"prompt": "strict", "inputs": ["A", "B"]})
    refused(400, "invalid_type", "prompt", {"prompt": 7})
    refused(400, "invalid_type", "prompt", {"prompt": ""})
    refused(400, "prompt_required", "inputs", {"inputs": {"first": "A"}})
    refused(400, "invalid_prompt_reference", "prompt", {"prompt": "strict@x"})
    refused(400, "invalid_prompt_reference", "prompt", {"prompt": "strict@0"})
    refused(400, "invalid_prompt_reference", "prompt", {"prompt": "bad name"})
    refused(400, "invalid_prompt_reference", "x-gw-prompt", {}, headers={"x-gw-prompt": ""})
    refused(400, "conflicting_prompt", "prompt", {"prompt": "strict"},
            headers={"x-gw-prompt": "strict@1"})
    refused(404, "prompt_not_found", "prompt", {"prompt": "no-such-prompt"},
            says=("No prompt named 'no-such-prompt'",))
    refused(404, "prompt_not_found", "prompt", {"prompt": "strict@9"},
            says=("has no version 9",))
    # a variable used many times cannot multiply a large input past the body limit
    create(pgw, "echoes", "system: \"" + "{{v}} " * 10 + "\"\n")
    r = chat(pgw, pkey, {"model": "gpt-4o-mini", "prompt": "echoes", "inputs": {"v": "x" * 8000},
                         "messages": msgs})
    assert_openai_error(r, 413, code="request_too_large", param="inputs")
    # a template without a model, and a request without one
    r = chat(pgw, pkey, {"prompt": "modelless", "messages": msgs})
    assert_openai_error(r, 400, code="missing_required_parameter", param="model")
    # without a template, model and messages are still required
    r = chat(pgw, pkey, {"messages": msgs})
    assert_openai_error(r, 400, code="missing_required_parameter", param="model")
    r = chat(pgw, pkey, {"model": "gpt-4o-mini", "messages": []})
    assert_openai_error(r, 400, code="invalid_value", param="messages")
    assert not mock.find(m), "no refused request reaches the upstream"
    # the same header and body reference is fine
    r = chat(pgw, pkey, {"model": "gpt-4o-mini", "prompt": "strict@1", "messages": msgs,
                         "inputs": {"first": "A", "last": "B"}}, headers={"x-gw-prompt": "strict@1"})
    assert r.status == 200, r


def test_usage_rows_and_report(pgw, pkey):
    create(pgw, "billed", "Bill {{who}}.", ".txt")
    ids = []
    for who in ("a", "b"):
        r = chat(pgw, pkey, {"model": "gpt-4o-mini", "prompt": "billed", "inputs": {"who": who},
                             "messages": [{"role": "user", "content": "one two three"}]})
        assert r.status == 200, r
        ids.append(r.headers["x-request-id"])
    r = chat(pgw, pkey, {"model": "gpt-4o-mini", "prompt": "billed", "inputs": {},
                         "messages": [{"role": "user", "content": "x"}]})
    assert r.status == 400
    refused_id = r.headers["x-request-id"]
    plain = pgw.chat(pkey, "no template")
    rows = [pgw.usage_row(i) for i in ids]
    assert all((row["prompt_name"], row["prompt_version"]) == ("billed", 1) for row in rows)
    # the mock counts words: "Bill a." and the user's three words reach it
    assert rows[0]["prompt_tokens"] == 5
    row = pgw.usage_row(refused_id)
    assert (row["prompt_name"], row["prompt_version"], row["status"]) == ("billed", 1, 400)
    row = pgw.usage_row(plain.headers["x-request-id"])
    assert row["prompt_name"] is None and row["prompt_version"] is None
    rep = pgw.usage_report(by="prompt")
    billed = [x for x in rep["rows"] if x["prompt"] == "billed"]
    assert len(billed) == 1 and billed[0]["prompt_version"] == 1
    assert billed[0]["requests"] == 3 and billed[0]["errors"] == 1
    assert any(x["prompt"] is None for x in rep["rows"])
    p = pgw.gwctl_run("usage", "report", "--by", "prompt", json_out=False)
    assert p.returncode == 0 and "PROMPT" in p.stdout and "billed" in p.stdout, p


def test_delete_needs_force_and_numbers_go_on(pgw, pkey):
    create(pgw, "doomed", "v1 {{x}}", ".txt")
    create(pgw, "doomed", "v2 {{x}}", ".txt")
    p = pgw.gwctl_run("prompt", "delete", "doomed")
    assert p.returncode == 1 and "--force" in p.stderr, p
    r = chat(pgw, pkey, {"model": "gpt-4o-mini", "prompt": "doomed", "inputs": {"x": "1"},
                         "messages": [{"role": "user", "content": "hi"}]})
    assert r.status == 200, "still there"
    d = pgw.gwctl("prompt", "delete", "doomed", "--force")
    assert d == {"name": "doomed", "deleted_versions": 2, "previous_version": 2}
    r = chat(pgw, pkey, {"model": "gpt-4o-mini", "prompt": "doomed", "inputs": {"x": "1"},
                         "messages": [{"role": "user", "content": "hi"}]})
    assert_openai_error(r, 404, code="prompt_not_found")
    assert not [x for x in pgw.gwctl("prompt", "list")["prompts"] if x["name"] == "doomed"]
    p = pgw.gwctl_run("prompt", "show", "doomed")
    assert p.returncode == 1, p
    # created again, it goes on from 3: doomed@1 never means two templates
    again = create(pgw, "doomed", "v3 {{x}}", ".txt")
    assert again["prompt"]["version"] == 3 and again["previous_version"] == 0
    shown = pgw.gwctl("prompt", "show", "doomed")
    assert [v["version"] for v in shown["versions"]] == [3]
    assert [e["action"] for e in shown["events"]] == ["create", "create", "delete", "create"]


def test_versions_swap_under_load(pgw, pkey):
    """Requests running while versions are created all get one whole version."""
    create(pgw, "busy", "Busy v1 {{x}}", ".txt")
    errors, seen = [], set()

    def client():
        for _ in range(15):
            r = chat(pgw, pkey, {"model": "gpt-4o-mini", "prompt": "busy", "inputs": {"x": "y"},
                                 "messages": [{"role": "user", "content": "q"}]})
            if r.status != 200:
                errors.append(r)
            else:
                seen.add(r.headers["x-gw-prompt"])

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(2, 6):
        create(pgw, "busy", "Busy v%d {{x}}" % i, ".txt")
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert seen <= {"busy@%d" % i for i in range(1, 6)} and seen


# --------------------------------------------------------------------------
# the rest of the pipeline sees the rendered request


def test_policy_and_token_limits_see_the_template(make_gateway, mock):
    g = make_gateway(extra="""content_policy:
  enabled: true
  max_input_tokens: 60
  blocked_patterns: ["launch codes"]
""")
    key = g.create_key("pol")["key"]
    create(g, "long", "system: \"" + "background " * 80 + "{{q}}\"\n")
    create(g, "short", "Answer {{q}}.", ".txt")
    mock.clear()
    m = marker()
    r = chat(g, key, {"model": "gpt-4o-mini", "prompt": "short", "inputs": {"q": "the launch codes"},
                      "messages": [{"role": "user", "content": m}]})
    assert_openai_error(r, 400, code="content_policy_violation")
    r = chat(g, key, {"model": "gpt-4o-mini", "prompt": "long", "inputs": {"q": "x"},
                      "messages": [{"role": "user", "content": m}]})
    err = assert_openai_error(r, 400, code="context_length_exceeded")
    assert "at most 60" in err["message"]
    assert not mock.find(m)
    r = chat(g, key, {"model": "gpt-4o-mini", "prompt": "short", "inputs": {"q": "x"},
                      "messages": [{"role": "user", "content": m}]})
    assert r.status == 200, r


def test_disabled(make_gateway, mock):
    g = make_gateway(extra="prompts: { enabled: false }\n")
    key = g.create_key("off")["key"]
    create(g, "exists", "Hi {{x}}", ".txt")  # the library is still managed
    mock.clear()
    m = marker()
    for body, headers in (({"prompt": "exists"}, None), ({}, {"x-gw-prompt": "exists"}),
                          ({"inputs": {"x": "1"}}, None)):
        full = dict({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": m}]}, **body)
        r = chat(g, key, full, headers=headers)
        assert_openai_error(r, 400, code="prompts_disabled")
    assert not mock.find(m)
    assert g.chat(key, m).status == 200


def test_bad_config(pgw, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(pgw.config_path.read_text() + "prompts: { enabled: true, cache: 1 }\n")
    p = subprocess.run([str(GATEWAYD), "--check-config", "-c", str(cfg)], capture_output=True,
                       text=True, timeout=30, env=pgw.env())
    assert p.returncode != 0, p
    assert "bad.yaml:" in p.stderr and "cache: unknown key in prompts (enabled)" in p.stderr, p


def test_prompts_survive_a_restart(make_gateway, mock):
    g = make_gateway()
    create(g, "kept", "Kept {{x}}", ".txt")
    create(g, "kept", "Kept again {{x}}", ".txt")
    g.gwctl("prompt", "rollback", "kept", "1")
    assert g.stop() == 0
    g.start()
    key = g.create_key("after")["key"]
    m = marker()
    r = chat(g, key, {"model": "gpt-4o-mini", "prompt": "kept", "inputs": {"x": "y"},
                      "messages": [{"role": "user", "content": m}]})
    assert r.status == 200 and r.headers["x-gw-prompt"] == "kept@1", r
    assert upstream_body(mock, m)["messages"][0]["content"] == "Kept y"
