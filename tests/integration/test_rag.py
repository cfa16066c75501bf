"""RAG context (config `rag:`, docs/rag.md): `gwctl rag add` with real text
and markdown files (chunked, embedded, stored), `rag list`, `rag search`,
`rag remove`; a model or key configured with a collection gets the best
chunks in its system message (seen in the body the mock upstream received)
with `x-gw-rag-chunks`, through both front doors; an existing system
message is kept and extended; an empty or unknown collection and the off
switch are no-ops; the per-key mapping (and `none`) wins over the model's;
collections survive a restart."""

import json
import re

import pytest

from conftest import Gateway, chat_body, marker, post_chat, post_messages, serve

HANDBOOK = """\
# Acme support handbook

Welcome to the Acme support handbook. It answers the questions customers ask most.

## Refund policy

Customers may return damaged items within 30 days for a full refund. The refund
is paid to the original payment method within five business days.

## Shipping

Orders ship from our warehouse in Leeds. Standard shipping takes three to five
days; express shipping arrives the next working day.

## Password reset

To reset a password, open Settings, choose Security and press Reset password.
A reset link is sent by e-mail and stays valid for one hour.
"""

FAQ = """\
Opening hours: the support desk is open Monday to Friday from 9am to 5pm.

Phone support: call the hotline at extension 4471 for urgent outages.
"""

MODELS = """\
  - name: rag-model
    deployments: [ { provider: mock, model: mock-upstream-model } ]
    rag: { collection: handbook }
  - name: rag-empty
    deployments: [ { provider: mock, model: mock-upstream-model } ]
    rag: { collection: nothing-here }
"""

RAG = """\
rag:
  enabled: true
  top_k: 2
  threshold: 0.25
  chunk_chars: 400
  chunk_overlap: 50
  keys: { rag-none: none, rag-faq: faq }
"""

CHUNK_LABEL = re.compile(r"^handbook:\d+(,handbook:\d+)*$")


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    d = tmp_path_factory.mktemp("rag-docs")
    (d / "handbook.md").write_text(HANDBOOK)
    (d / "faq.txt").write_text(FAQ)
    return d


@pytest.fixture(scope="module")
def rgw(mock, dead_port, tmp_path_factory):
    yield from serve(Gateway(tmp_path_factory.mktemp("gw-rag"), mock.port, dead_port,
                             name="gw-rag", extra_models=MODELS, extra=RAG))


@pytest.fixture(scope="module")
def rkey(rgw):
    return rgw.create_key("rag-user")["key"]


@pytest.fixture(scope="module")
def added(rgw, docs):
    res = rgw.gwctl("rag", "add", "--collection", "handbook", docs / "handbook.md")
    assert res["collection"] == "handbook"
    assert res["files"][0]["file"] == "handbook.md"
    assert res["files"][0]["chunks"] >= 4, res
    assert res["embedder"] == "gw-local-1"
    res = rgw.gwctl("rag", "add", "--collection", "faq", docs / "faq.txt")
    assert res["chunks"] >= 1
    return res


def upstream_body(mock, m):
    found = mock.find(m)
    assert len(found) == 1, found
    return json.loads(found[0]["body"])


def test_add_list_search(rgw, added, docs):
    lst = rgw.gwctl("rag", "list")
    names = {c["name"]: c for c in lst["collections"]}
    assert set(names) >= {"handbook", "faq"}
    assert names["handbook"]["files"] == 1 and names["handbook"]["chunks"] >= 4
    files = rgw.gwctl("rag", "list", "--collection", "handbook")["files"]
    assert [f["file"] for f in files] == ["handbook.md"]

    res = rgw.gwctl("rag", "search", "--collection", "handbook",
                    "can I get a refund for damaged items")
    top = res["hits"][0]
    assert top["file"] == "handbook.md" and top["heading"] == "Refund policy", res
    assert "full refund" in top["text"] and top["above_threshold"] is True
    assert top["chunk"] == "handbook:%d" % top["id"]
    assert res["hits"][0]["score"] >= res["hits"][-1]["score"]

    # human output
    p = rgw.gwctl_run("rag", "search", "--collection", "handbook", "how do I reset my password",
                      json_out=False)
    assert p.returncode == 0, p.stderr
    assert "Password reset" in p.stdout.splitlines()[0], p.stdout

    # adding the same file again replaces its chunks
    again = rgw.gwctl("rag", "add", "--collection", "handbook", docs / "handbook.md")
    assert again["files"][0]["replaced"] == again["files"][0]["chunks"]
    assert rgw.gwctl("rag", "list", "--collection", "handbook")["files"][0]["chunks"] == \
        again["chunks"]


def test_injection_and_header(rgw, rkey, mock, added):
    m = marker()
    r = post_chat(rgw, rkey, chat_body("How long do I have to return damaged items for a refund?",
                                       model="rag-model", user=m))
    assert r.status == 200, r
    h = r.headers["x-gw-rag-chunks"]
    assert CHUNK_LABEL.match(h), h
    body = upstream_body(mock, m)
    sys = body["messages"][0]
    assert sys["role"] == "system", body
    assert "<context>" in sys["content"] and "</context>" in sys["content"]
    assert "within 30 days for a full refund" in sys["content"]
    first = h.split(",")[0]
    assert "[%s] handbook.md > Refund policy" % first in sys["content"]
    assert body["messages"][-1]["content"].startswith("How long do I have")


def test_existing_system_message_kept(rgw, rkey, mock, added):
    m = marker()
    body = chat_body("x", model="rag-model", user=m, messages=[
        {"role": "system", "content": "You are Acme's support bot."},
        {"role": "user", "content": "how do I reset my password"}])
    r = post_chat(rgw, rkey, body)
    assert r.status == 200, r
    sent = upstream_body(mock, m)
    assert len(sent["messages"]) == 2
    sys = sent["messages"][0]["content"]
    assert sys.startswith("You are Acme's support bot.\n\n")
    assert "Reset password" in sys


def test_messages_front_door(rgw, rkey, mock, added):
    m = marker()
    r = post_messages(rgw, rkey, {"model": "rag-model", "max_tokens": 50,
                                  "metadata": {"user_id": m},
                                  "system": "Be brief.",
                                  "messages": [{"role": "user",
                                                "content": "which warehouse do orders ship from"}]})
    assert r.status == 200, r
    assert CHUNK_LABEL.match(r.headers["x-gw-rag-chunks"])
    found = [q for q in mock.requests() if "which warehouse" in q.get("body", "")]
    sent = json.loads(found[-1]["body"])
    assert "Orders ship from our warehouse in Leeds" in sent["messages"][0]["content"]
    assert sent["messages"][0]["content"].startswith("Be brief.")


def test_below_threshold_and_no_collection(rgw, rkey, mock, added):
    # nothing in the handbook is close to this question
    m = marker()
    r = post_chat(rgw, rkey, chat_body("zebra quantum violin", model="rag-model", user=m))
    assert r.status == 200 and "x-gw-rag-chunks" not in r.headers
    assert upstream_body(mock, m)["messages"][0]["role"] == "user"
    # a model without a collection
    m = marker()
    r = post_chat(rgw, rkey, chat_body("refund for damaged items", user=m))
    assert r.status == 200 and "x-gw-rag-chunks" not in r.headers
    assert len(upstream_body(mock, m)["messages"]) == 1


def test_empty_collection_is_noop(rgw, rkey, mock, added):
    m = marker()
    r = post_chat(rgw, rkey, chat_body("refund for damaged items", model="rag-empty", user=m))
    assert r.status == 200, r
    assert "x-gw-rag-chunks" not in r.headers
    assert len(upstream_body(mock, m)["messages"]) == 1


def test_per_key_collection(rgw, mock, added):
    none = rgw.create_key("rag-none")["key"]
    m = marker()
    r = post_chat(rgw, none, chat_body("refund for damaged items", model="rag-model", user=m))
    assert r.status == 200 and "x-gw-rag-chunks" not in r.headers
    faq = rgw.create_key("rag-faq")["key"]
    m = marker()
    r = post_chat(rgw, faq, chat_body("what are the support desk opening hours", user=m))
    assert r.status == 200
    assert re.match(r"^faq:\d+$", r.headers["x-gw-rag-chunks"]), r.headers
    assert "Monday to Friday" in upstream_body(mock, m)["messages"][0]["content"]


def test_remove(rgw, docs, rkey, mock, added):
    rgw.gwctl("rag", "add", "--collection", "scratch", docs / "faq.txt", docs / "handbook.md")
    files = rgw.gwctl("rag", "list", "--collection", "scratch")["files"]
    assert [f["file"] for f in files] == ["faq.txt", "handbook.md"]
    res = rgw.gwctl("rag", "remove", "--collection", "scratch", "--file", "faq.txt")
    assert res["removed_chunks"] >= 1
    assert [f["file"] for f in rgw.gwctl("rag", "list", "--collection", "scratch")["files"]] == \
        ["handbook.md"]
    res = rgw.gwctl("rag", "remove", "--collection", "scratch")
    assert res["removed_chunks"] >= 4
    p = rgw.gwctl_run("rag", "list", "--collection", "scratch")
    assert p.returncode == 1 and json.loads(p.stdout)["error"]["code"] == "not_found"
    p = rgw.gwctl_run("rag", "remove", "--collection", "scratch")
    assert p.returncode == 1
    p = rgw.gwctl_run("rag", "add", "--collection", "bad/name", docs / "faq.txt")
    assert p.returncode == 1 and "collection name" in p.stderr


def test_off_switch_and_restart(make_gateway, mock, docs):
    g = make_gateway(extra_models=MODELS, extra=RAG.replace("enabled: true", "enabled: false"))
    g.gwctl("rag", "add", "--collection", "handbook", docs / "handbook.md")
    k = g.create_key("u")["key"]
    m = marker()
    r = post_chat(g, k, chat_body("refund for damaged items", model="rag-model", user=m))
    assert r.status == 200 and "x-gw-rag-chunks" not in r.headers
    assert len(upstream_body(mock, m)["messages"]) == 1
    # switched on, after a restart: the stored collection is loaded
    g.stop()
    assert g.teardown_problems() == []
    g.write_config(extra_models=MODELS, extra=RAG)
    g.start()
    m = marker()
    r = post_chat(g, k, chat_body("refund for damaged items", model="rag-model", user=m))
    assert r.status == 200 and CHUNK_LABEL.match(r.headers["x-gw-rag-chunks"])
