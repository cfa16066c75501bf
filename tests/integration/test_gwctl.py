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


def test_shell_reads_commands_from_stdin(gw):
    import subprocess
    p = subprocess.run([str(GWCTL), "-s", str(gw.sock)], input="help\nstatus\nkey list\n",
                       capture_output=True, text=True, timeout=20 * SLOW)
    assert p.returncode == 0, (p.returncode, p.stderr)
    out = p.stdout
    for word in ("key", "team", "usage", "status"):
        assert word in out, out
    assert str(gw.pid) in out, out


def test_usage_report_since(gw):
    k = gw.create_key("since")
    assert gw.chat(k["key"], "recent request").status == 200
    doc = gw.gwctl("usage", "report", "--by", "key", "--since", "1d")
    rows = [r for r in doc["rows"] if r.get("key_id") == k["id"]]
    assert len(rows) == 1 and rows[0]["requests"] == 1, doc


def test_usage_report_by_day(gw):
    import datetime
    k = gw.create_key("daily")
    assert gw.chat(k["key"], "today").status == 200
    doc = gw.usage_report("day")
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    days = [r["day"] for r in doc["rows"]]
    assert today in days, doc


def test_non_json_key_create_prints_secret_once(gw):
    p = gw.gwctl_run("key", "create", "--name", "table-key", json_out=False)
    assert p.returncode == 0, p.stderr
    import re
    secrets = re.findall(r"sk-gw-[A-Za-z0-9_-]{32,}", p.stdout)
    assert len(secrets) == 1, p.stdout
    assert gw.chat(secrets[0], "table key works").status == 200


def test_other_users_refused(make_gateway):
    """The socket checks its peer's credentials: even with the file mode opened
    up, a user other than the daemon's gets one forbidden line."""
    import shutil
    import subprocess
    import sys
    import tempfile
    if os.geteuid() != 0:
        import pytest
        pytest.fail("this test switches to an unprivileged uid: run the suite as root")
    d = tempfile.mkdtemp(prefix="gw-admin-")
    try:
        os.chmod(d, 0o711)
        sock = os.path.join(d, "admin.sock")
        g = make_gateway(extra="admin_socket: %s\n" % sock, start=False)
        g.sock = type(g.sock)(sock)
        g.start()
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        os.chmod(sock, 0o666)
        code = ("import socket,sys\n"
                "s=socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])\n"
                "try:\n"
                "    s.sendall(b'{\"id\":1,\"cmd\":\"key.create\",\"args\":{\"name\":\"evil\"}}\\n')\n"
                "except OSError:\n    pass\n"
                "b=b''\n"
                "while True:\n"
                "    try:\n        d=s.recv(4096)\n    except OSError:\n        break\n"
                "    if not d: break\n    b+=d\n"
                "sys.stdout.write(b.decode())\n")

        def drop():
            os.setgid(65534)
            os.setuid(65534)
        p = subprocess.run([sys.executable, "-c", code, sock], capture_output=True, text=True,
                           timeout=20 * SLOW, preexec_fn=drop)
        assert p.returncode == 0, p.stderr
        lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
        assert len(lines) == 1, p.stdout
        assert lines[0]["ok"] is False and lines[0]["error"]["code"] == "forbidden", lines
        keys = g.gwctl("key", "list")["keys"]
        assert not [k for k in keys if k["name"] == "evil"]
    finally:
        shutil.rmtree(d, ignore_errors=True)
