"""The response cache's exact tier (docs/caching.md): a repeated request is
answered from the cache (x-gw-cache: hit-exact, x-gw-cache-age, no upstream
call, a usage row that bills nothing and says what it saved), and every
field that changes the answer changes the key while the ones that do not
(order, stream, user, equal numbers...) do not; entries are private to a
team (or a key without one) unless cache.shared; TTL from the config, the
model and x-gw-cache-ttl; the controls (x-gw-cache off|on|refresh,
Cache-Control no-cache|no-store, a model's cache: {enabled: false});
errors, truncated streams and uncacheable requests are never stored; a
streamed answer is stored and replayed as well-formed SSE in either front
door, parsed by the official SDKs; LRU eviction under each tier's byte
bound (a hot hit reads no SQLite, a hot-tier eviction is served from SQLite
and promoted); a hit's rate-limit reservation settles to zero and its
overhead stays well under 0.3 ms; metrics; config errors."""

import json
import statistics
import time

import pytest

from conftest import (GATEWAYD, SANITIZED, SLOW, SSEAnswer, assert_openai_error, auth,
                      chat_body, chat_stream_parts, marker, messages_headers, parse_events,
                      post_chat, post_chat_stream, post_messages, post_messages_stream,
                      run_sdk_script, serve, Gateway, wait_for, words)

CACHE_ON = "cache: { enabled: true }\n"

MODELS = """\
  - name: nocache-model
    deployments: [ { provider: mock, model: mock-upstream-model } ]
    cache: { enabled: false }
  - name: short-model
    deployments: [ { provider: mock, model: mock-upstream-model } ]
    cache: { ttl: 1 }
  - name: other-model
    deployments: [ { provider: mock, model: mock-upstream-model } ]
    pricing: { input_per_mtok: 1.0, output_per_mtok: 2.0 }
  - name: echo-cached
    deployments: [ { provider: echo, model: echo } ]
"""


@pytest.fixture(scope="module")
def cgw(mock, dead_port, tmp_path_factory):
    """A gateway with the cache on (the shared test gateways switch it off)."""
    yield from serve(Gateway(tmp_path_factory.mktemp("cgw"), mock.port, dead_port,
                             extra_models=MODELS, extra=CACHE_ON, name="cgw"))


@pytest.fixture(scope="module")
def ckey(cgw):
    return cgw.create_key("cache-alice")["key"]


def calls(mock, m):
    """Upstream calls whose body holds marker m."""
    return len(mock.find(m))


def cache_of(resp):
    return resp.headers.get("x-gw-cache")


def metric(gw, name):
    """The value of one sample of /metrics (name with its labels)."""
    text = gw.request("GET", "/metrics").body.decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError("no metric %s" % name)


# --------------------------------------------------------------------------
# hit and miss


def test_miss_then_hit_bills_nothing_and_records_the_saving(cgw, ckey, mock):
    m = marker()
    body = chat_body("what is the answer " + m)
    first = post_chat(cgw, ckey, body)
    assert first.status == 200, first
    assert cache_of(first) == "miss" and "x-gw-cache-age" not in first.headers
    second = post_chat(cgw, ckey, body)
    assert second.status == 200, second
    assert cache_of(second) == "hit-exact", second.headers
    assert int(second.headers["x-gw-cache-age"]) >= 0
    assert second.headers["x-gw-attempts"] == "0"
    assert second.headers["x-gw-provider"] == "mock"
    assert second.headers["x-gw-deployment"] == "mock/mock-upstream-model"
    assert calls(mock, m) == 1
    a, b = first.json(), second.json()
    assert b["object"] == "chat.completion" and b["model"] == "gpt-4o-mini"
    assert b["choices"][0]["message"]["content"] == a["choices"][0]["message"]["content"] \
        == "echo: what is the answer " + m
    assert b["choices"][0]["finish_reason"] == "stop"
    assert b["usage"]["prompt_tokens"] == a["usage"]["prompt_tokens"]
    assert b["usage"]["completion_tokens"] == a["usage"]["completion_tokens"]
    assert b["id"] != a["id"]

    miss_row = cgw.usage_row(first.headers["x-request-id"])
    hit_row = cgw.usage_row(second.headers["x-request-id"])
    p, c = words("what is the answer " + m), words("echo: what is the answer " + m)
    assert (miss_row["prompt_tokens"], miss_row["completion_tokens"]) == (p, c)
    assert miss_row["cache_hit"] is None and miss_row["saved_tokens"] == 0
    assert miss_row["cost_usd"] == pytest.approx((p * 1.0 + c * 2.0) / 1e6)
    assert hit_row["cache_hit"] == "exact"
    assert (hit_row["prompt_tokens"], hit_row["completion_tokens"], hit_row["cost_usd"]) \
        == (0, 0, 0)
    assert hit_row["saved_tokens"] == p + c
    assert hit_row["saved_cost_usd"] == pytest.approx(miss_row["cost_usd"])
    assert hit_row["status"] == 200 and hit_row["model"] == "gpt-4o-mini"

    # the entry in SQLite, with its question, canonical request and hit count
    rows = wait_for(lambda: [r for r in cgw.db_query("SELECT * FROM cache_entries")
                             if r["question"] == "what is the answer " + m and r["hits"] == 1],
                    3 * SLOW, what="the entry's hit count")
    e = rows[0]
    assert e["model"] == "gpt-4o-mini" and e["provider"] == "mock"
    assert e["upstream_model"] == "mock-upstream-model"
    assert json.loads(e["request"]) == {"messages": [{"content": "what is the answer " + m,
                                                      "role": "user"}]}
    ans = json.loads(e["answer"])
    assert ans["content"] == "echo: what is the answer " + m and ans["finish_reason"] == "stop"
    assert e["expires_at"] - e["created_at"] == 3600 * 1000


# Each changes the answer, so each is a new entry (then a hit of its own).
VARIANTS = [
    {"temperature": 0.2},
    {"top_p": 0.5},
    {"max_tokens": 17},
    {"stop": ["zz"]},
    {"seed": 7},
    {"response_format": {"type": "json_object"}},
    {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
    {"tools": [{"type": "function", "function": {"name": "g", "parameters": {"type": "object"}}}]},
    {"tool_choice": "none"},
    {"presence_penalty": 0.1},
    {"frequency_penalty": 0.1},
    {"logit_bias": {"50256": -100}},
    {"parallel_tool_calls": False},
    {"reasoning_effort": "low"},
    {"a_parameter_the_gateway_does_not_know": 1},
]


def test_every_output_affecting_field_changes_the_key(cgw, ckey, mock):
    m = marker()
    text = "fields " + m
    base = chat_body(text)
    assert cache_of(post_chat(cgw, ckey, base)) == "miss"
    assert cache_of(post_chat(cgw, ckey, base)) == "hit-exact"
    bodies = [dict(base, **v) for v in VARIANTS]
    bodies += [
        chat_body(text, messages=[{"role": "system", "content": "be brief"},
                                  {"role": "user", "content": text}]),
        chat_body(text, messages=[{"role": "system", "content": "be verbose"},
                                  {"role": "user", "content": text}]),
        chat_body(text, messages=[{"role": "user", "content": "hi"},
                                  {"role": "assistant", "content": "hello"},
                                  {"role": "user", "content": text}]),
        chat_body(text + " more"),
        chat_body(text, model="other-model"),
    ]
    for i, b in enumerate(bodies):
        first = post_chat(cgw, ckey, b)
        assert first.status == 200 and cache_of(first) == "miss", (b, first.headers)
        again = post_chat(cgw, ckey, b)
        assert cache_of(again) == "hit-exact", (b, again.headers)
        assert calls(mock, m) == i + 2, b


def test_fields_that_do_not_change_the_answer_share_the_entry(cgw, ckey, mock):
    m = marker()
    text = "same answer " + m
    base = chat_body(text, temperature=1, max_tokens=20)
    assert cache_of(post_chat(cgw, ckey, base)) == "miss"
    same = [
        # member order, as raw JSON
        json.dumps({"max_tokens": 20, "temperature": 1, "messages": base["messages"],
                    "model": "gpt-4o-mini"}),
        dict(base, temperature=1.0),
        dict(base, stream=False),
        dict(base, user="someone"),
        dict(base, metadata={"k": "v"}),
        dict(base, n=1),
        dict(base, seed=None),
        {"model": "gpt-4o-mini", "temperature": 1, "max_completion_tokens": 20,
         "messages": base["messages"]},
        dict(base, messages=[{"role": "user", "content": [{"type": "text", "text": text}]}]),
    ]
    for b in same:
        r = post_chat(cgw, ckey, b, headers={"Content-Type": "application/json"})
        assert r.status == 200 and cache_of(r) == "hit-exact", (b, r.headers)
    assert calls(mock, m) == 1


def test_tool_call_answers_are_replayed(cgw, ckey, mock):
    m = marker()
    body = chat_body("weather please %s [[mock:tool=get_weather]]" % m)
    a = post_chat(cgw, ckey, body).json()
    hit = post_chat(cgw, ckey, body)
    assert cache_of(hit) == "hit-exact"
    b = hit.json()
    ca, cb = a["choices"][0], b["choices"][0]
    assert cb["finish_reason"] == "tool_calls" == ca["finish_reason"]
    assert cb["message"]["content"] == ca["message"]["content"] == "Calling get_weather."
    ta, tb = ca["message"]["tool_calls"][0], cb["message"]["tool_calls"][0]
    assert tb["id"] == ta["id"] and tb["type"] == "function"
    assert tb["function"] == ta["function"]
    # streamed replay: the same call in chunks
    s = post_chat_stream(cgw, ckey, dict(body, stream=True))
    assert s.headers["x-gw-cache"] == "hit-exact"
    chunks, done, errors, garbage = parse_events(s.events)
    assert done and not errors and not garbage
    text, tools, finishes, _ = chat_stream_parts(chunks)
    assert text == "Calling get_weather." and finishes == ["tool_calls"]
    assert tools == [{"id": ta["id"], "name": "get_weather",
                      "arguments": ta["function"]["arguments"]}]
    # and as Anthropic's tool_use block (the same request through /v1/messages
    # is another entry: it asks for max_tokens; so ask the chat form with it)
    assert calls(mock, m) == 1


def test_length_stops_are_cached_with_their_finish_reason(cgw, ckey, mock):
    m = marker()
    body = chat_body("cut short %s [[mock:stop=max]]" % m)
    assert post_chat(cgw, ckey, body).json()["choices"][0]["finish_reason"] == "length"
    hit = post_chat(cgw, ckey, body)
    assert cache_of(hit) == "hit-exact"
    assert hit.json()["choices"][0]["finish_reason"] == "length"
    assert calls(mock, m) == 1


# --------------------------------------------------------------------------
# tenancy


def test_entries_are_private_to_a_team_or_a_key(cgw, mock):
    cgw.gwctl("team", "create", "red")
    cgw.gwctl("team", "create", "blue")
    alice = cgw.create_key("t-alice", "--team", "red")["key"]
    amy = cgw.create_key("t-amy", "--team", "red")["key"]
    bob = cgw.create_key("t-bob", "--team", "blue")["key"]
    carl = cgw.create_key("t-carl")["key"]
    dave = cgw.create_key("t-dave")["key"]
    m = marker()
    body = chat_body("tenant question " + m)
    assert cache_of(post_chat(cgw, alice, body)) == "miss"
    assert cache_of(post_chat(cgw, amy, body)) == "hit-exact"  # same team
    assert cache_of(post_chat(cgw, bob, body)) == "miss"  # another team
    assert cache_of(post_chat(cgw, carl, body)) == "miss"  # a key without a team
    assert cache_of(post_chat(cgw, dave, body)) == "miss"  # another one
    assert cache_of(post_chat(cgw, carl, body)) == "hit-exact"
    assert cache_of(post_chat(cgw, bob, body)) == "hit-exact"
    assert calls(mock, m) == 4
    parts = wait_for(lambda: {r["partition"] for r in cgw.db_query(
        "SELECT partition FROM cache_entries WHERE question = ?", ("tenant question " + m,))}
        if len(cgw.db_query("SELECT id FROM cache_entries WHERE question = ?",
                            ("tenant question " + m,))) == 4 else None,
        3 * SLOW, what="four entries")
    assert len(parts) == 4 and any(p.startswith("team:") for p in parts) \
        and any(p.startswith("key:") for p in parts)


def test_shared_cache_crosses_tenants(make_gateway, mock):
    g = make_gateway(extra="cache: { enabled: true, shared: true }\n")
    a, b = g.create_key("s-a")["key"], g.create_key("s-b")["key"]
    m = marker()
    body = chat_body("shared question " + m)
    assert cache_of(post_chat(g, a, body)) == "miss"
    assert cache_of(post_chat(g, b, body)) == "hit-exact"
    assert calls(mock, m) == 1
    rows = wait_for(lambda: g.db_query("SELECT partition FROM cache_entries"), 3 * SLOW,
                    what="the entry")
    assert rows[0]["partition"] == "*"


# --------------------------------------------------------------------------
# TTL


def test_ttl_from_the_header_and_from_the_model(cgw, ckey, mock):
    m = marker()
    body = chat_body("short lived " + m)
    h = {"x-gw-cache-ttl": "1"}
    assert cache_of(post_chat(cgw, ckey, body, headers=h)) == "miss"
    assert cache_of(post_chat(cgw, ckey, body)) == "hit-exact"
    time.sleep(1.3)
    assert cache_of(post_chat(cgw, ckey, body)) == "miss"  # expired: asked again
    assert calls(mock, m) == 2
    # the model's ttl
    m2 = marker()
    body2 = chat_body("model ttl " + m2, model="short-model")
    assert cache_of(post_chat(cgw, ckey, body2)) == "miss"
    assert cache_of(post_chat(cgw, ckey, body2)) == "hit-exact"
    time.sleep(1.3)
    assert cache_of(post_chat(cgw, ckey, body2)) == "miss"
    assert calls(mock, m2) == 2
    e = wait_for(lambda: cgw.db_query("SELECT created_at, expires_at FROM cache_entries "
                                      "WHERE question = ?", ("model ttl " + m2,)),
                 3 * SLOW, what="the entry")[0]
    assert e["expires_at"] - e["created_at"] == 1000


# --------------------------------------------------------------------------
# controls


def test_header_off_neither_looks_up_nor_stores(cgw, ckey, mock):
    m = marker()
    body = chat_body("off " + m)
    r = post_chat(cgw, ckey, body, headers={"x-gw-cache": "off"})
    assert r.status == 200 and cache_of(r) == "off"
    assert cache_of(post_chat(cgw, ckey, body)) == "miss"  # nothing was stored
    assert cache_of(post_chat(cgw, ckey, body, headers={"x-gw-cache": "off"})) == "off"
    assert calls(mock, m) == 3
    assert cache_of(post_chat(cgw, ckey, body)) == "hit-exact"


def test_refresh_and_no_cache_skip_the_lookup_but_store(cgw, ckey, mock):
    for how in ({"x-gw-cache": "refresh"}, {"Cache-Control": "no-cache"}):
        m = marker()
        body = chat_body("refresh " + m)
        assert cache_of(post_chat(cgw, ckey, body)) == "miss"
        r = post_chat(cgw, ckey, body, headers=how)
        assert r.status == 200 and cache_of(r) == "miss", how
        assert calls(mock, m) == 2
        # a refresh first stores too
        m2 = marker()
        body2 = chat_body("refresh first " + m2)
        assert cache_of(post_chat(cgw, ckey, body2, headers=how)) == "miss"
        assert cache_of(post_chat(cgw, ckey, body2)) == "hit-exact"
        assert calls(mock, m2) == 1


def test_no_store_looks_up_but_does_not_store(cgw, ckey, mock):
    m = marker()
    body = chat_body("no store " + m)
    h = {"Cache-Control": "private, no-store"}
    assert cache_of(post_chat(cgw, ckey, body, headers=h)) == "miss"
    assert cache_of(post_chat(cgw, ckey, body, headers=h)) == "miss"
    assert calls(mock, m) == 2
    assert cache_of(post_chat(cgw, ckey, body)) == "miss"  # stores this time
    assert cache_of(post_chat(cgw, ckey, body, headers=h)) == "hit-exact"
    assert calls(mock, m) == 3


def test_model_switched_off_and_header_on(cgw, ckey, mock):
    m = marker()
    body = chat_body("model off " + m, model="nocache-model")
    assert cache_of(post_chat(cgw, ckey, body)) == "off"
    assert cache_of(post_chat(cgw, ckey, body)) == "off"
    on = {"x-gw-cache": "on"}
    assert cache_of(post_chat(cgw, ckey, body, headers=on)) == "miss"
    assert cache_of(post_chat(cgw, ckey, body, headers=on)) == "hit-exact"
    assert calls(mock, m) == 3


def test_bad_control_headers_are_400(cgw, ckey, mock):
    m = marker()
    for h, param in (({"x-gw-cache": "sometimes"}, "x-gw-cache"),
                     ({"x-gw-cache-ttl": "0"}, "x-gw-cache-ttl"),
                     ({"x-gw-cache-ttl": "soon"}, "x-gw-cache-ttl"),
                     ({"x-gw-cache-ttl": "99999999999"}, "x-gw-cache-ttl")):
        r = post_chat(cgw, ckey, chat_body("bad " + m), headers=h)
        assert_openai_error(r, 400, code="invalid_value", param=param)
    assert calls(mock, m) == 0


# --------------------------------------------------------------------------
# never cached


def test_errors_and_truncated_streams_are_not_stored(cgw, ckey, mock):
    m = marker()
    body = chat_body("fails %s [[mock:status=500]]" % m)
    for _ in range(2):
        r = post_chat(cgw, ckey, body)
        assert r.status == 500 and cache_of(r) == "miss", r
    assert calls(mock, m) == 2
    m2 = marker()
    body2 = chat_body("one two three four five %s [[mock:drop_after=2]]" % m2, stream=True)
    for _ in range(2):
        s = post_chat_stream(cgw, ckey, body2)
        assert s.headers["x-gw-cache"] == "miss"
        _, done, errors, _ = parse_events(s.events)
        assert not done and errors
    assert calls(mock, m2) == 2
    assert not cgw.db_query("SELECT id FROM cache_entries WHERE question LIKE ?",
                            ("%" + m2 + "%",))


def test_requests_the_cache_cannot_answer_are_off(cgw, ckey, mock):
    m = marker()
    for extra in ({"n": 2}, {"logprobs": True}, {"top_logprobs": 2},
                  {"modalities": ["text", "audio"]}):
        body = chat_body("uncacheable " + m, **extra)
        r = post_chat(cgw, ckey, body)
        assert cache_of(r) == "off", (extra, r.headers)


# --------------------------------------------------------------------------
# streaming, both front doors


def test_a_streamed_answer_is_stored_and_replayed_both_ways(cgw, ckey, mock):
    m = marker()
    text = "stream me " + m
    s = post_chat_stream(cgw, ckey, chat_body(text, stream=True))
    assert s.headers["x-gw-cache"] == "miss"
    # stored once complete: a non-streamed hit
    hit = post_chat(cgw, ckey, chat_body(text))
    assert cache_of(hit) == "hit-exact", hit.headers
    assert hit.json()["choices"][0]["message"]["content"] == "echo: " + text
    # a streamed hit, with usage: well-formed chunks, [DONE] last
    s2 = post_chat_stream(cgw, ckey, chat_body(text, stream=True, include_usage=True))
    assert s2.status == 200 and s2.headers["x-gw-cache"] == "hit-exact"
    assert s2.headers["content-type"].startswith("text/event-stream")
    assert s2.events[-1][1] == "[DONE]"
    chunks, done, errors, garbage = parse_events(s2.events)
    assert done and not errors and not garbage
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "gpt-4o-mini"
               for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content, tools, finishes, usage = chat_stream_parts(chunks)
    assert content == "echo: " + text and not tools and finishes == ["stop"]
    assert usage == {"prompt_tokens": words(text), "completion_tokens": words("echo: " + text),
                     "total_tokens": words(text) + words("echo: " + text),
                     "prompt_tokens_details": {"cached_tokens": 0}}
    assert calls(mock, m) == 1
    row = cgw.usage_row(s2.headers["x-request-id"])
    assert row["stream"] == 1 and row["cache_hit"] == "exact" and row["completion_tokens"] == 0


def test_messages_and_chat_share_entries(cgw, ckey, mock):
    """/v1/messages is the same request in chat form: a streamed Anthropic
    answer is stored, and replayed to both front doors."""
    m = marker()
    text = "anthropic side " + m
    mbody = {"model": "gpt-4o-mini", "max_tokens": 64, "system": "be brief",
             "messages": [{"role": "user", "content": text}]}
    s = post_messages_stream(cgw, ckey, dict(mbody, stream=True))
    assert s.status == 200 and s.headers["x-gw-cache"] == "miss"
    hit = post_messages_stream(cgw, ckey, dict(mbody, stream=True))
    assert hit.headers["x-gw-cache"] == "hit-exact"
    names = [n for n in hit.names() if n != "ping"]
    assert names == ["message_start", "content_block_start", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"], hit.names()
    assert hit.text() == "echo: " + text
    start = hit.events[0][1]["message"]
    assert start["model"] == "gpt-4o-mini" and start["id"].startswith("msg_")
    assert start["usage"]["input_tokens"] == words("be brief") + words(text)
    delta = [d for n, d in hit.events if n == "message_delta"][0]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"]["output_tokens"] == words("echo: " + text)
    whole = post_messages(cgw, ckey, mbody)
    assert cache_of(whole) == "hit-exact"
    assert whole.json()["content"] == [{"type": "text", "text": "echo: " + text}]
    chat = post_chat(cgw, ckey, chat_body(text, max_tokens=64, messages=[
        {"role": "system", "content": "be brief"}, {"role": "user", "content": text}]))
    assert cache_of(chat) == "hit-exact"
    assert chat.json()["choices"][0]["message"]["content"] == "echo: " + text
    assert calls(mock, m) == 1


def test_a_tool_call_replayed_as_anthropic_events(cgw, ckey, mock):
    m = marker()
    text = "tool for anthropic %s [[mock:tool=lookup]]" % m
    mbody = {"model": "gpt-4o-mini", "max_tokens": 64,
             "messages": [{"role": "user", "content": text}]}
    first = post_messages(cgw, ckey, mbody)
    assert cache_of(first) == "miss"
    hit = post_messages_stream(cgw, ckey, dict(mbody, stream=True))
    assert hit.headers["x-gw-cache"] == "hit-exact"
    starts = [d["content_block"] for n, d in hit.events if n == "content_block_start"]
    assert [b["type"] for b in starts] == ["text", "tool_use"]
    tool = first.json()["content"][1]
    assert starts[1]["id"] == tool["id"] and starts[1]["name"] == "lookup"
    args = "".join(d["delta"]["partial_json"] for n, d in hit.events
                   if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta")
    assert json.loads(args) == tool["input"]
    assert [d for n, d in hit.events if n == "message_delta"][0]["delta"]["stop_reason"] \
        == "tool_use"
    assert calls(mock, m) == 1


def test_echo_streams_are_cached(cgw, ckey):
    text = "echo me " + marker()
    s = post_chat_stream(cgw, ckey, chat_body(text, model="echo-cached", stream=True))
    assert s.headers["x-gw-cache"] == "miss"
    hit = post_chat(cgw, ckey, chat_body(text, model="echo-cached"))
    assert cache_of(hit) == "hit-exact"
    assert hit.json()["choices"][0]["message"]["content"] == text


def test_the_official_sdks_parse_replayed_answers(cgw, mock):
    m = marker()
    checks = run_sdk_script(cgw, "cache.mjs", key_name="sdk-cache",
                            packages=("openai", "@anthropic-ai/sdk", "anthropic-sdk-v0"),
                            GW_MARK=m)
    names = {c["name"] for c in checks}
    assert {"openai.miss", "openai.streamed_hit", "openai.tool_miss_then_streamed_hit",
            "anthropic_v1.streamed_hit", "anthropic_v0.tool_streamed_hit"} <= names, names
    # one upstream call per question, whatever the SDKs asked afterwards
    assert calls(mock, m) == 2


# --------------------------------------------------------------------------
# the tiers' bounds


def test_hot_tier_eviction_falls_back_to_sqlite_and_promotes(make_gateway, mock):
    # a tier of 100 entries is one shard: exact LRU; about two entries fit
    g = make_gateway(extra="cache: { enabled: true, max_entries: 100, max_bytes: 700 }\n")
    key = g.create_key("hot")["key"]
    m = marker()
    bodies = [chat_body("hot %d %s" % (i, m)) for i in range(4)]
    for b in bodies:
        assert cache_of(post_chat(g, key, b)) == "miss"
    # (an answer is stored when its request ends, which may be just after the
    # client has it)
    wait_for(lambda: metric(g, 'gw_cache_evictions_total{tier="hot"}') >= 2, 3 * SLOW,
             what="two hot-tier evictions")
    assert 0 < metric(g, 'gw_cache_bytes{tier="hot"}') <= 700
    # committed (the gauge can run a few milliseconds ahead of the commit)
    wait_for(lambda: len(g.db_query("SELECT id FROM cache_entries")) == 4, 3 * SLOW,
             what="4 entries in SQLite")
    assert metric(g, 'gw_cache_entries{tier="db"}') == 4
    reads = metric(g, "gw_cache_db_reads_total")
    # the first was evicted from memory: served from SQLite, and promoted
    assert cache_of(post_chat(g, key, bodies[0])) == "hit-exact"
    assert metric(g, "gw_cache_db_reads_total") == reads + 1
    for _ in range(3):  # a hot hit reads no SQLite at all
        assert cache_of(post_chat(g, key, bodies[0])) == "hit-exact"
    assert metric(g, "gw_cache_db_reads_total") == reads + 1
    assert calls(mock, m) == 4


def test_sqlite_tier_evicts_the_least_recently_used_under_its_byte_bound(make_gateway, mock):
    # (no question vectors: they would count 1 KB an entry)
    g = make_gateway(extra="cache: { enabled: true, db_max_bytes: 8192, max_bytes: 0, "
                           "semantic: { enabled: false } }\n")
    key = g.create_key("db")["key"]
    m = marker()
    pad = " ".join("pad%d" % i for i in range(120))
    bodies = [chat_body("db %s %d %s" % (m, i, pad)) for i in range(4)]

    def stored(n):
        return wait_for(lambda: len(g.db_query("SELECT id FROM cache_entries")) == n or None,
                        3 * SLOW, what="%d entries" % n)

    for b in bodies[:3]:
        assert cache_of(post_chat(g, key, b)) == "miss"
    stored(3)
    size = g.db_query("SELECT SUM(bytes) AS s FROM cache_entries")[0]["s"]
    assert 6000 < size <= 8192, size  # three fit, a fourth does not
    # use the first: the second is now the least recently used
    assert cache_of(post_chat(g, key, bodies[0])) == "hit-exact"
    assert cache_of(post_chat(g, key, bodies[3])) == "miss"

    def left():  # the fourth and the eviction are committed together
        return {r["question"].split()[2] for r in g.db_query("SELECT question FROM cache_entries")}
    wait_for(lambda: left() == {"0", "2", "3"}, 3 * SLOW, what="the second one evicted")
    assert metric(g, 'gw_cache_evictions_total{tier="db"}') == 1
    total = g.db_query("SELECT entries, bytes FROM cache_totals")[0]
    assert total["entries"] == 3 and total["bytes"] <= 8192
    assert cache_of(post_chat(g, key, bodies[1])) == "miss"  # evicted: asked again
    assert cache_of(post_chat(g, key, bodies[0])) == "hit-exact"
    assert calls(mock, m) == 5


# --------------------------------------------------------------------------
# limits, cost, metrics


def test_a_hit_settles_its_rate_limit_reservation_to_zero(cgw, mock):
    k = cgw.create_key("rl-cache", "--tpm", "1000")["key"]
    m = marker()
    body = chat_body("limited " + m, max_tokens=400)
    assert post_chat(cgw, k, body).status == 200
    remaining = []
    for _ in range(6):  # each reserves ~400 of 1000 tokens a minute: fine only if settled
        r = post_chat(cgw, k, body)
        assert r.status == 200 and cache_of(r) == "hit-exact", r
        remaining.append(int(r.headers["x-ratelimit-remaining-tokens"]))
    assert remaining[-1] >= remaining[0]
    assert calls(mock, m) == 1


def test_a_hot_hit_costs_well_under_a_third_of_a_millisecond(cgw, ckey):
    body = chat_body("fast " + marker(), messages=None)
    post_chat(cgw, ckey, body)
    overhead = []
    for _ in range(30):
        r = post_chat(cgw, ckey, body)
        assert cache_of(r) == "hit-exact"
        overhead.append(int(r.headers["x-gw-overhead-us"]))
    if not SANITIZED:  # sanitizers slow everything several times over
        assert statistics.median(overhead) < 300, overhead


def test_metrics_count_lookups_and_savings(cgw, ckey):
    before = {n: metric(cgw, n) for n in ('gw_cache_lookups_total{result="hit-exact"}',
                                          'gw_cache_lookups_total{result="miss"}',
                                          "gw_cache_stores_total",
                                          "gw_cache_saved_tokens_total")}
    text = "metrics " + marker()
    body = chat_body(text)
    post_chat(cgw, ckey, body)
    post_chat(cgw, ckey, body)
    post_chat(cgw, ckey, body)
    assert metric(cgw, 'gw_cache_lookups_total{result="hit-exact"}') \
        == before['gw_cache_lookups_total{result="hit-exact"}'] + 2
    assert metric(cgw, 'gw_cache_lookups_total{result="miss"}') \
        == before['gw_cache_lookups_total{result="miss"}'] + 1
    assert metric(cgw, "gw_cache_stores_total") == before["gw_cache_stores_total"] + 1
    assert metric(cgw, "gw_cache_saved_tokens_total") \
        == before["gw_cache_saved_tokens_total"] + 2 * (words(text) + words("echo: " + text))
    assert metric(cgw, 'gw_cache_entries{tier="hot"}') >= 1
    assert metric(cgw, "gw_cache_saved_usd_total") > 0


def test_the_cache_survives_a_restart(make_gateway, mock):
    g = make_gateway(extra=CACHE_ON)
    key = g.create_key("restart")["key"]
    m = marker()
    body = chat_body("remember me " + m)
    assert cache_of(post_chat(g, key, body)) == "miss"
    assert g.stop() == 0  # the writer commits the store before it exits
    g.start()
    assert cache_of(post_chat(g, key, body)) == "hit-exact"
    assert calls(mock, m) == 1


@pytest.mark.parametrize("section, needle", [
    ("cache: { enabled: true, colour: red }", "colour: unknown key in cache"),
    ("cache: { ttl: 0 }", "ttl: 0 is out of range"),
    ("cache: { semantic: { threshold: 2 } }", "threshold: a similarity above 0"),
    ("cache: { semantic: { mode: fast } }", "mode: unknown key in cache.semantic"),
    ("cache: { shared: maybe }", "shared: expected true or false"),
])
def test_config_errors_name_the_key(tmp_path, mock, dead_port, section, needle):
    import subprocess
    from conftest import gateway_config, PROVIDER_KEY
    import os
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(gateway_config(8080, tmp_path / "var", mock.port, dead_port, extra=section + "\n"))
    p = subprocess.run([str(GATEWAYD), "--check-config", "-c", str(cfg)], capture_output=True,
                       text=True, env=dict(os.environ, MOCK_PROVIDER_KEY=PROVIDER_KEY), timeout=30)
    assert p.returncode == 1 and needle in p.stderr and str(cfg) + ":" in p.stderr, p.stderr


def test_a_model_cache_section_is_checked(tmp_path, mock, dead_port):
    import os
    import subprocess
    from conftest import gateway_config, PROVIDER_KEY
    cfg = tmp_path / "gw.yaml"
    models = ("  - name: m2\n    deployments: [ { provider: mock } ]\n"
              "    cache: { enabled: true, size: 3 }\n")
    cfg.write_text(gateway_config(8080, tmp_path / "var", mock.port, dead_port,
                                  extra_models=models))
    p = subprocess.run([str(GATEWAYD), "--check-config", "-c", str(cfg)], capture_output=True,
                       text=True, env=dict(os.environ, MOCK_PROVIDER_KEY=PROVIDER_KEY), timeout=30)
    assert p.returncode == 1 and "size: unknown key in a model's cache" in p.stderr, p.stderr
