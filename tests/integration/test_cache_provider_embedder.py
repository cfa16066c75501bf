"""The semantic cache with `embedder: provider` (docs/semantic.md): the
question's vector comes from an embeddings model of the config, asked
through the gateway's own routing as a sub-request (endpoint
internal:cache-embed, billed to the caller's key). The mock's `bow-` models
answer bag-of-words vectors (tests/mock/README.md), so that paraphrases
are similar. Checked here: the entry is stored with its provider vector
(embedder "provider:MODEL", the model's dimension); a paraphrase is a
semantic hit, and verification still applies; the embeddings call is made
once per request that needs it (never on an exact hit, once for a flight
of identical requests); its usage row; an embeddings model that is down
is a semantic miss, never an error; a local embedder's entries are never
compared with provider vectors; provider vectors are reloaded after a
restart; config errors."""

import json
import os
import subprocess
import threading

import pytest

from conftest import (GATEWAYD, SLOW, chat_body, marker, post_chat, wait_for)

EMBED_MODELS = """\
  - name: embedder
    deployments: [ { provider: mock, model: bow-embed } ]
  - name: embedder-down
    deployments: [ { provider: dead, model: bow-embed } ]
"""

PROVIDER = "cache: { enabled: true, semantic: { embedder: provider, model: embedder } }\n"
PROVIDER_DOWN = ("cache: { enabled: true, semantic: { embedder: provider, "
                 "model: embedder-down } }\n")
LOCAL = "cache: { enabled: true }\n"
BOW_DIM = 64


def cache_of(r):
    return r.headers.get("x-gw-cache")


def content(r):
    return r.json()["choices"][0]["message"]["content"]


def mock_calls(mock, m, path):
    return [q for q in mock.find(m) if q["path"] == path]


def embed_calls(mock, m):
    return mock_calls(mock, m, "/v1/embeddings")


def chat_calls(mock, m):
    return mock_calls(mock, m, "/v1/chat/completions")


def metric(gw, name):
    for line in gw.request("GET", "/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError("no metric %s" % name)


def stored(gw, m):
    return wait_for(lambda: gw.db_query("SELECT * FROM cache_entries WHERE question LIKE ?",
                                        ("%" + m + "%",)) or None,
                    3 * SLOW, what="the cache row of " + m)


def fresh_key(gw):
    return gw.create_key("pe-" + marker())["key"]


@pytest.fixture
def pgw(make_gateway):
    return make_gateway(extra_models=EMBED_MODELS, extra=PROVIDER)


def test_stored_with_the_provider_vector_and_a_paraphrase_hits(pgw, mock):
    key, m = fresh_key(pgw), marker()
    q = "%s: what is the capital of France?" % m
    first = post_chat(pgw, key, chat_body(q))
    assert first.status == 200 and cache_of(first) == "miss", first
    assert content(first) == "echo: " + q
    row = stored(pgw, m)[0]
    assert row["embedder"] == "provider:embedder"
    assert len(row["embedding"]) == BOW_DIM * 4
    assert row["sem_partition"] is not None
    # the embeddings model got exactly the question's text
    calls = embed_calls(mock, m)
    assert len(calls) == 1
    sent = json.loads(calls[0]["body"])
    assert sent == {"model": "bow-embed", "input": q}, sent

    for variant in ("%s: The capital of France is what?" % m,
                    "%s: what is the capital of France, please?" % m):
        r = post_chat(pgw, key, chat_body(variant))
        assert r.status == 200 and cache_of(r) == "hit-semantic", (variant, r.headers)
        assert 0.9 <= float(r.headers["x-gw-cache-similarity"]) <= 1.0
        assert content(r) == "echo: " + q
    # one embeddings call per request that needed one, one chat call in all
    assert len(embed_calls(mock, m)) == 3
    assert len(chat_calls(mock, m)) == 1


def test_an_exact_hit_asks_for_no_embedding(pgw, mock):
    key, m = fresh_key(pgw), marker()
    q = "%s: how tall is Mount Everest?" % m
    assert cache_of(post_chat(pgw, key, chat_body(q))) == "miss"
    stored(pgw, m)
    r = post_chat(pgw, key, chat_body(q))
    assert cache_of(r) == "hit-exact", r.headers
    assert len(embed_calls(mock, m)) == 1
    assert len(chat_calls(mock, m)) == 1


def test_verification_still_applies(pgw, mock):
    key, m = fresh_key(pgw), marker()
    assert cache_of(post_chat(pgw, key, chat_body("%s: what is the capital of France?" % m))) \
        == "miss"
    stored(pgw, m)
    before = metric(pgw, "gw_cache_semantic_rejected_total")
    # close enough for a low bar, but another country: verification says no
    r = post_chat(pgw, key, chat_body("%s: what is the capital of Germany?" % m),
                  headers={"x-gw-semantic-threshold": "0.5"})
    assert r.status == 200 and cache_of(r) == "miss", r.headers
    assert content(r) == "echo: %s: what is the capital of Germany?" % m
    assert metric(pgw, "gw_cache_semantic_rejected_total") == before + 1
    assert len(chat_calls(mock, m)) == 2


def test_the_embedding_is_billed_as_its_own_usage_row(pgw, mock):
    key, m = fresh_key(pgw), marker()
    r = post_chat(pgw, key, chat_body("%s: what is the speed of light?" % m))
    assert r.status == 200
    parent = pgw.usage_row(r.headers["x-request-id"])
    rows = wait_for(lambda: pgw.db_query(
        "SELECT * FROM usage WHERE endpoint = 'internal:cache-embed' AND key_id = ?",
        (parent["key_id"],)) or None, 3 * SLOW, what="the embedding's usage row")
    assert len(rows) == 1, rows
    child = rows[0]
    assert child["request_id"] != parent["request_id"]
    assert child["model"] == "embedder" and child["upstream_model"] == "bow-embed"
    assert child["provider"] == "mock" and child["status"] == 200
    assert child["prompt_tokens"] == 7  # the mock counts the question's words


def test_a_flight_of_identical_requests_asks_once(pgw, mock):
    key, m = fresh_key(pgw), marker()
    # the delay applies to the embeddings call and the chat call alike
    body = chat_body("%s: what is the tallest tree? [[mock:delay_ms=400]]" % m)
    out = [None] * 3

    def one(i):
        out[i] = post_chat(pgw, key, body)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(r.status == 200 for r in out), out
    assert sorted(cache_of(r) for r in out).count("miss") == 1, [r.headers for r in out]
    assert len(chat_calls(mock, m)) == 1
    assert len(embed_calls(mock, m)) == 1
    assert len({content(r) for r in out}) == 1


def test_the_embeddings_model_down_is_a_semantic_miss(make_gateway, mock):
    g = make_gateway(extra_models=EMBED_MODELS, extra=PROVIDER_DOWN)
    key, m = fresh_key(g), marker()
    before = metric(g, "gw_cache_embed_errors_total")
    q = "%s: what is the capital of France?" % m
    r = post_chat(g, key, chat_body(q))
    assert r.status == 200 and cache_of(r) == "miss", r
    assert content(r) == "echo: " + q
    row = stored(g, m)[0]  # still stored, without a vector
    assert row["embedding"] is None and row["embedder"] is None
    r = post_chat(g, key, chat_body("%s: The capital of France is what?" % m))
    assert r.status == 200 and cache_of(r) == "miss"
    assert metric(g, "gw_cache_embed_errors_total") == before + 2
    assert "no provider embedding" in g.stderr_text()
    # the exact tier is unaffected
    assert cache_of(post_chat(g, key, chat_body(q))) == "hit-exact"


def test_local_entries_are_not_matched_by_a_provider_embedder(make_gateway, mock):
    g = make_gateway(extra_models=EMBED_MODELS, extra=LOCAL)
    key, m = fresh_key(g), marker()
    q = "%s: what is the capital of France?" % m
    assert cache_of(post_chat(g, key, chat_body(q))) == "miss"
    assert stored(g, m)[0]["embedder"] == "gw-local-1"
    assert g.stop() == 0
    g.write_config(extra_models=EMBED_MODELS, extra=PROVIDER)
    g.start()
    # the local gateway would match this; the provider one has no vector of its kind
    r = post_chat(g, key, chat_body("%s: The capital of France is what?" % m))
    assert r.status == 200 and cache_of(r) == "miss", r.headers
    assert len(embed_calls(mock, m)) == 1
    assert len(chat_calls(mock, m)) == 2
    # the entry the provider gateway stored is matched from here on
    wait_for(lambda: g.db_query("SELECT 1 FROM cache_entries WHERE question LIKE ? AND "
                                "embedder = 'provider:embedder'", ("%" + m + "%",)) or None,
             3 * SLOW, what="the provider gateway's row")
    r = post_chat(g, key, chat_body("%s: what is the capital of France, please?" % m))
    assert cache_of(r) == "hit-semantic", r.headers
    assert content(r) == "echo: %s: The capital of France is what?" % m


def test_provider_vectors_are_reloaded_after_a_restart(make_gateway, mock):
    g = make_gateway(extra_models=EMBED_MODELS, extra=PROVIDER)
    key, m = fresh_key(g), marker()
    q = "%s: what is the capital of France?" % m
    assert cache_of(post_chat(g, key, chat_body(q))) == "miss"
    stored(g, m)
    assert g.stop() == 0
    g.start()
    assert metric(g, "gw_cache_semantic_vectors") >= 1
    assert "semantic vectors loaded" in g.stderr_text()
    r = post_chat(g, key, chat_body("%s: The capital of France is what?" % m))
    assert cache_of(r) == "hit-semantic", r.headers
    assert content(r) == "echo: " + q
    assert len(chat_calls(mock, m)) == 1


@pytest.mark.parametrize("section, needle", [
    ("cache: { semantic: { embedder: provider } }", "embedder provider needs a model"),
    ("cache: { semantic: { model: gpt-4o-mini } }", "model applies to embedder provider only"),
    ("cache: { semantic: { embedder: bert } }", "expected local or provider"),
    ("cache: { semantic: { modle: x } }", "unknown key in cache.semantic"),
])
def test_config_errors(tmp_path, mock, dead_port, section, needle):
    from conftest import gateway_config, PROVIDER_KEY
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(gateway_config(8080, tmp_path / "var", mock.port, dead_port,
                                  extra=section + "\n"))
    p = subprocess.run([str(GATEWAYD), "--check-config", "-c", str(cfg)], capture_output=True,
                       text=True, env=dict(os.environ, MOCK_PROVIDER_KEY=PROVIDER_KEY), timeout=30)
    assert p.returncode == 1 and needle in p.stderr, p.stderr


def test_the_model_is_checked_when_the_config_is_installed(tmp_path):
    # after every section has been read: at start-up (and reload)
    p = tmp_path / "c.yaml"
    p.write_text("listen: 127.0.0.1:0\ndata_dir: %s\ncache: { enabled: true, semantic: "
                 "{ embedder: provider, model: nope } }\n" % (tmp_path / "var"))
    r = subprocess.run([str(GATEWAYD), "-c", str(p)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    assert "cache.semantic.model: 'nope' is not a configured model" in r.stderr, r.stderr
