"""Team model lists: `gwctl team create --models` and `team update
--models` limit the models every key of the team may use, on top of the
key's own list (a request must be allowed by both); the change applies to
the next request; `--models '*'` lifts it; /v1/models lists only what both
allow; `team show` / `team list` (text and --json) show the list; bad lists
are refused."""

import json
import re
import socket

from conftest import marker


def models_of(gw, key):
    r = gw.request("GET", "/v1/models", key=key)
    assert r.status == 200, r
    return {m["id"] for m in r.json()["data"]}


def test_team_list_limits_its_keys(gw):
    t = gw.gwctl("team", "create", "tm-a", "--models", "echo, gpt-4o-mini")["team"]
    assert t["models"] == ["echo", "gpt-4o-mini"]
    key = gw.create_key("tm-a-key", "--team", "tm-a")["key"]
    assert gw.chat(key, "hi " + marker(), model="echo").status == 200
    assert gw.chat(key, "hi " + marker()).status == 200  # gpt-4o-mini
    r = gw.chat(key, "hi " + marker(), model="slow-model")
    assert r.status == 404 and r.json()["error"]["code"] == "model_not_found", r
    assert gw.chat(key, "hi", model="mock/direct").status == 404  # PROVIDER/MODEL too
    assert models_of(gw, key) == {"echo", "gpt-4o-mini"}
    # the key's own list narrows it further: both must allow
    narrow = gw.create_key("tm-a-narrow", "--team", "tm-a", "--models", "gpt-4o-mini,slow-model")
    k2 = narrow["key"]
    assert gw.chat(k2, "hi " + marker()).status == 200
    assert gw.chat(k2, "hi " + marker(), model="echo").status == 404  # not the key's
    assert gw.chat(k2, "hi " + marker(), model="slow-model").status == 404  # not the team's
    assert models_of(gw, k2) == {"gpt-4o-mini"}
    # a key of no team is not affected
    free = gw.create_key("tm-free")["key"]
    assert gw.chat(free, "hi " + marker(), model="slow-model").status != 404


def test_team_update_applies_at_once_and_star_lifts_it(gw):
    gw.gwctl("team", "create", "tm-b")
    key = gw.create_key("tm-b-key", "--team", "tm-b")["key"]
    assert gw.chat(key, "hi " + marker(), model="echo").status == 200
    t = gw.gwctl("team", "update", "tm-b", "--models", "gpt-4o-mini")["team"]
    assert t["models"] == ["gpt-4o-mini"]
    assert gw.chat(key, "hi " + marker(), model="echo").status == 404
    assert gw.chat(key, "hi " + marker()).status == 200
    # a limit update leaves the list alone
    t = gw.gwctl("team", "update", "tm-b", "--rpm", "1000")["team"]
    assert t["models"] == ["gpt-4o-mini"] and t["rpm"] == 1000
    t = gw.gwctl("team", "update", "tm-b", "--models", "*")["team"]
    assert t["models"] is None
    assert gw.chat(key, "hi " + marker(), model="echo").status == 200


def test_team_show_and_list(gw):
    gw.gwctl("team", "create", "tm-c", "--models", "echo")
    shown = gw.gwctl("team", "show", "tm-c")
    assert shown["team"]["models"] == ["echo"]
    listed = {t["name"]: t for t in gw.gwctl("team", "list")["teams"]}
    assert listed["tm-c"]["models"] == ["echo"]
    p = gw.gwctl_run("team", "show", "tm-c", json_out=False)
    assert p.returncode == 0 and re.search(r"^models: +echo$", p.stdout, re.M), p.stdout
    p = gw.gwctl_run("team", "list", json_out=False)
    assert re.search(r"^NAME +ID +KEYS +RPM +TPM +BUDGET_USD +MODELS +CREATED", p.stdout, re.M)
    assert re.search(r"^tm-c +team_\w+ +0 +- +- +- +echo ", p.stdout, re.M), p.stdout
    gw.gwctl("team", "create", "tm-d")
    p = gw.gwctl_run("team", "show", "tm-d", json_out=False)
    assert re.search(r"^models: +\(any\)$", p.stdout, re.M), p.stdout


def test_bad_lists_are_refused(gw):
    p = gw.gwctl_run("team", "create", "tm-e", "--models", "a,,b")
    assert p.returncode != 0
    assert gw.gwctl_run("team", "show", "tm-e").returncode != 0  # nothing was created
    # the admin protocol itself: an empty list, a list of non-names
    for bad in ([], [""], [1], "echo"):
        res = admin_call(gw, "team.create", {"name": "tm-f", "models": bad})
        assert res["ok"] is False and res["error"]["code"] == "bad_request", res


def admin_call(gw, cmd, args):
    """One request on the admin socket, the line-delimited JSON protocol."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(gw.sock))
    s.sendall((json.dumps({"id": 1, "cmd": cmd, "args": args}) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return json.loads(buf)
