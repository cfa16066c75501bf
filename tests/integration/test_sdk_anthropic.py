"""The official Anthropic npm SDK (pinned in tests/sdk: the current 1.x as
`@anthropic-ai/sdk`, the last 0.x as the alias `anthropic-sdk-v0`) against a
live gateway's /v1/messages with an OpenAI-format upstream (the mock):
non-streamed, streamed (text deltas and the final message), the raw event
sequence, count_tokens, and a bad key raising AuthenticationError. Node and
npm are required: without them this test fails (CI installs them)."""

import json

from conftest import check_detail, run_sdk_script, words


def test_anthropic_sdk(gw, mock):
    mock.clear()
    checks = run_sdk_script(gw, "messages.mjs", key_name="sdk-anthropic",
                            packages=("@anthropic-ai/sdk", "anthropic-sdk-v0"))
    names = {c["name"] for c in checks}
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
        row = gw.usage_row(check_detail(checks, tag + ".non_streamed")["request_id"])
        assert row["endpoint"] == "/v1/messages", row
        assert row["prompt_tokens"] == words("answer briefly") + words(text), row
        assert row["completion_tokens"] == words("echo: " + text), row
