"""The bedrock provider (Amazon Bedrock Runtime's Converse and ConverseStream
APIs) through the real gateway to the mock's Bedrock, which checks every
request's AWS Signature Version 4 (so the mock accepting a request is the
signing test): the Converse body each front door's request becomes (the
data-driven cases of provider_cases/bedrock/), the answers read back whole
and from the binary event stream into OpenAI's and Anthropic's formats,
usage with prompt-cache reads and writes, stop reasons, the model id
percent-encoded in the path, in-stream exceptions, corrupt frames and
dropped streams, upstream errors in the caller's shape with the provider's
message (a wrong secret's 403 reported as the gateway's credential
failure), and every parameter Converse cannot express refused with a 400
naming it."""

import hashlib
import json
from pathlib import Path

import pytest

from conftest import (Gateway, SSEAnswer, assert_gw_headers, auth, chat_stream_parts, marker,
                      post_chat, post_chat_stream, post_messages, post_messages_stream, serve,
                      words)

CASES = Path(__file__).resolve().parent / "provider_cases" / "bedrock"

ACCESS_KEY = "AKIDMOCKEXAMPLE"
SECRET = "mock/Secret/KEY+example"
SESSION_TOKEN = "FwoGZXIvYXdzEMock//session+token="
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
MODEL_PATH = "/model/anthropic.claude-3-haiku-20240307-v1%3A0"
ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-v1:0"
ARN_PATH = ("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile"
            "%2Fus.anthropic.claude-3-haiku-v1%3A0")

# The gateway's environment: the credentials are read from these (env:NAME).
AWS_ENV = {
    "GW_TEST_AWS_KEY_ID": ACCESS_KEY,
    "GW_TEST_AWS_SECRET": SECRET,
    "GW_TEST_AWS_WRONG_SECRET": "not/the/Secret/KEY+example",
    "GW_TEST_AWS_TOKEN": SESSION_TOKEN,
}


def provider(name, port, secret="GW_TEST_AWS_SECRET", token=None):
    """One bedrock provider of the test config (YAML, under providers:)."""
    lines = ["  - name: " + name,
             "    type: bedrock",
             '    base_url: "http://127.0.0.1:%d"' % port,
             "    region: us-east-1",
             '    aws_access_key_id: "env:GW_TEST_AWS_KEY_ID"',
             '    aws_secret_access_key: "env:%s"' % secret]
    if token:
        lines.append('    aws_session_token: "env:%s"' % token)
    return "\n".join(lines) + "\n"


MODELS = """\
  - name: claude-bedrock
    deployments: [ {{ provider: bedrock, model: "{model}" }} ]
    pricing: {{ input_per_mtok: 1.0, output_per_mtok: 2.0,
               cached_input_per_mtok: 0.1, cache_write_per_mtok: 1.25 }}
  - name: claude-bedrock-sts
    deployments: [ {{ provider: bedrock-sts, model: "{model}" }} ]
  - name: claude-bedrock-wrong
    deployments: [ {{ provider: bedrock-wrong, model: "{model}" }} ]
  - name: claude-bedrock-arn
    deployments: [ {{ provider: bedrock, model: "{arn}" }} ]
  - name: claude-bedrock-dead
    deployments: [ {{ provider: bedrock-dead, model: "{model}" }} ]
    timeouts: {{ connect_ms: 500 }}
"""


class BedrockGateway(Gateway):
    """The test gateway with the AWS credentials in its environment (and none
    of the ambient ones)."""

    def env(self):
        env = super().env()
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.pop(k, None)
        env.update(AWS_ENV)
        return env


@pytest.fixture(scope="module")
def bgw(mock, dead_port, tmp_path_factory):
    """A gateway with bedrock providers pointed at the mock (and one at the dead port)."""
    port = mock.port
    providers = (provider("bedrock", port) +
                 provider("bedrock-sts", port, token="GW_TEST_AWS_TOKEN") +
                 provider("bedrock-wrong", port, secret="GW_TEST_AWS_WRONG_SECRET") +
                 provider("bedrock-dead", dead_port))
    yield from serve(BedrockGateway(tmp_path_factory.mktemp("bedrock"), port, dead_port,
                                    extra_models=MODELS.format(model=MODEL_ID, arn=ARN),
                                    name="bedrock", extra_providers=providers))


@pytest.fixture(scope="module")
def bkey(bgw):
    return bgw.create_key("bedrock-tester")["key"]


# ---------------------------------------------------------------------------
# talking to the gateway, both front doors


def chat_req(text, model="claude-bedrock", **extra):
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    body.update(extra)
    return body


def msg_req(text, model="claude-bedrock", max_tokens=100, **extra):
    body = {"model": model, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": text}]}
    body.update(extra)
    return body


def call(gw, key, door, body):
    return (post_chat if door == "chat" else post_messages)(gw, key, body)


def stream(gw, key, door, body):
    """A streamed answer from either front door (an SSEAnswer)."""
    body = dict(body, stream=True)
    if door == "chat":
        body.setdefault("stream_options", {"include_usage": True})
        return SSEAnswer(gw.port, "/v1/chat/completions", body, auth(key))
    return post_messages_stream(gw, key, body)


# ---------------------------------------------------------------------------
# answers reduced to one view, so a case's expected answer holds for the
# whole answer and for the stream alike


def view_openai_whole(doc):
    assert doc["object"] == "chat.completion", doc
    assert len(doc["choices"]) == 1, doc
    ch = doc["choices"][0]
    msg = ch["message"]
    assert msg["role"] == "assistant", doc
    v = {"text": msg.get("content"), "finish_reason": ch["finish_reason"],
         "usage": usage_openai(doc["usage"])}
    if msg.get("tool_calls"):
        v["tool_calls"] = [{"id": t["id"], "name": t["function"]["name"],
                            "arguments": json.loads(t["function"]["arguments"])}
                           for t in msg["tool_calls"]]
        assert all(t["type"] == "function" for t in msg["tool_calls"]), doc
    return v


def view_openai_stream(s):
    assert s.status == 200, s.raw[:600]
    assert s.events and s.events[-1] == (None, "[DONE]"), s.events[-3:]
    chunks = [c for _, c in s.events[:-1]]
    for c in chunks:
        assert isinstance(c, dict) and c.get("object") == "chat.completion.chunk", c
        if c.get("usage"):
            usage_openai(c["usage"])  # each usage chunk adds up
    text, calls, finishes, usage = chat_stream_parts(chunks)
    assert len(finishes) <= 1, "two finish reasons: %r" % s.events
    v = {"text": text, "finish_reason": finishes[0] if finishes else None,
         "usage": usage and usage_openai(usage)}
    if calls:
        v["tool_calls"] = [dict(t, arguments=json.loads(t["arguments"])) for t in calls]
    return v


def usage_openai(u):
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], u
    return {"prompt_tokens": u["prompt_tokens"], "completion_tokens": u["completion_tokens"],
            "cached_tokens": (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0)}


def usage_anthropic(u):
    return {k: u.get(k, 0) for k in ("input_tokens", "output_tokens", "cache_read_input_tokens",
                                     "cache_creation_input_tokens")}


def view_anthropic_whole(doc):
    assert doc["type"] == "message" and doc["role"] == "assistant", doc
    return {"content": doc["content"], "stop_reason": doc["stop_reason"],
            "usage": usage_anthropic(doc["usage"])}


def view_anthropic_stream(s):
    assert s.status == 200, s.raw[:600]
    names = s.names()
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"], names
    for n, d in s.events:
        assert isinstance(d, dict) and d.get("type") == n, (n, d)
    blocks, usage, stop = {}, dict(s.events[0][1]["message"]["usage"]), None
    for n, d in s.events:
        if n == "content_block_start":
            assert d["index"] not in blocks, names
            b = dict(d["content_block"])
            if b["type"] == "tool_use":
                assert b["input"] == {}, b
                b["_json"] = ""
            blocks[d["index"]] = b
        elif n == "content_block_delta":
            b, delta = blocks[d["index"]], d["delta"]
            if delta["type"] == "text_delta":
                b["text"] += delta["text"]
            else:
                assert delta["type"] == "input_json_delta", d
                b["_json"] += delta["partial_json"]
        elif n == "message_delta":
            stop = d["delta"]["stop_reason"]
            usage.update(d.get("usage") or {})
    content = []
    for i in sorted(blocks):
        b = blocks[i]
        if "_json" in b:
            b["input"] = json.loads(b.pop("_json") or "{}")
        content.append(b)
    return {"content": content, "stop_reason": stop, "usage": usage_anthropic(usage)}


def answer_view(gw, key, door, body, streamed):
    if streamed:
        s = stream(gw, key, door, body)
        return (view_openai_stream if door == "chat" else view_anthropic_stream)(s), s
    r = call(gw, key, door, body)
    assert r.status == 200, r
    return (view_openai_whole if door == "chat" else view_anthropic_whole)(r.json()), r


def matches(expected, actual):
    """actual equals expected, where "<any>" in expected matches any value."""
    if expected == "<any>":
        return True
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and set(expected) == set(actual)
                and all(matches(expected[k], actual[k]) for k in expected))
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(expected) == len(actual)
                and all(matches(e, a) for e, a in zip(expected, actual)))
    return expected == actual


def upstream_call(mock, m):
    rec = mock.find(m)
    assert len(rec) == 1, rec
    return rec[0]


# ---------------------------------------------------------------------------
# data-driven cases: request in -> Converse body out; mock answer -> caller's answer


def load_cases():
    out = []
    for p in sorted(CASES.glob("*.json")):
        doc = json.loads(p.read_text())
        for mode in doc.get("modes", ["whole", "stream"]):
            out.append(pytest.param(p.name, mode, id="%s-%s" % (p.stem, mode)))
    return out


@pytest.mark.parametrize("case,mode", load_cases())
def test_case(bgw, bkey, mock, case, mode):
    m = marker()
    doc = json.loads((CASES / case).read_text().replace("{marker}", m))
    door = doc["front_door"]
    streamed = mode == "stream"
    view, _ = answer_view(bgw, bkey, door, doc["request"], streamed)
    rec = upstream_call(mock, m)
    want_path = doc.get("path", MODEL_PATH) + ("/converse-stream" if streamed else "/converse")
    assert rec["path"] == want_path, rec["path"]
    sent = json.loads(rec["body"])
    assert sent == doc["upstream"], "%s: upstream got\n%s\nexpected\n%s" % (
        case, json.dumps(sent, indent=1), json.dumps(doc["upstream"], indent=1))
    want = doc["answer"]
    assert matches(want, view), "%s (%s): answer\n%s\nexpected\n%s" % (
        case, mode, json.dumps(view, indent=1), json.dumps(want, indent=1))


# ---------------------------------------------------------------------------
# signing, credentials, the path


def test_signed_request(bgw, bkey, mock):
    m = marker()
    r = call(bgw, bkey, "chat", chat_req("sign this " + m))
    assert r.status == 200, r  # the mock checked the signature
    assert r.headers.get("x-gw-provider") == "bedrock"
    assert_gw_headers(r)
    rec = upstream_call(mock, m)
    assert rec["method"] == "POST" and rec["path"] == MODEL_PATH + "/converse", rec
    h = rec["headers"]
    assert h["host"] == "127.0.0.1:%d" % mock.port, h
    assert h["content-type"] == "application/json", h
    assert h["accept"] == "application/json", h
    date = h["x-amz-date"]
    assert len(date) == 16 and date[8] == "T" and date.endswith("Z"), date
    assert h["x-amz-content-sha256"] == hashlib.sha256(rec["body"].encode()).hexdigest(), h
    auth = h["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=%s/%s/us-east-1/bedrock/aws4_request, "
                           % (ACCESS_KEY, date[:8])), auth
    assert "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=" in auth
    assert "x-amz-security-token" not in h, h
    # nothing of the caller's credentials, nor the secret, goes upstream
    dump = json.dumps(h)
    assert bkey not in dump and SECRET not in dump and "x-api-key" not in h, h


def test_streamed_request_is_signed(bgw, bkey, mock):
    m = marker()
    s = stream(bgw, bkey, "chat", chat_req("stream sign " + m))
    assert s.status == 200, s.raw[:500]
    rec = upstream_call(mock, m)
    assert rec["path"] == MODEL_PATH + "/converse-stream", rec
    assert rec["headers"]["accept"] == "application/vnd.amazon.eventstream", rec["headers"]


@pytest.mark.parametrize("door", ["chat", "messages"])
def test_session_token_is_signed(bgw, bkey, mock, door):
    m = marker()
    body = (chat_req if door == "chat" else msg_req)("token " + m, model="claude-bedrock-sts")
    r = call(bgw, bkey, door, body)
    assert r.status == 200, r
    h = upstream_call(mock, m)["headers"]
    assert h["x-amz-security-token"] == SESSION_TOKEN, h
    assert ("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-security-token, ") in h["authorization"], h


SIGNATURE_MISMATCH = "signature does not match"  # in the mock's 403 message


# A 401/403 from the provider is about the gateway's credential, not the
# caller's key: xlate answers 502 upstream_auth_failed, naming the provider,
# its status and its own message, so an operator sees the credential problem.


@pytest.mark.parametrize("streamed", [False, True])
def test_wrong_secret_chat(bgw, bkey, mock, streamed):
    m = marker()
    body = chat_req("wrong secret " + m, model="claude-bedrock-wrong")
    if streamed:
        body["stream"] = True
    r = call(bgw, bkey, "chat", body)
    assert r.status == 502, r
    err = r.json()["error"]
    assert err["code"] == "upstream_auth_failed", err
    assert "bedrock-wrong" in err["message"] and "HTTP 403" in err["message"], err
    assert SIGNATURE_MISMATCH in err["message"], err  # the provider's own message
    body_text = r.body.decode()
    assert SECRET not in body_text and AWS_ENV["GW_TEST_AWS_WRONG_SECRET"] not in body_text
    assert upstream_call(mock, m)["path"].startswith(MODEL_PATH)
    row = bgw.usage_row(r.headers["x-request-id"])
    assert row["status"] == 502 and row["provider"] == "bedrock-wrong", row


def test_wrong_secret_messages(bgw, bkey, mock):
    body = msg_req("wrong secret " + marker(), model="claude-bedrock-wrong")
    r = call(bgw, bkey, "messages", body)
    assert r.status == 502, r
    doc = r.json()
    assert doc["type"] == "error" and doc["error"]["type"] == "api_error", doc
    assert "HTTP 403" in doc["error"]["message"], doc
    assert SIGNATURE_MISMATCH in doc["error"]["message"], doc


def test_model_id_percent_encoded(bgw, bkey, mock):
    m = marker()
    r = call(bgw, bkey, "chat", chat_req("arn " + m, model="claude-bedrock-arn"))
    assert r.status == 200, r  # signed over the encoded path, as AWS checks it
    rec = upstream_call(mock, m)
    assert rec["path"] == ARN_PATH + "/converse", rec["path"]


# ---------------------------------------------------------------------------
# answers: shapes, tool calls, streaming as it arrives


def test_whole_answer_shapes(bgw, bkey):
    r = call(bgw, bkey, "chat", chat_req("shape"))
    assert r.status == 200 and r.headers["content-type"].startswith("application/json"), r
    doc = r.json()
    assert doc["id"].startswith("chatcmpl-") and doc["model"] == "claude-bedrock", doc
    assert doc["choices"][0]["message"] == {"role": "assistant", "content": "echo: shape",
                                            "refusal": None}, doc
    assert doc["choices"][0]["finish_reason"] == "stop", doc
    r = call(bgw, bkey, "messages", msg_req("shape"))
    assert r.status == 200, r
    doc = r.json()
    assert doc["id"].startswith("msg_") and doc["model"] == "claude-bedrock", doc
    assert doc["content"] == [{"type": "text", "text": "echo: shape"}], doc
    assert doc["stop_reason"] == "end_turn" and doc["stop_sequence"] is None, doc


@pytest.mark.parametrize("door", ["chat", "messages"])
@pytest.mark.parametrize("streamed", [False, True])
def test_tool_call_id_passed_on(bgw, bkey, door, streamed):
    tools = ([{"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"text": {"type": "string"}}}}}] if door == "chat" else
        [{"name": "lookup", "input_schema": {"type": "object"}}])
    body = (chat_req if door == "chat" else msg_req)("find it [[mock:tool=lookup]]", tools=tools)
    view, _ = answer_view(bgw, bkey, door, body, streamed)
    if door == "chat":
        assert [t["name"] for t in view["tool_calls"]] == ["lookup"], view
        tid, args = view["tool_calls"][0]["id"], view["tool_calls"][0]["arguments"]
        assert view["finish_reason"] == "tool_calls", view
    else:
        use = view["content"][-1]
        assert use["type"] == "tool_use" and use["name"] == "lookup", view
        tid, args = use["id"], use["input"]
        assert view["stop_reason"] == "tool_use", view
    assert tid.startswith("tooluse_mock_"), tid  # Bedrock's toolUseId, unchanged
    assert args == {"text": "echo: find it"}, args


def test_stream_arrives_as_sent(bgw, bkey):
    """Each event-stream frame is decoded and passed on when it arrives."""
    body = chat_req("w [[mock:words=6,chunk_delay_ms=150]]", stream=True)
    s = post_chat_stream(bgw, bkey, body)
    assert s.status == 200
    times = [t for t, d in s.events if '"content":"w' in d]
    assert len(times) == 6, s.events
    assert times[-1] - times[0] >= 0.5, times  # spread out as the mock paced them


# ---------------------------------------------------------------------------
# usage and stop reasons


@pytest.mark.parametrize("door", ["chat", "messages"])
@pytest.mark.parametrize("streamed", [False, True])
def test_usage_with_prompt_cache(bgw, bkey, mock, door, streamed):
    text = "cache me if you can [[mock:cached=3,cache_write=2]] " + marker()
    body = (chat_req if door == "chat" else msg_req)(text)
    view, resp = answer_view(bgw, bkey, door, body, streamed)
    prompt = words(text)
    reply = "echo: " + text.replace("[[mock:cached=3,cache_write=2]] ", "")
    if door == "chat":
        assert view["text"] == reply, view
        assert view["usage"] == {"prompt_tokens": prompt, "completion_tokens": words(reply),
                                 "cached_tokens": 3}, view
    else:
        assert view["content"] == [{"type": "text", "text": reply}], view
        assert view["usage"] == {"input_tokens": prompt - 5, "output_tokens": words(reply),
                                 "cache_read_input_tokens": 3,
                                 "cache_creation_input_tokens": 2}, view
    row = bgw.usage_row(resp.headers["x-request-id"])
    assert row["prompt_tokens"] == prompt and row["completion_tokens"] == words(reply), row
    assert row["cached_tokens"] == 3 and row["cache_write_tokens"] == 2, row
    assert row["stream"] == (1 if streamed else 0) and row["status"] == 200, row
    assert row["provider"] == "bedrock" and row["upstream_model"] == MODEL_ID, row
    cost = ((prompt - 5) * 1.0 + 3 * 0.1 + 2 * 1.25 + words(reply) * 2.0) / 1e6
    assert row["cost_usd"] == pytest.approx(cost), row
    assert not row["error"], row


@pytest.mark.parametrize("door", ["chat", "messages"])
@pytest.mark.parametrize("streamed", [False, True])
def test_stop_max_tokens(bgw, bkey, door, streamed):
    body = (chat_req if door == "chat" else msg_req)("cut short [[mock:stop=max]]")
    view, _ = answer_view(bgw, bkey, door, body, streamed)
    if door == "chat":
        assert view["finish_reason"] == "length", view
    else:
        assert view["stop_reason"] == "max_tokens", view


# ---------------------------------------------------------------------------
# broken streams and in-stream errors: the caller gets an error event


def assert_stream_error(s, door, mentions=None):
    assert s.status == 200, s.raw[:500]
    errs = s.errors()
    assert len(errs) == 1, s.events
    if door == "chat":
        assert s.events[-1][1] == errs[0] and (None, "[DONE]") not in s.events, s.events
        msg = errs[0]["error"]["message"]
    else:
        assert s.events[-1][0] == "error" and "message_stop" not in s.names(), s.names()
        msg = errs[0]["error"]["message"]
    if mentions:
        assert mentions.lower() in msg.lower(), msg
    return errs[0]


@pytest.mark.parametrize("door", ["chat", "messages"])
def test_corrupt_frame_ends_with_error_event(bgw, bkey, door):
    body = (chat_req if door == "chat" else msg_req)("bad crc [[mock:sse_garbage]]")
    s = stream(bgw, bkey, door, body)
    assert_stream_error(s, door, mentions="CRC")
    row = bgw.usage_row(s.headers["x-request-id"])
    assert row["error"], row


@pytest.mark.parametrize("door", ["chat", "messages"])
def test_dropped_stream_ends_with_error_event(bgw, bkey, door):
    body = (chat_req if door == "chat" else msg_req)("one two three four [[mock:drop_after=2]]")
    s = stream(bgw, bkey, door, body)
    assert_stream_error(s, door)
    # what arrived before the drop was passed on
    if door == "chat":
        text = "".join(c["choices"][0]["delta"].get("content") or "" for _, c in s.events
                       if isinstance(c, dict) and c.get("choices"))
    else:
        text = "".join(d["delta"]["text"] for n, d in s.events if n == "content_block_delta")
    assert text.startswith("echo: one"), s.events


@pytest.mark.parametrize("door", ["chat", "messages"])
def test_stream_exception_ends_with_error_event(bgw, bkey, door):
    body = (chat_req if door == "chat" else msg_req)("throttle me [[mock:exception]]")
    s = stream(bgw, bkey, door, body)
    err = assert_stream_error(s, door)
    if door == "chat":
        assert err["error"]["code"] == "throttlingException", err
    assert "Too many requests" in err["error"]["message"], err  # the provider's message
    row = bgw.usage_row(s.headers["x-request-id"])
    assert row["error"], row


@pytest.mark.parametrize("door", ["chat", "messages"])
def test_stream_garbage_body_ends_with_error_event(bgw, bkey, door):
    body = (chat_req if door == "chat" else msg_req)("not a frame [[mock:garbage]]")
    s = stream(bgw, bkey, door, body)
    assert_stream_error(s, door)


# ---------------------------------------------------------------------------
# upstream errors, in the caller's shape with the provider's message


@pytest.mark.parametrize("status,etype", [(400, "invalid_request_error"), (429, "rate_limit_error"),
                                          (500, "upstream_error"), (503, "upstream_error")])
@pytest.mark.parametrize("streamed", [False, True])
def test_upstream_status_chat(bgw, bkey, status, etype, streamed):
    body = chat_req("fail [[mock:status=%d]]" % status, stream=streamed)
    r = call(bgw, bkey, "chat", body)
    assert r.status == status, r
    err = r.json()["error"]
    assert err["type"] == etype and err["code"] == "upstream_http_%d" % status, err
    assert err["message"] == "mock error %d" % status, err


@pytest.mark.parametrize("status,etype", [(400, "invalid_request_error"), (429, "rate_limit_error"),
                                          (500, "api_error")])
def test_upstream_status_messages(bgw, bkey, status, etype):
    r = call(bgw, bkey, "messages", msg_req("fail [[mock:status=%d]]" % status))
    assert r.status == status, r
    doc = r.json()
    assert doc["type"] == "error" and doc["error"]["type"] == etype, doc
    assert doc["error"]["message"] == "mock error %d" % status, doc


def test_unstreamed_exception_is_a_429(bgw, bkey):
    r = call(bgw, bkey, "chat", chat_req("throttle [[mock:exception]]"))
    assert r.status == 429, r
    assert r.json()["error"]["type"] == "rate_limit_error", r


def test_truncated_answer_is_a_502(bgw, bkey):
    r = call(bgw, bkey, "chat", chat_req("cut [[mock:drop_after=20]]"))
    assert r.status == 502, r
    assert r.json()["error"]["type"] == "upstream_error", r


def test_garbage_answer_is_a_502(bgw, bkey):
    r = call(bgw, bkey, "chat", chat_req("garbage [[mock:garbage]]"))
    assert r.status == 502, r
    assert r.json()["error"]["code"] == "upstream_bad_response", r


def test_unreachable_is_a_502(bgw, bkey):
    r = call(bgw, bkey, "chat", chat_req("anyone?", model="claude-bedrock-dead"))
    assert r.status == 502, r
    assert r.json()["error"]["code"] == "upstream_unreachable", r


def test_no_embeddings(bgw, bkey, mock):
    r = bgw.request("POST", "/v1/embeddings", body={"model": "claude-bedrock", "input": "x"},
                    key=bkey)
    assert r.status == 400, r
    assert r.json()["error"]["code"] == "unsupported_endpoint", r


# ---------------------------------------------------------------------------
# what Converse cannot express: a 400 naming the parameter, nothing sent

TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
TOOL_HISTORY = [
    {"role": "user", "content": "go"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "done"},
]

REFUSED_CHAT = [
    ("n", {"n": 2}),
    ("logprobs", {"logprobs": True}),
    ("top_logprobs", {"top_logprobs": 2}),
    ("logit_bias", {"logit_bias": {"50256": -100}}),
    ("presence_penalty", {"presence_penalty": 0.5}),
    ("frequency_penalty", {"frequency_penalty": -0.5}),
    ("seed", {"seed": 7}),
    ("response_format", {"response_format": {"type": "json_object"}}),
    ("response_format", {"response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object"}}}}),
    ("audio", {"audio": {"voice": "alloy", "format": "wav"}}),
    ("modalities", {"modalities": ["text", "audio"]}),
    ("parallel_tool_calls", {"tools": [TOOL], "parallel_tool_calls": False}),
    ("service_tier", {"service_tier": "flex"}),
    ("store", {"store": True}),
    ("reasoning_effort", {"reasoning_effort": "low"}),
    ("tools[0]", {"tools": [{"type": "web_search"}]}),
    ("tools[0].function.strict", {"tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object"}, "strict": True}}]}),
    ("tool_choice", {"tools": [TOOL], "tool_choice": "none", "messages": TOOL_HISTORY}),
    ("tools", {"messages": TOOL_HISTORY}),
    ("messages[0].content[0].image_url", {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
    ("messages[0].content[0].image_url", {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}]}]}),
    ("messages[0].content[0]", {"messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]}),
    ("messages[0].role", {"messages": [{"role": "function", "name": "f", "content": "x"}]}),
    ("messages", {"messages": [{"role": "assistant", "content": "I start"},
                               {"role": "user", "content": "no"}]}),
    ("messages[1].tool_calls[0].function.arguments", {"messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
            "name": "f", "arguments": "[1, 2]"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "x"}], "tools": [TOOL]}),
]


@pytest.mark.parametrize("param,extra", REFUSED_CHAT,
                         ids=["%s-%d" % (p, i) for i, (p, _) in enumerate(REFUSED_CHAT)])
def test_refused_chat(bgw, bkey, mock, param, extra):
    m = marker()
    body = chat_req("refuse me " + m)
    body.update(extra)
    r = call(bgw, bkey, "chat", body)
    assert r.status == 400, r
    err = r.json()["error"]
    assert err["param"] == param, err
    assert err["type"] == "invalid_request_error", err
    assert mock.find(m) == [], "a refused request went upstream"
    assert bgw.usage_row(r.headers["x-request-id"])["status"] == 400


def test_refused_messages(bgw, bkey, mock):
    """The same refusals reach /v1/messages callers in Anthropic's shape."""
    m = marker()
    cases = [
        # disable_parallel_tool_use -> parallel_tool_calls false
        dict(msg_req("p " + m), tools=[{"name": "f", "input_schema": {"type": "object"}}],
             tool_choice={"type": "auto", "disable_parallel_tool_use": True}),
        # an image by URL
        dict(msg_req("u " + m), messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}]),
        # a conversation that starts with the assistant
        dict(msg_req("a " + m), messages=[{"role": "assistant", "content": "hi " + m},
                                          {"role": "user", "content": "x"}]),
    ]
    for body in cases:
        r = call(bgw, bkey, "messages", body)
        assert r.status == 400, r
        doc = r.json()
        assert doc["type"] == "error" and doc["error"]["type"] == "invalid_request_error", doc
    assert mock.find(m) == []


@pytest.mark.parametrize("extra", [
    {"n": 1}, {"logprobs": False}, {"presence_penalty": 0}, {"frequency_penalty": 0.0},
    {"response_format": {"type": "text"}}, {"modalities": ["text"]}, {"logit_bias": {}},
    {"parallel_tool_calls": True}, {"service_tier": "auto"}, {"store": False},
    {"user": "end-user-7"}, {"seed": None}, {"stream_options": {"include_usage": True}},
    # no "none" choice in Converse: with no tool calls in the history, declaring
    # no tools means none can be called
    {"tools": [TOOL], "tool_choice": "none"},
])
def test_accepted_defaults(bgw, bkey, mock, extra):
    """Parameters that ask for what Converse does anyway are accepted (and not sent)."""
    m = marker()
    body = chat_req("harmless " + m)
    body.update(extra)
    r = call(bgw, bkey, "chat", body)
    assert r.status == 200, r
    assert json.loads(upstream_call(mock, m)["body"]) == {
        "messages": [{"role": "user", "content": [{"text": "harmless " + m}]}]}


@pytest.mark.parametrize("choice,want", [
    ("auto", {"auto": {}}),
    ("required", {"any": {}}),
    ({"type": "function", "function": {"name": "f"}}, {"tool": {"name": "f"}}),
    (None, None),
])
def test_tool_choice(bgw, bkey, mock, choice, want):
    m = marker()
    body = chat_req("choose " + m, tools=[TOOL])
    if choice is not None:
        body["tool_choice"] = choice
    r = call(bgw, bkey, "chat", body)
    assert r.status == 200, r
    cfg = json.loads(upstream_call(mock, m)["body"])["toolConfig"]
    assert cfg["tools"] == [{"toolSpec": {"name": "f", "inputSchema": {
        "json": {"type": "object"}}}}], cfg
    assert cfg.get("toolChoice") == want, cfg
