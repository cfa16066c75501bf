"""The official `openai` npm SDK (pinned in tests/sdk) against a live gateway:
chat completions non-streamed and streamed (with and without usage), the
model list, a bad key raising AuthenticationError, and embeddings (the SDK's
default base64 encoding and floats, through the mock and echo). Node and npm
are required: without them this test fails (CI installs them)."""

from conftest import check_detail, run_sdk_script


def test_openai_sdk(gw):
    checks = run_sdk_script(gw, "chat.mjs")
    names = {c["name"] for c in checks}
    assert names == {"non_streamed", "streamed", "streamed_include_usage", "models_list",
                     "bad_key_is_authentication_error"}, names

    # the SDK's requests were accounted like any other
    row = gw.usage_row(check_detail(checks, "non_streamed")["request_id"])
    assert row["prompt_tokens"] == 4 and row["completion_tokens"] == 5


def test_openai_sdk_embeddings(gw):
    checks = run_sdk_script(gw, "embeddings.mjs", GW_ECHO_MODEL="echo")
    names = {c["name"] for c in checks}
    assert names == {"default_base64", "float_equals_base64", "array_input", "echo_provider",
                     "unknown_model_is_not_found", "empty_input_is_bad_request"}, names
    row = gw.usage_row(check_detail(checks, "default_base64")["request_id"])
    assert row["endpoint"] == "/v1/embeddings", row
    assert row["prompt_tokens"] == 5 and row["completion_tokens"] == 0, row
    assert abs(row["cost_usd"] - 5 * 1.0 / 1e6) < 1e-12, row
