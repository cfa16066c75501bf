"""The official `openai` npm SDK (pinned in tests/sdk) against a live gateway:
chat completions non-streamed and streamed (with and without usage), the
model list, a bad key raising AuthenticationError, and embeddings (the SDK's
default base64 encoding and floats, through the mock and echo). Node and npm
are required: without them this test fails (CI installs them)."""

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


def run_script(gw, script, **extra_env):
    """Runs tests/sdk/SCRIPT against gw with a fresh key; returns its checks."""
    node = ensure_node_modules()
    key = gw.create_key("sdk-" + script.split(".")[0])["key"]
    env = dict(os.environ, GW_BASE_URL=gw.base_url, GW_KEY=key, GW_MODEL="gpt-4o-mini",
               **extra_env)
    for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
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


def detail(checks, name):
    return [c for c in checks if c["name"] == name][0]["detail"]


def test_openai_sdk(gw):
    checks = run_script(gw, "chat.mjs")
    names = {c["name"] for c in checks}
    assert names == {"non_streamed", "streamed", "streamed_include_usage", "models_list",
                     "bad_key_is_authentication_error"}, names

    # the SDK's requests were accounted like any other
    row = gw.usage_row(detail(checks, "non_streamed")["request_id"])
    assert row["prompt_tokens"] == 4 and row["completion_tokens"] == 5


def test_openai_sdk_embeddings(gw):
    checks = run_script(gw, "embeddings.mjs", GW_ECHO_MODEL="echo")
    names = {c["name"] for c in checks}
    assert names == {"default_base64", "float_equals_base64", "array_input", "echo_provider",
                     "unknown_model_is_not_found", "empty_input_is_bad_request"}, names
    row = gw.usage_row(detail(checks, "default_base64")["request_id"])
    assert row["endpoint"] == "/v1/embeddings", row
    assert row["prompt_tokens"] == 5 and row["completion_tokens"] == 0, row
    assert abs(row["cost_usd"] - 5 * 1.0 / 1e6) < 1e-12, row
