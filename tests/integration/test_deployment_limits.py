"""Per-deployment limits (docs/routing.md#per-deployment-limits): a
deployment at its own rpm, tpm or max_in_flight is passed over for the next
one (not a failure: its breaker stays closed), the tokens charged for tpm
(prompt + max_tokens) corrected to what the answer used, a model whose
deployments are all at a limit falling back to its fallbacks and, with
none left, 429 deployment_limit_reached with Retry-After in both front
doors; the counts survive a reload, and `gwctl status` and /metrics show
them.

Every deployment points at the mock under its own upstream model name, so
which one served a request is read from x-gw-deployment and checked against
the model the mock received."""

import json
import os
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

from conftest import (GATEWAYD, PROVIDER_KEY, assert_openai_error, gateway_config, http_request,
                      marker, post_messages, wait_for)


def group(name, deployments, fallbacks=None):
    lines = ["  - name: %s\n" % name]
    if fallbacks:
        lines.append("    fallbacks: [%s]\n" % ", ".join(fallbacks))
    lines.append("    deployments:\n")
    for d in deployments:
        lines.append("      - { %s }\n" % d)
    return "".join(lines)


def ask(g, key, model, text="hello", **kw):
    return g.chat(key, text + " " + marker(), model=model, **kw)


def served_by(resp):
    return resp.headers.get("x-gw-deployment")


def deployments_of(g, model):
    st = g.gwctl("status")
    return {d["deployment"]: d for d in st["deployments"] if d["model"] == model}


def limited_total(g, model, upstream):
    r = http_request(g.port, "GET", "/metrics")
    assert r.status == 200, r
    want = 'gw_deployment_limited_total{model="%s",provider="mock",upstream_model="%s"} ' % (
        model, upstream)
    for line in r.body.decode().splitlines():
        if line.startswith(want):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no %s in /metrics" % want)


def test_rpm_moves_traffic_to_the_next_deployment(make_gateway, mock):
    g = make_gateway(extra_models=group("rpm", [
        "provider: mock, model: rpm-a, rpm: 3", "provider: mock, model: rpm-b, priority: 1"]))
    key = g.create_key("rpm")["key"]
    seen = []
    for _ in range(6):
        m = marker()
        r = g.chat(key, "hi " + m, model="rpm")
        assert r.status == 200, r
        seen.append(served_by(r))
        assert json.loads(mock.find(m)[0]["body"])["model"] == served_by(r).split("/")[1]
    assert seen == ["mock/rpm-a"] * 3 + ["mock/rpm-b"] * 3, seen
    d = deployments_of(g, "rpm")
    a = d["mock/rpm-a"]
    assert (a["rpm_used"], a["rpm"], a["at_limit"], a["limited"]) == (3, 3, "rpm", 3), a
    assert a["state"] == "closed" and a["failures"] == 0  # a limit is not a failure
    b = d["mock/rpm-b"]
    assert (b["rpm_used"], b["rpm"], b["at_limit"]) == (3, None, None), b
    assert limited_total(g, "rpm", "rpm-a") == 3
    assert limited_total(g, "rpm", "rpm-b") == 0
    # the table gwctl prints
    out = g.gwctl_run("status", json_out=False).stdout
    row = [ln for ln in out.splitlines() if "mock/rpm-a" in ln][0]
    assert "rpm" in row.split() and "3" in row.split(), out


def test_all_limited_is_429_with_retry_after_in_both_front_doors(make_gateway):
    g = make_gateway(extra_models=group("full", [
        "provider: mock, model: full-a, rpm: 1", "provider: mock, model: full-b, rpm: 1"]))
    key = g.create_key("full")["key"]
    assert {served_by(ask(g, key, "full")) for _ in range(2)} == {"mock/full-a", "mock/full-b"}
    r = ask(g, key, "full")
    err = assert_openai_error(r, 429, code="deployment_limit_reached")
    assert err["type"] == "rate_limit_error" and "full" in err["message"], err
    assert 1 <= int(r.headers["retry-after"]) <= 60, r.headers
    assert "x-gw-deployment" not in r.headers
    body = {"model": "full", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    r = post_messages(g, key, body)
    assert r.status == 429 and 1 <= int(r.headers["retry-after"]) <= 60, r
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "rate_limit_error", r


def test_limited_model_falls_back(make_gateway):
    g = make_gateway(extra_models=group("prim", ["provider: mock, model: prim-a, rpm: 1"],
                                        fallbacks=["spare"]) +
                     group("spare", ["provider: mock, model: spare-a, rpm: 1"]))
    key = g.create_key("fb")["key"]
    assert served_by(ask(g, key, "prim")) == "mock/prim-a"
    assert served_by(ask(g, key, "prim")) == "mock/spare-a"
    assert_openai_error(ask(g, key, "prim"), 429, code="deployment_limit_reached")


def test_max_in_flight_sends_the_second_elsewhere(make_gateway):
    g = make_gateway(extra_models=group("mif", [
        "provider: mock, model: mif-a, max_in_flight: 1",
        "provider: mock, model: mif-b, priority: 1"]))
    key = g.create_key("mif")["key"]
    slow = {}
    t = threading.Thread(target=lambda: slow.update(
        r=ask(g, key, "mif", text="[[mock:delay_ms=1500]]")))
    t.start()
    wait_for(lambda: deployments_of(g, "mif")["mock/mif-a"]["in_flight"] == 1, 5,
             what="the slow request in flight")
    a = deployments_of(g, "mif")["mock/mif-a"]
    assert (a["max_in_flight"], a["at_limit"]) == (1, "max_in_flight"), a
    r = ask(g, key, "mif")
    assert r.status == 200 and served_by(r) == "mock/mif-b", r
    t.join()
    assert slow["r"].status == 200 and served_by(slow["r"]) == "mock/mif-a", slow
    assert served_by(ask(g, key, "mif")) == "mock/mif-a"  # its slot is free again
    # all at once: never two in flight on the capped one
    g2 = make_gateway(extra_models=group("mif2", [
        "provider: mock, model: cap-a, max_in_flight: 1"]))
    key2 = g2.create_key("mif2")["key"]
    barrier = threading.Barrier(4)

    def one(_):
        barrier.wait()
        return ask(g2, key2, "mif2", text="[[mock:delay_ms=700]]")
    with ThreadPoolExecutor(4) as pool:
        resps = list(pool.map(one, range(4)))
    statuses = sorted(r.status for r in resps)
    assert statuses == [200, 429, 429, 429], statuses
    r429 = [r for r in resps if r.status == 429][0]
    assert r429.headers["retry-after"] == "1"
    assert r429.json()["error"]["code"] == "deployment_limit_reached"


def test_tpm_charges_max_tokens_then_what_was_used(make_gateway):
    g = make_gateway(extra_models=group("tpm", [
        "provider: mock, model: tpm-a, tpm: 300", "provider: mock, model: tpm-b, priority: 1"]))
    key = g.create_key("tpm")["key"]
    done = {}

    def slow_one():
        done["r"] = ask(g, key, "tpm", text="[[mock:delay_ms=1200]]", max_tokens=200)
    t = threading.Thread(target=slow_one)
    t.start()
    wait_for(lambda: deployments_of(g, "tpm")["mock/tpm-a"]["in_flight"] == 1, 5,
             what="the first request in flight")
    charged = deployments_of(g, "tpm")["mock/tpm-a"]["tpm_used"]
    assert 200 < charged < 300, charged  # the prompt + max_tokens while it runs
    r = ask(g, key, "tpm", max_tokens=200)  # would go over 300: the next one
    assert r.status == 200 and served_by(r) == "mock/tpm-b", r
    t.join()
    first = done["r"]
    assert first.status == 200 and served_by(first) == "mock/tpm-a", first
    usage = first.json()["usage"]
    a = deployments_of(g, "tpm")["mock/tpm-a"]
    assert a["tpm_used"] == usage["prompt_tokens"] + usage["completion_tokens"], (a, usage)
    assert a["tpm"] == 300
    # corrected to what was used, there is room again
    assert served_by(ask(g, key, "tpm", max_tokens=200)) == "mock/tpm-a"


def test_reload_keeps_the_counts(make_gateway):
    models = group("rl", ["provider: mock, model: rl-a, rpm: 2",
                          "provider: mock, model: rl-b, priority: 1"])
    g = make_gateway(extra_models=models)
    key = g.create_key("rl")["key"]
    assert [served_by(ask(g, key, "rl")) for _ in range(2)] == ["mock/rl-a"] * 2
    g.write_config(extra_models=models + group("other", ["provider: echo, model: echo"]))
    assert g.gwctl("reload") == {"reloaded": True}
    assert served_by(ask(g, key, "rl")) == "mock/rl-b"  # still at its limit
    assert deployments_of(g, "rl")["mock/rl-a"]["rpm_used"] == 2
    # a reload that raises the limit makes room at once
    g.write_config(extra_models=models.replace("rpm: 2", "rpm: 3"))
    assert g.gwctl("reload") == {"reloaded": True}
    assert served_by(ask(g, key, "rl")) == "mock/rl-a"


def test_config_checks_the_limits(tmp_path, mock, dead_port):
    path = tmp_path / "gatewayd.yaml"
    for dep, what in (("max_in_flight: -1", "max_in_flight"), ("rpm: many", "rpm"),
                      ("tpms: 5", "unknown key in a deployment")):
        path.write_text(gateway_config(1, tmp_path / "var", mock.port, dead_port,
                                       extra_models=group("bad", ["provider: mock, " + dep])))
        res = subprocess.run([str(GATEWAYD), "--check-config", "-c", str(path)],
                             capture_output=True, text=True,
                             env=dict(os.environ, MOCK_PROVIDER_KEY=PROVIDER_KEY))
        assert res.returncode != 0
        assert what in res.stderr and "gatewayd.yaml:" in res.stderr, res.stderr
