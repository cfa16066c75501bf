"""The response cache's semantic tier (docs/caching.md, docs/semantic.md):
a question worded differently (case, punctuation, contractions, word order)
is answered with the stored answer (x-gw-cache: hit-semantic,
x-gw-cache-similarity, x-gw-cache-age), streamed or not, through both front
doors, with a usage row that says cache_hit 'semantic' and bills nothing;
near-misses (another country, another tense, a negation) are turned down
by the verification step even above the threshold; x-gw-semantic-threshold
raises or lowers the bar per request (a bad value is a 400 in the caller's
shape); entries match only within their tenant, model, system prompt and
every other part of the request but the last user message; the index is
rebuilt from SQLite after a restart; purge and expiry remove vectors;
answers are stored with personal data back in placeholders; `gwctl cache
search`; metrics; config."""

import json
import os
import subprocess
import time

import pytest

from conftest import (GATEWAYD, SLOW, Gateway, assert_openai_error, chat_body,
                      chat_stream_parts, marker, parse_events, post_chat, post_chat_stream, post_messages,
                      post_messages_stream, serve, wait_for, words)

CACHE_ON = "cache: { enabled: true }\n"

MODELS = """\
  - name: other-model
    deployments: [ { provider: mock, model: mock-upstream-model } ]
"""


@pytest.fixture(scope="module")
def sgw(mock, dead_port, tmp_path_factory):
    """A gateway with the cache on (semantic by default)."""
    yield from serve(Gateway(tmp_path_factory.mktemp("sgw"), mock.port, dead_port,
                             extra_models=MODELS, extra=CACHE_ON, name="sgw"))


def fresh_key(gw, name="sem"):
    """A key of its own: its own partition, so no other test's entries match."""
    return gw.create_key(name + "-" + marker())["key"]


def calls(mock, m):
    return len(mock.find(m))


def cache_of(resp):
    return resp.headers.get("x-gw-cache")


def content(resp):
    return resp.json()["choices"][0]["message"]["content"]


def metric(gw, name):
    text = gw.request("GET", "/metrics").body.decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError("no metric %s" % name)


def stored(gw, m, n=1):
    """The cache rows whose question holds m, once n of them are in SQLite."""
    return wait_for(lambda: (lambda rows: rows if len(rows) >= n else None)(
        gw.db_query("SELECT * FROM cache_entries WHERE question LIKE ?", ("%" + m + "%",))),
        3 * SLOW, what="the cache rows of " + m)


# --------------------------------------------------------------------------
# the hit


def test_paraphrases_are_answered_from_the_stored_answer(sgw, mock):
    key, m = fresh_key(sgw), marker()
    q = "%s: what is the capital of France?" % m
    first = post_chat(sgw, key, chat_body(q))
    assert first.status == 200 and cache_of(first) == "miss", first
    assert "x-gw-cache-similarity" not in first.headers
    answer = content(first)
    assert answer == "echo: " + q
    stored(sgw, m)
    for variant in ("%s: what's the capital of france" % m,         # contraction, case
                    "%s: The capital of France is what?" % m,        # word order
                    "%s: WHAT IS THE CAPITAL OF FRANCE??" % m.upper(),  # case, punctuation
                    "What is the capital of France? %s" % m):         # the marker moved
        r = post_chat(sgw, key, chat_body(variant))
        assert r.status == 200, r
        assert cache_of(r) == "hit-semantic", (variant, r.headers)
        sim = r.headers["x-gw-cache-similarity"]
        assert len(sim.split(".")[1]) == 4 and 0.8 <= float(sim) <= 1.0, sim
        assert int(r.headers["x-gw-cache-age"]) >= 0
        assert r.headers["x-gw-attempts"] == "0"
        assert content(r) == answer  # the stored answer, not an echo of the variant
    assert calls(mock, m) == 1


def test_a_semantic_hit_bills_nothing_and_says_what_it_saved(sgw, mock):
    key, m = fresh_key(sgw), marker()
    q = "%s: how tall is Mount Everest?" % m
    first = post_chat(sgw, key, chat_body(q))
    stored(sgw, m)
    hit = post_chat(sgw, key, chat_body("%s: how tall is mount everest" % m))
    assert cache_of(hit) == "hit-semantic", hit.headers
    miss_row = sgw.usage_row(first.headers["x-request-id"])
    hit_row = sgw.usage_row(hit.headers["x-request-id"])
    assert miss_row["cache_hit"] is None
    assert hit_row["cache_hit"] == "semantic"
    assert (hit_row["prompt_tokens"], hit_row["completion_tokens"], hit_row["cost_usd"]) \
        == (0, 0, 0)
    assert hit_row["saved_tokens"] == words(q) + words("echo: " + q) > 0
    assert hit_row["saved_cost_usd"] == pytest.approx(miss_row["cost_usd"])
    # the answer's usage is what it cost when it was made
    assert hit.json()["usage"]["prompt_tokens"] == first.json()["usage"]["prompt_tokens"]


def test_streamed_and_anthropic_front_door_hits(sgw, mock):
    key, m = fresh_key(sgw), marker()
    q = "%s: what is the boiling point of water?" % m
    # (max_tokens as the Anthropic requests below must carry it: it is part of the partition)
    assert cache_of(post_chat(sgw, key, chat_body(q, max_tokens=64))) == "miss"
    stored(sgw, m)

    # OpenAI, streamed
    s = post_chat_stream(sgw, key, chat_body("%s: what's the boiling point of water" % m,
                                             stream=True, max_tokens=64))
    assert s.status == 200 and s.headers["x-gw-cache"] == "hit-semantic", s.headers
    assert float(s.headers["x-gw-cache-similarity"]) >= 0.8
    chunks, done, errors, garbage = parse_events(s.events)
    assert done and not errors and not garbage
    assert chat_stream_parts(chunks)[0] == "echo: " + q

    # Anthropic, whole and streamed
    body = {"model": "gpt-4o-mini", "max_tokens": 64,
            "messages": [{"role": "user", "content": "%s: The boiling point of water is what?"
                          % m}]}
    r = post_messages(sgw, key, body)
    assert r.status == 200 and cache_of(r) == "hit-semantic", r
    doc = r.json()
    assert doc["type"] == "message" and doc["content"][0]["text"] == "echo: " + q
    body["stream"] = True
    a = post_messages_stream(sgw, key, body)
    assert a.status == 200 and a.headers["x-gw-cache"] == "hit-semantic"
    assert a.text() == "echo: " + q and a.names()[-1] == "message_stop"
    assert calls(mock, m) == 1


# --------------------------------------------------------------------------
# what must not hit


def test_near_misses_are_turned_down_by_verification(sgw, mock):
    key, m = fresh_key(sgw), marker()
    q = "%s: what is the capital of France?" % m
    assert cache_of(post_chat(sgw, key, chat_body(q))) == "miss"
    stored(sgw, m)
    before = metric(sgw, "gw_cache_semantic_rejected_total")
    # close vectors (above the default threshold), different questions
    for near in ("%s: what was the capital of France?" % m,      # tense
                 "%s: what isn't the capital of France?" % m):   # negation
        r = post_chat(sgw, key, chat_body(near))
        assert r.status == 200 and cache_of(r) == "miss", (near, r.headers)
        assert content(r) == "echo: " + near
    # another country: with the threshold at 0 every vector is a candidate, and
    # only the verification step stands between it and the French answer
    germany = "%s: what is the capital of Germany?" % m
    r = post_chat(sgw, key, chat_body(germany), headers={"x-gw-semantic-threshold": "0"})
    assert cache_of(r) == "miss" and content(r) == "echo: " + germany
    assert metric(sgw, "gw_cache_semantic_rejected_total") >= before + 3
    assert calls(mock, m) == 4


def test_the_threshold_header_raises_and_lowers_the_bar(sgw, mock):
    key, m = fresh_key(sgw), marker()
    q = "%s: what is the capital of France?" % m
    post_chat(sgw, key, chat_body(q))
    stored(sgw, m)
    moved = "What is the capital of France? %s" % m  # similar, not identical, vectors
    # (no-store: the miss must not become an entry of its own)
    strict = {"x-gw-semantic-threshold": "0.99", "cache-control": "no-store"}
    r = post_chat(sgw, key, chat_body(moved), headers=strict)
    assert cache_of(r) == "miss" and content(r) == "echo: " + moved, r.headers
    r = post_chat(sgw, key, chat_body("%s: what's the capital of france?" % m), headers=strict)
    assert cache_of(r) == "hit-semantic"  # identical vectors still pass 0.99
    r = post_chat(sgw, key, chat_body(moved))  # the default threshold: a hit
    sim = float(r.headers["x-gw-cache-similarity"])
    assert cache_of(r) == "hit-semantic" and content(r) == "echo: " + q
    assert 0.8 <= sim < 0.99
    assert calls(mock, m) == 2


@pytest.mark.parametrize("value", ["1.5", "-0.1", "high", "", "nan", "0.9x"])
def test_a_bad_threshold_is_a_400_in_the_callers_shape(sgw, mock, value):
    key, m = fresh_key(sgw), marker()
    r = post_chat(sgw, key, chat_body("bad threshold " + m),
                  headers={"x-gw-semantic-threshold": value})
    assert_openai_error(r, 400, code="invalid_value", param="x-gw-semantic-threshold")
    r = post_messages(sgw, key, {"model": "gpt-4o-mini", "max_tokens": 16,
                                 "messages": [{"role": "user", "content": "bad " + m}]},
                      headers={"x-gw-semantic-threshold": value})
    assert r.status == 400 and r.json()["type"] == "error", r
    assert "x-gw-semantic-threshold" in r.json()["error"]["message"]
    assert calls(mock, m) == 0


def test_semantic_hits_stay_within_their_tenant(sgw, mock):
    alice, bob, m = fresh_key(sgw, "alice"), fresh_key(sgw, "bob"), marker()
    q = "%s: who wrote Hamlet?" % m
    post_chat(sgw, alice, chat_body(q))
    stored(sgw, m)
    r = post_chat(sgw, bob, chat_body("%s: who wrote hamlet" % m))
    assert cache_of(r) == "miss"
    assert cache_of(post_chat(sgw, alice, chat_body("%s: who wrote hamlet" % m))) \
        == "hit-semantic"
    assert calls(mock, m) == 2


def test_partitioned_by_model_system_prompt_and_parameters(sgw, mock):
    key, m = fresh_key(sgw), marker()
    q, p = "%s: what is the speed of light?" % m, "%s: what's the speed of light" % m

    def sys(text, prompt):
        return [{"role": "system", "content": prompt}, {"role": "user", "content": text}]

    post_chat(sgw, key, chat_body(None, messages=sys(q, "Be brief.")))
    stored(sgw, m)
    # the same system prompt: a hit
    r = post_chat(sgw, key, chat_body(None, messages=sys(p, "Be brief.")))
    assert cache_of(r) == "hit-semantic", r.headers
    # another system prompt, another model, another parameter: misses
    assert cache_of(post_chat(sgw, key, chat_body(None, messages=sys(p, "Be verbose.")))) == "miss"
    assert cache_of(post_chat(sgw, key, chat_body(None, model="other-model",
                                                  messages=sys(p, "Be brief.")))) == "miss"
    assert cache_of(post_chat(sgw, key, chat_body(None, messages=sys(p, "Be brief."),
                                                  temperature=0.3))) == "miss"
    # an earlier turn differs: the conversation is not the same
    conv = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"},
            {"role": "user", "content": p}]
    assert cache_of(post_chat(sgw, key, chat_body(None, messages=conv))) == "miss"
    assert calls(mock, m) == 5


def test_semantic_off_in_the_config(make_gateway, mock):
    g = make_gateway(extra="cache: { enabled: true, semantic: { enabled: false } }\n")
    key, m = fresh_key(g), marker()
    post_chat(g, key, chat_body("%s: what is the capital of France?" % m))
    stored(g, m)
    r = post_chat(g, key, chat_body("%s: what's the capital of france" % m))
    assert cache_of(r) == "miss"
    r = post_chat(g, key, chat_body("%s: what is the capital of France?" % m))
    assert cache_of(r) == "hit-exact"
    rows = stored(g, m)
    assert rows[0]["embedding"] is None and rows[0]["embedder"] is None


# --------------------------------------------------------------------------
# the vectors' lifetime


def test_the_index_is_rebuilt_from_sqlite_after_a_restart(make_gateway, mock):
    g = make_gateway(extra=CACHE_ON)
    key, m = fresh_key(g), marker()
    q = "%s: what is the capital of France?" % m
    assert cache_of(post_chat(g, key, chat_body(q))) == "miss"
    rows = stored(g, m)
    assert rows[0]["embedder"] == "gw-local-1" and len(rows[0]["embedding"]) == 256 * 4
    assert rows[0]["sem_partition"] is not None
    assert g.stop() == 0
    g.start()
    r = post_chat(g, key, chat_body("%s: The capital of France is what?" % m))
    assert cache_of(r) == "hit-semantic", r.headers
    assert content(r) == "echo: " + q
    assert calls(mock, m) == 1
    assert metric(g, "gw_cache_semantic_vectors") >= 1
    log = g.stderr_path.read_text()
    assert "semantic vectors loaded" in log


def test_purge_removes_the_vectors(make_gateway, mock):
    g = make_gateway(extra=CACHE_ON)
    key, m = fresh_key(g), marker()
    q = "%s: what is the capital of France?" % m
    post_chat(g, key, chat_body(q))
    stored(g, m)
    vectors = metric(g, "gw_cache_semantic_vectors")
    assert vectors >= 1
    g.gwctl("cache", "purge", "--all")
    assert metric(g, "gw_cache_semantic_vectors") == 0
    r = post_chat(g, key, chat_body("%s: what's the capital of france" % m))
    assert cache_of(r) == "miss"
    assert calls(mock, m) == 2


def test_an_expired_entry_is_no_semantic_hit(sgw, mock):
    key, m = fresh_key(sgw), marker()
    post_chat(sgw, key, chat_body("%s: what is the capital of France?" % m),
              headers={"x-gw-cache-ttl": "1"})
    stored(sgw, m)
    assert cache_of(post_chat(sgw, key, chat_body("%s: what's the capital of france" % m))) \
        == "hit-semantic"
    time.sleep(1.2)
    r = post_chat(sgw, key, chat_body("%s: the capital of France is what?" % m))
    assert cache_of(r) == "miss"
    assert calls(mock, m) == 2


# --------------------------------------------------------------------------
# personal data


PII = "pii: { enabled: true, entities: [email, phone] }\n"


def test_stored_answers_hold_placeholders_not_personal_data(make_gateway, mock):
    g = make_gateway(extra=CACHE_ON + PII)
    key, m = fresh_key(g), marker()
    email = "jane.roe@example.org"
    q = "%s: write to %s, what is the capital of France?" % (m, email)
    first = post_chat(g, key, chat_body(q))
    assert first.status == 200 and cache_of(first) == "miss"
    assert content(first) == "echo: " + q  # restored for the client
    rows = stored(g, m)
    row = rows[0]
    assert email not in row["answer"] and email not in row["question"]
    assert email not in row["request"]
    assert "<<PII_EMAIL_" in json.loads(row["answer"])["content"]
    # the same request again: an exact hit, the value restored from the new
    # request's own placeholders
    again = post_chat(g, key, chat_body(q))
    assert cache_of(again) == "hit-exact" and content(again) == "echo: " + q
    # and a paraphrase of it: a semantic hit, restored too
    para = post_chat(g, key, chat_body("%s: Write to %s, what's the capital of france" %
                                       (m, email)))
    assert cache_of(para) == "hit-semantic", para.headers
    assert content(para) == "echo: " + q
    assert calls(mock, m) == 1
    with open(g.db_path, "rb") as f:  # nowhere in the database file either
        assert email.encode() not in f.read()


# --------------------------------------------------------------------------
# gwctl cache search, metrics, config


def test_gwctl_cache_search_shows_similarity_and_verdict(make_gateway, mock):
    g = make_gateway(extra=CACHE_ON, extra_models=MODELS)
    key, m = fresh_key(g, "searcher"), marker()
    post_chat(g, key, chat_body("%s: what is the capital of France?" % m))
    post_chat(g, key, chat_body("%s: how tall is Mount Everest?" % m))
    post_chat(g, key, chat_body("%s: what is the capital of France?" % m, model="other-model"))
    stored(g, m, 3)
    res = g.gwctl("cache", "search", "%s: what's the capital of germany" % m)
    hits = res["entries"]
    assert len(hits) == 3
    assert hits[0]["similarity"] >= hits[-1]["similarity"]
    top = hits[0]
    assert "capital of France" in top["question"]
    assert top["verdict"] == "reject" and "france" in top["reason"], top
    res = g.gwctl("cache", "search", "%s: The capital of France is what?" % m,
                  "--model", "other-model", "--limit", "5")
    assert [h["model"] for h in res["entries"]] == ["other-model"]
    assert res["entries"][0]["verdict"] == "pass" and res["entries"][0]["similarity"] == 1
    p = g.gwctl_run("cache", "search", "%s: what is the capital of France" % m,
                    "--key", "nobody-" + m)
    assert p.returncode != 0 and "no key" in (p.stdout + p.stderr)
    p = g.gwctl_run("cache", "search", "%s: what's the capital of germany" % m, json_out=False)
    assert p.returncode == 0, p.stderr
    assert "reject: name 'france'" in p.stdout and "similarity 0." in p.stdout


def test_metrics_count_semantic_hits(sgw, mock):
    key, m = fresh_key(sgw), marker()
    before = metric(sgw, 'gw_cache_lookups_total{result="hit-semantic"}')
    misses = metric(sgw, 'gw_cache_lookups_total{result="miss"}')
    post_chat(sgw, key, chat_body("%s: who painted the Mona Lisa?" % m))
    stored(sgw, m)
    post_chat(sgw, key, chat_body("%s: who painted the mona lisa" % m))
    assert metric(sgw, 'gw_cache_lookups_total{result="hit-semantic"}') == before + 1
    assert metric(sgw, 'gw_cache_lookups_total{result="miss"}') == misses + 1


@pytest.mark.parametrize("section, needle", [
    ("cache: { semantic: { embedder: provider } }", "embedder provider needs a model"),
    ("cache: { semantic: { embedder: bert } }", "expected local"),
    ("cache: { semantic: { threshold: 0 } }", "threshold: a similarity above 0"),
])
def test_semantic_config_errors(tmp_path, mock, dead_port, section, needle):
    from conftest import gateway_config, PROVIDER_KEY
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(gateway_config(8080, tmp_path / "var", mock.port, dead_port,
                                  extra=section + "\n"))
    p = subprocess.run([str(GATEWAYD), "--check-config", "-c", str(cfg)], capture_output=True,
                       text=True, env=dict(os.environ, MOCK_PROVIDER_KEY=PROVIDER_KEY), timeout=30)
    assert p.returncode == 1 and needle in p.stderr, p.stderr


def test_a_keys_own_threshold(sgw, mock):
    k = sgw.create_key("strict-" + marker())
    key, m = k["key"], marker()
    sgw.gwctl("key", "update", k["id"], "--cache-threshold", "0.99")
    q = "%s: what is the capital of France?" % m
    post_chat(sgw, key, chat_body(q))
    stored(sgw, m)
    moved = "What is the capital of France? %s" % m
    r = post_chat(sgw, key, chat_body(moved), headers={"cache-control": "no-store"})
    assert cache_of(r) == "miss"  # the key's 0.99
    r = post_chat(sgw, key, chat_body(moved), headers={"x-gw-semantic-threshold": "0.8"})
    assert cache_of(r) == "hit-semantic"  # the request's header wins
    assert calls(mock, m) == 2
