-- wrk script: POST one OpenAI chat completion per request.
--   BENCH_STREAM=1   ask for a streamed (SSE) response
--   BENCH_KEY=...    sent as "Authorization: Bearer ..." to every target, so
--                    each gets the same request bytes (only gatewayd checks it)
-- done() prints one machine-readable line that run.sh parses:
--   BENCH requests=N duration_us=N connect=N read=N write=N status=N timeout=N
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
local stream = os.getenv("BENCH_STREAM") == "1"
local key = os.getenv("BENCH_KEY")

wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
if key and key ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. key
end
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello bench"}]'
   .. (stream and ',"stream":true}' or '}')

function done(summary, latency, requests)
   bench_summary(summary)
end
