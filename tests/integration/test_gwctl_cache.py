"""gwctl's cache commands (docs/caching.md, "Operating the cache with
gwctl"; docs/gwctl.md): cache stats counts lookups, hits and stores; cache
list shows entries newest first, filtered by --model and --key (id or
name); cache show ID gives the request, the response, hits, age and size;
cache purge deletes by --model, --key, --older-than or --all, refuses to
run without one, and what it deletes is no longer served."""

import time

import pytest

from conftest import Gateway, marker, serve, wait_for

MODELS = """\
  - name: other-model
    deployments: [ { provider: mock, model: mock-upstream-model } ]
"""


@pytest.fixture(scope="module")
def cgw(mock, dead_port, tmp_path_factory):
    yield from serve(Gateway(tmp_path_factory.mktemp("gwctl-cache"), mock.port, dead_port,
                             extra_models=MODELS, extra="cache: { enabled: true }\n",
                             name="gwctl-cache"))


@pytest.fixture(scope="module")
def keys(cgw):
    return {n: cgw.create_key(n) for n in ("cache-carol", "cache-dave")}


def fill(gw, key, text, model="gpt-4o-mini"):
    r = gw.chat(key, text, model=model)
    assert r.status == 200, r
    return r


def entries(gw, *args):
    return gw.gwctl("cache", "list", *args)["entries"]


def stored(gw, text, *args):
    """Waits for the entry whose question is text (the store is asynchronous)."""
    def find():
        for e in entries(gw, *args):
            if e["question"] == text:
                return e
        return None
    return wait_for(find, 5, what="cache entry for " + text)


def test_stats_list_show(cgw, keys):
    k = keys["cache-carol"]
    s0 = cgw.gwctl("cache", "stats")
    for f in ("lookups", "hits_exact", "misses", "stores", "hot_entries", "db_entries",
              "tokens_saved", "saved_usd", "hit_rate"):
        assert f in s0, s0
    text = "list me " + marker()
    fill(cgw, k["key"], text)
    e = stored(cgw, text)
    assert e["model"] == "gpt-4o-mini" and e["key_id"] == k["id"], e
    r = cgw.chat(k["key"], text)
    assert r.headers["x-gw-cache"] == "hit-exact"
    s = cgw.gwctl("cache", "stats")
    assert s["lookups"] - s0["lookups"] >= 2
    assert s["hits_exact"] - s0["hits_exact"] >= 1
    assert s["stores"] - s0["stores"] >= 1

    def shown():
        d = cgw.gwctl("cache", "show", e["id"])
        return d if d["hits"] >= 1 else None
    d = wait_for(shown, 5, what="the hit counted")
    assert d["id"] == e["id"] and d["request"]["messages"][0]["content"] == text, d
    assert d["answer"]["content"] == "echo: " + text, d
    assert d["size"] == d["bytes"] > 0 and 0 <= d["age_seconds"] < 60, d
    # the human form says the same
    p = cgw.gwctl_run("cache", "show", e["id"], json_out=False)
    assert p.returncode == 0, p.stderr
    for word in ("echo: " + text, "hits", "age", "size (bytes)", "gpt-4o-mini"):
        assert word in p.stdout, p.stdout
    p = cgw.gwctl_run("cache", "list", json_out=False)
    assert p.returncode == 0 and "QUESTION" in p.stdout and text in p.stdout, p.stdout
    p = cgw.gwctl_run("cache", "stats", json_out=False)
    assert p.returncode == 0 and "hit rate:" in p.stdout, p.stdout


def test_list_filters(cgw, keys):
    c, d = keys["cache-carol"], keys["cache-dave"]
    t1, t2 = "filter a " + marker(), "filter b " + marker()
    fill(cgw, c["key"], t1, model="other-model")
    fill(cgw, d["key"], t2)
    stored(cgw, t1)
    stored(cgw, t2)
    om = entries(cgw, "--model", "other-model")
    assert om and all(e["model"] == "other-model" for e in om)
    assert t1 in [e["question"] for e in om] and t2 not in [e["question"] for e in om]
    for who in (d["id"], "cache-dave"):
        dk = entries(cgw, "--key", who)
        assert dk and all(e["key_id"] == d["id"] for e in dk), dk
        assert t2 in [e["question"] for e in dk]
    assert len(entries(cgw, "--limit", "1")) == 1
    p = cgw.gwctl_run("cache", "list", "--key", "nobody")
    assert p.returncode != 0 and "nobody" in p.stdout + p.stderr


def test_show_unknown(cgw):
    p = cgw.gwctl_run("cache", "show", "999999")
    assert p.returncode != 0
    assert "not_found" in p.stdout + p.stderr


def test_purge_needs_a_filter(cgw):
    p = cgw.gwctl_run("cache", "purge")
    assert p.returncode != 0 and "--all" in p.stdout + p.stderr
    p = cgw.gwctl_run("cache", "purge", "--all", "--model", "x")
    assert p.returncode != 0


def test_purge_by_model_key_age_all(cgw, keys):
    c, d = keys["cache-carol"], keys["cache-dave"]
    t1, t2, t3 = ("purge %d %s" % (i, marker()) for i in range(3))
    fill(cgw, c["key"], t1, model="other-model")
    fill(cgw, c["key"], t2)
    fill(cgw, d["key"], t3)
    for t in (t1, t2, t3):
        stored(cgw, t)
    # --model: only that model's entries, and the next request misses
    n = cgw.gwctl("cache", "purge", "--model", "other-model")["deleted"]
    assert n >= 1
    assert entries(cgw, "--model", "other-model") == []
    assert cgw.chat(c["key"], t1, model="other-model").headers["x-gw-cache"] == "miss"
    assert cgw.chat(c["key"], t2).headers["x-gw-cache"] == "hit-exact"
    # --key by name
    assert cgw.gwctl("cache", "purge", "--key", "cache-dave")["deleted"] >= 1
    assert entries(cgw, "--key", d["id"]) == []
    assert cgw.chat(d["key"], t3).headers["x-gw-cache"] == "miss"
    # --older-than: nothing is an hour old; everything is older than a second
    assert cgw.gwctl("cache", "purge", "--older-than", "1h")["deleted"] == 0
    time.sleep(1.2)
    stored(cgw, t3)
    p = cgw.gwctl_run("cache", "purge", "--older-than", "1s", json_out=False)
    assert p.returncode == 0 and p.stdout.startswith("deleted "), p.stdout
    assert entries(cgw) == [] or all(
        e["created_at"] > time.time() * 1000 - 1500 for e in entries(cgw))
    # --all
    fill(cgw, c["key"], "all " + marker())
    wait_for(lambda: entries(cgw) or None, 5, what="an entry")
    assert cgw.gwctl("cache", "purge", "--all")["deleted"] >= 1
    assert entries(cgw) == []
    assert cgw.gwctl("cache", "stats")["db_entries"] == 0
