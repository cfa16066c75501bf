-- wrk script for the request-shaping stages rows of `make bench`
-- (docs/benchmarks.md, "Request-shaping stages when off"): POST one
-- non-streamed chat completion, the same bytes to every gatewayd config,
-- and collect the x-gw-overhead-us header of every 200 answer.
--   BENCH_KEY=...      the virtual key (Authorization: Bearer)
--   BENCH_PROMPT=NAME  also send "x-gw-prompt: NAME" (the config with every
--                      stage on, where the template exists)
-- The text carries an e-mail address (for PII scrubbing and restoration)
-- and a question the RAG collection has an answer to.
-- done() prints the two lines run.sh parses:
--   BENCH requests=N duration_us=N connect=N read=N write=N status=N timeout=N
--   OVERHEAD n=N p50_us=N p99_us=N max_us=N
local key = os.getenv("BENCH_KEY")
local prompt = os.getenv("BENCH_PROMPT")
local threads = {}
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

function setup(thread)
   table.insert(threads, thread)
end

wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
if key and key ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. key
end
if prompt and prompt ~= "" then
   wrk.headers["x-gw-prompt"] = prompt
end
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":'
   .. '"hello bench: can I get a refund for a damaged item? Write to jane.roe@example.org"}]}'

function response(status, hdrs, body)
   bench_sample(status, hdrs)
end

function done(summary, latency, requests)
   bench_summary(summary)
   bench_overhead(threads)
end
