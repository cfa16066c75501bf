"""The official `openai` npm SDK (pinned in tests/sdk) against a live
gateway's /v1/chat/completions when the model is served by an
Anthropic-format upstream (the mock's /v1/messages): non-streamed, streamed
with usage, and a tool call whole and streamed (tests/sdk/openai_vs_anthropic.mjs).
Node and npm are required: without them this test fails (CI installs them)."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, SLOW, Gateway, _finish, words

SDK_DIR = ROOT / "tests" / "sdk"

ANTHROPIC_MODEL = """\
  - name: claude-sdk
    deployments: [ { provider: anth, model: claude-sdk-upstream } ]
"""


def ensure_node_modules():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm are required for the SDK test (Debian: apt-get install "
                    "nodejs npm); found node=%s npm=%s" % (node, npm))
    if (SDK_DIR / "node_modules" / "openai" / "package.json").exists():
        return node
    p = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=str(SDK_DIR),
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        pytest.fail("npm ci in tests/sdk failed (%d):\n%s\n%s"
                    % (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return node


@pytest.fixture(scope="module")
def agw(mock, dead_port, tmp_path_factory):
    """A gateway with an anthropic provider pointed at the mock."""
    g = Gateway(tmp_path_factory.mktemp("gw-sdk-anth"), mock.port, dead_port,
                extra_models=ANTHROPIC_MODEL, name="gw-sdk-anth")
    provider = ('  - { name: anth, type: anthropic, base_url: "http://127.0.0.1:%d/v1", '
                'api_key: "env:MOCK_PROVIDER_KEY" }\n' % mock.port)
    g.write_config(g.config_text(extra_models=ANTHROPIC_MODEL)
                   .replace("providers:\n", "providers:\n" + provider, 1))
    g.start()
    yield g
    _finish([g])


def test_openai_sdk_with_anthropic_upstream(agw, mock):
    node = ensure_node_modules()
    key = agw.create_key("sdk-openai-anthropic")["key"]
    env = dict(os.environ, GW_BASE_URL=agw.base_url, GW_KEY=key, GW_MODEL="claude-sdk")
    for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        env.pop(k, None)
    mock.clear()
    p = subprocess.run([node, "openai_vs_anthropic.mjs"], cwd=str(SDK_DIR), capture_output=True,
                       text=True, env=env, timeout=120 * SLOW, stdin=subprocess.DEVNULL)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        pytest.fail("openai_vs_anthropic.mjs printed no JSON (exit %d):\n%s\n%s"
                    % (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    failed = [c for c in doc["checks"] if not c["ok"]]
    assert not failed, json.dumps(failed, indent=2)
    assert p.returncode == 0, p.stderr
    names = {c["name"] for c in doc["checks"]}
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
    check = [c for c in doc["checks"] if c["name"] == "non_streamed"][0]
    row = agw.usage_row(check["detail"]["request_id"])
    assert row["provider"] == "anth" and row["upstream_model"] == "claude-sdk-upstream", row
    assert row["prompt_tokens"] == words("be brief") + words("hello anthropic upstream"), row
    assert row["completion_tokens"] == words("echo: hello anthropic upstream"), row
