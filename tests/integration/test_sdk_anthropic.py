"""The official Anthropic npm SDK (pinned in tests/sdk: the current 1.x as
`@anthropic-ai/sdk`, the last 0.x as the alias `anthropic-sdk-v0`) against a
live gateway's /v1/messages with an OpenAI-format upstream (the mock):
non-streamed, streamed (text deltas and the final message), the raw event
sequence, count_tokens, and a bad key raising AuthenticationError. Node and
npm are required: without them this test fails (CI installs them)."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, SLOW, words

SDK_DIR = ROOT / "tests" / "sdk"
NEEDED = ("@anthropic-ai/sdk", "anthropic-sdk-v0")


def ensure_node_modules():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm are required for the SDK test (Debian: apt-get install "
                    "nodejs npm); found node=%s npm=%s" % (node, npm))
    if all((SDK_DIR / "node_modules" / p / "package.json").exists() for p in NEEDED):
        return node
    p = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=str(SDK_DIR),
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        pytest.fail("npm ci in tests/sdk failed (%d):\n%s\n%s"
                    % (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return node


def test_anthropic_sdk(gw, mock):
    node = ensure_node_modules()
    key = gw.create_key("sdk-anthropic")["key"]
    env = dict(os.environ, GW_BASE_URL=gw.base_url, GW_KEY=key, GW_MODEL="gpt-4o-mini")
    for k in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        env.pop(k, None)
    mock.clear()
    p = subprocess.run([node, "messages.mjs"], cwd=str(SDK_DIR), capture_output=True, text=True,
                       env=env, timeout=120 * SLOW, stdin=subprocess.DEVNULL)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        pytest.fail("messages.mjs printed no JSON (exit %d):\n%s\n%s"
                    % (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    failed = [c for c in doc["checks"] if not c["ok"]]
    assert not failed, json.dumps(failed, indent=2)
    assert p.returncode == 0, p.stderr
    names = {c["name"] for c in doc["checks"]}
    expected = {"non_streamed", "streamed", "raw_stream_events", "count_tokens",
                "bad_key_is_authentication_error"}
    assert names == {t + "." + n for t in ("v1", "v0") for n in expected}, names

    # both SDK generations reached the upstream as OpenAI chat completions
    for tag in ("v1", "v0"):
        text = "hello from the %s sdk" % tag
        rec = mock.find(text)
        assert len(rec) == 1, rec
        sent = json.loads(rec[0]["body"])
        assert sent["messages"] == [{"role": "system", "content": "answer briefly"},
                                    {"role": "user", "content": text}], sent
        assert sent["model"] == "mock-upstream-model" and sent["max_tokens"] == 64, sent

        # and were accounted like any other request
        check = [c for c in doc["checks"] if c["name"] == tag + ".non_streamed"][0]
        row = gw.usage_row(check["detail"]["request_id"])
        assert row["endpoint"] == "/v1/messages", row
        assert row["prompt_tokens"] == words("answer briefly") + words(text), row
        assert row["completion_tokens"] == words("echo: " + text), row
