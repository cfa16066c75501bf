"""The official `openai` npm SDK (pinned in tests/sdk) against a live gateway:
chat completions non-streamed and streamed (with and without usage), the
model list, and a bad key raising AuthenticationError. Node and npm are
required: without them this test fails (CI installs them)."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, SLOW

SDK_DIR = ROOT / "tests" / "sdk"


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


def test_openai_sdk(gw):
    node = ensure_node_modules()
    key = gw.create_key("sdk")["key"]
    env = dict(os.environ, GW_BASE_URL=gw.base_url, GW_KEY=key, GW_MODEL="gpt-4o-mini")
    for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        env.pop(k, None)
    p = subprocess.run([node, "chat.mjs"], cwd=str(SDK_DIR), capture_output=True, text=True,
                       env=env, timeout=120 * SLOW, stdin=subprocess.DEVNULL)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        pytest.fail("chat.mjs printed no JSON (exit %d):\n%s\n%s"
                    % (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    failed = [c for c in doc["checks"] if not c["ok"]]
    assert not failed, json.dumps(failed, indent=2)
    assert p.returncode == 0, p.stderr
    names = {c["name"] for c in doc["checks"]}
    assert names == {"non_streamed", "streamed", "streamed_include_usage", "models_list",
                     "bad_key_is_authentication_error"}, names

    # the SDK's requests were accounted like any other
    rid = [c for c in doc["checks"] if c["name"] == "non_streamed"][0]["detail"]["request_id"]
    row = gw.usage_row(rid)
    assert row["prompt_tokens"] == 4 and row["completion_tokens"] == 5
