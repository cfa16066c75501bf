"""gwctl against a live daemon: exit codes, teams, status, the socket's
mode, and the line-delimited JSON admin protocol spoken directly."""

import json
import os
import socket
import stat

from conftest import GWCTL, SLOW


def admin(gw, *requests):
    """Speaks the admin protocol directly: one JSON line per request."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10 * SLOW)
    s.connect(str(gw.sock))
    try:
        for r in requests:
            s.sendall((r if isinstance(r, str) else json.dumps(r)).encode() + b"\n")
        buf = b""
        out = []
        while len(out) < len(requests):
            b = s.recv(65536)
            if not b:
                break
            buf += b
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                out.append(json.loads(line))
        return out
    finally:
        s.close()


def test_missing_socket_exit_3(gw, tmp_path):
    p = gw.gwctl_run("key", "list", sock=tmp_path / "no-such.sock")
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
    assert "no-such.sock" in p.stderr, p.stderr


def test_socket_mode_0600(gw):
    mode = stat.S_IMODE(os.stat(gw.sock).st_mode)
    assert mode == 0o600, oct(mode)


def test_status(gw):
    st = gw.gwctl("status")
    assert st["pid"] == gw.pid
    assert st["listen"] == "127.0.0.1:%d" % gw.port
    assert isinstance(st["version"], str) and st["version"]
    assert isinstance(st["uptime_s"], int) and st["uptime_s"] >= 0
    assert "usage_ring" in st and st["usage_ring"]["capacity"] > 0


def test_team_create_list_and_keys(gw):
    t = gw.gwctl("team", "create", "research")
    assert t["team"]["name"] == "research"
    k = gw.create_key("bob", "--team", "research")
    assert k["team"] == "research"
    teams = gw.gwctl("team", "list")["teams"]
    mine = [x for x in teams if x["name"] == "research"]
    assert len(mine) == 1 and mine[0]["keys"] == 1, teams
    shown = gw.gwctl("team", "show", "research")
    assert [x["id"] for x in shown["keys"]] == [k["id"]]
    assert gw.chat(k["key"], "team member").status == 200


def test_team_name_conflict(gw):
    gw.gwctl("team", "create", "dupteam")
    p = gw.gwctl_run("team", "create", "dupteam")
    assert p.returncode != 0


def test_key_with_unknown_team_refused(gw):
    p = gw.gwctl_run("key", "create", "--name", "orphan", "--team", "no-such-team")
    assert p.returncode != 0, p.stdout
    assert "sk-gw-" not in p.stdout


def test_revoke_unknown_key(gw):
    p = gw.gwctl_run("key", "revoke", "key_doesnotexist")
    assert p.returncode != 0


def test_unknown_command(gw):
    p = gw.gwctl_run("frobnicate")
    assert p.returncode not in (0, 3), p.returncode


def test_key_create_by_name_then_revoke_by_name(gw):
    k = gw.create_key("by-name")
    gw.gwctl("key", "revoke", "by-name")
    r = gw.chat(k["key"], "revoked by name")
    assert r.status == 401


def test_protocol_direct(gw):
    out = admin(gw,
                {"id": 1, "cmd": "key.create", "args": {"name": "proto"}},
                {"id": "two", "cmd": "key.list"},
                {"id": 3, "cmd": "no.such.command"},
                "this is not json",
                {"id": 5, "cmd": "key.show", "args": {"id": "key_nope"}})
    assert len(out) == 5, out
    assert out[0]["id"] == 1 and out[0]["ok"] is True
    secret = out[0]["result"]["key"]
    assert secret.startswith("sk-gw-")
    assert out[1]["id"] == "two" and out[1]["ok"] is True
    assert secret not in json.dumps(out[1])
    assert out[2]["id"] == 3 and out[2]["ok"] is False
    assert out[2]["error"]["code"] == "bad_request"
    assert out[3]["ok"] is False and out[3]["error"]["code"] == "bad_request"
    assert out[4]["id"] == 5 and out[4]["ok"] is False
    assert out[4]["error"]["code"] == "not_found"
    assert gw.chat(secret, "made over the raw protocol").status == 200


def test_gwctl_socket_from_env(gw):
    import subprocess
    env = dict(os.environ, GWCTL_SOCKET=str(gw.sock))
    p = subprocess.run([str(GWCTL), "--json", "status"], capture_output=True, text=True,
                       env=env, timeout=20 * SLOW, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["pid"] == gw.pid
