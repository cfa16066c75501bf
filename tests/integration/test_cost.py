"""Cost at the model's pricing: plain prompt tokens at the input price,
tokens the provider read from its prompt cache at the cached-input price
(never twice), answer tokens at the output price; streamed and not."""

from conftest import words

PRICED = """  - name: priced
    deployments: [ { provider: mock, model: priced-upstream } ]
    pricing: { input_per_mtok: 1.0, output_per_mtok: 2.0, cached_input_per_mtok: 0.25 }
"""


def test_cached_tokens_billed_at_their_price(make_gateway):
    g = make_gateway(extra_models=PRICED)
    key = g.create_key("cost")["key"]
    text = "a b c d [[mock:cached=3]]"   # 5 prompt words, 3 of them cached
    for stream in (False, True):
        r = g.chat(key, text, model="priced", stream=stream)
        assert r.status == 200, r
        row = g.usage_row(r.headers["x-request-id"])
        assert row["prompt_tokens"] == 5 and row["cached_tokens"] == 3, row
        answer = words("echo: a b c d")
        assert row["completion_tokens"] == answer
        expected = (2 * 1.0 + 3 * 0.25 + answer * 2.0) / 1e6
        assert abs(row["cost_usd"] - expected) < 1e-12, (row, expected)


def test_cached_price_defaults_to_input_price(make_gateway):
    g = make_gateway(extra_models=PRICED.replace(", cached_input_per_mtok: 0.25", ""))
    key = g.create_key("cost2")["key"]
    r = g.chat(key, "a b c d [[mock:cached=3]]", model="priced")
    row = g.usage_row(r.headers["x-request-id"])
    assert abs(row["cost_usd"] - (5 * 1.0 + 5 * 2.0) / 1e6) < 1e-12, row
