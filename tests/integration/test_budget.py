"""Budgets in USD per key and per team: each request reserves its worst case
at the model's prices and settles at its real cost; the budget holds exactly
under concurrency and across a restart; a refusal is 429 budget_exceeded
naming the budget and its reset; crossing the soft threshold is counted.

Prices in the test config: gpt-4o-mini $1 / $2 per million input / output
tokens. "hello world" costs 2 prompt + 3 answer tokens as the mock counts
them = $0.000008; with max_tokens 10 it reserves 10 prompt tokens (the
tokenizer's estimate for the mock's model: 3 per message + 1 for the role +
3 for the text + 3 priming) + 10 answer tokens = $0.000030."""

from conftest import assert_openai_error, chat_body
from test_ratelimit import parallel


def spend(g, key, n, text="hello world", **kw):
    return [g.chat(key, text, max_tokens=10, **kw).status for _ in range(n)]


def test_budget_holds_to_the_request(gw):
    k = gw.create_key("b1", "--budget", "0.0001")
    # committed after k requests: 8000k nano-USD; the next needs 30000 more
    assert spend(gw, k["key"], 11) == [200] * 9 + [429] * 2
    r = gw.chat(k["key"], "hello world", max_tokens=10)
    assert_openai_error(r, 429, code="budget_exceeded")
    msg = r.json()["error"]["message"]
    assert "key 'b1'" in msg and "$0.00" in msg and "(none)" in msg and "never" in msg, msg
    rows = gw.usage_report("key")["rows"]
    row = [x for x in rows if x["key_id"] == k["id"]][0]
    assert abs(row["cost_usd"] - 9 * 0.000008) < 1e-12, row


def test_budget_exact_under_concurrency(gw):
    # this text is estimated at 16 prompt tokens: each reserves (16 + 2 * 10)
    # = $0.000036, so three fit in $0.00011 and a fourth does not
    k = gw.create_key("b2", "--budget", "0.00011")
    rs = parallel(gw, k["key"], 5, text="hello world [[mock:delay_ms=600]]",
                  model="gpt-4o-mini", max_tokens=10)
    assert sorted(r.status for r in rs) == [200, 200, 200, 429, 429], [r.status for r in rs]


def test_team_budget_caps_its_keys(gw):
    gw.gwctl("team", "create", "thrifty", "--budget", "0.00005", "--budget-period", "monthly")
    a = gw.create_key("ta", "--team", "thrifty")["key"]
    b = gw.create_key("tb", "--team", "thrifty")["key"]
    # 50000 nano: admitted while committed + 30000 <= 50000: at 0, 8000, 16000
    statuses = spend(gw, a, 2) + spend(gw, b, 3)
    assert statuses == [200, 200, 200, 429, 429], statuses
    r = gw.chat(b, "hello world", max_tokens=10)
    msg = r.json()["error"]["message"]
    assert "team 'thrifty'" in msg and "(monthly)" in msg and "resets at 20" in msg, msg
    assert int(r.headers["retry-after"]) > 0


def test_budget_survives_restart(make_gateway):
    g = make_gateway()
    k = g.create_key("b3", "--budget", "0.0001", "--budget-period", "daily")
    assert spend(g, k["key"], 9) == [200] * 9
    g.stop()
    g.start()
    assert spend(g, k["key"], 1) == [429], "spend must be rebuilt from the usage table"
    g.gwctl("key", "update", "b3", "--budget", "1")
    assert spend(g, k["key"], 1) == [200], "a raised budget applies at once"


def test_soft_threshold_counted_once(make_gateway):
    g = make_gateway(extra="budgets: { soft_threshold_pct: 50 }\n")
    k = g.create_key("b4", "--budget", "0.0001")
    before = g.gwctl("status")["budget_soft_alerts"]
    spend(g, k["key"], 9)
    assert g.gwctl("status")["budget_soft_alerts"] == before + 1
    assert "reached 50% of its $0.00 budget" in g.stderr_text()


def test_budgets_disabled(make_gateway):
    g = make_gateway(extra="budgets: { enabled: false }\n")
    k = g.create_key("b5", "--budget", "0.00001")
    assert spend(g, k["key"], 3) == [200] * 3


def test_budget_period_shown_and_validated(gw):
    k = gw.gwctl("key", "create", "--name", "b6", "--budget", "5", "--budget-period", "weekly")
    assert k["budget_usd"] == 5 and k["budget_period"] == "weekly"
    p = gw.gwctl_run("key", "update", "b6", "--budget-period", "hourly")
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert gw.gwctl("key", "update", "b6", "--budget-period", "none")["key"]["budget_period"] is None


def test_zero_priced_model_is_not_blocked(gw):
    k = gw.create_key("b7", "--budget", "0.000001")
    assert [gw.chat(k["key"], "x", model="echo").status for _ in range(3)] == [200] * 3
