"""The official `openai` npm SDK (pinned in tests/sdk) against a live
gateway's /v1/chat/completions when the model is served by an
Anthropic-format upstream (the mock's /v1/messages): non-streamed, streamed
with usage, and a tool call whole and streamed (tests/sdk/openai_vs_anthropic.mjs).
Node and npm are required: without them this test fails (CI installs them)."""

import json

import pytest

from conftest import Gateway, check_detail, mock_provider, run_sdk_script, serve, words

ANTHROPIC_MODEL = """\
  - name: claude-sdk
    deployments: [ { provider: anth, model: claude-sdk-upstream } ]
"""


@pytest.fixture(scope="module")
def agw(mock, dead_port, tmp_path_factory):
    """A gateway with an anthropic provider pointed at the mock."""
    yield from serve(Gateway(tmp_path_factory.mktemp("gw-sdk-anth"), mock.port, dead_port,
                             extra_models=ANTHROPIC_MODEL, name="gw-sdk-anth",
                             extra_providers=mock_provider(mock.port, "anth", "anthropic")))


def test_openai_sdk_with_anthropic_upstream(agw, mock):
    mock.clear()
    checks = run_sdk_script(agw, "openai_vs_anthropic.mjs", key_name="sdk-openai-anthropic",
                            model="claude-sdk")
    names = {c["name"] for c in checks}
    assert names == {"non_streamed", "streamed_with_usage", "tool_call", "streamed_tool_call"}

    # every SDK call reached the upstream as an Anthropic Messages request
    sent = [json.loads(q["body"]) for q in mock.requests() if q["path"] == "/v1/messages"]
    assert len(sent) == 5, sent
    for body in sent:
        assert body["model"] == "claude-sdk-upstream" and body["max_tokens"] == 1024, body
    first = [b for b in sent if b.get("system") == "be brief"]
    assert len(first) == 1 and first[0]["messages"] == [
        {"role": "user", "content": "hello anthropic upstream"}], first

    # and was accounted like any other request
    row = agw.usage_row(check_detail(checks, "non_streamed")["request_id"])
    assert row["provider"] == "anth" and row["upstream_model"] == "claude-sdk-upstream", row
    assert row["prompt_tokens"] == words("be brief") + words("hello anthropic upstream"), row
    assert row["completion_tokens"] == words("echo: hello anthropic upstream"), row
