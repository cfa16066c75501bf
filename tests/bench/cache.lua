-- wrk script for the cache rows of `make bench` (docs/benchmarks.md): POST
-- chat completions to gatewayd with its response cache on.
--   BENCH_CACHE=hit       the same request every time: exact cache hits
--   BENCH_CACHE=miss      a different request every time (a counter and the
--                         thread's number in the text): misses, each sent to
--                         the mock upstream and stored
--   BENCH_OVERHEAD=1      also collect x-gw-overhead-us of every 200 answer
--                         and print its p50 / p99
--   BENCH_KEY=...         the virtual key (Authorization: Bearer)
-- Both modes build the body in request(), so the Lua cost is the same.
-- done() prints the line run.sh parses (as chat.lua does), plus with
-- BENCH_OVERHEAD:  OVERHEAD n=N p50_us=N p99_us=N max_us=N
local mode = os.getenv("BENCH_CACHE") or "hit"
local key = os.getenv("BENCH_KEY")
local want_overhead = os.getenv("BENCH_OVERHEAD") == "1"
local threads = {}
local counter = 0
local id = 0
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

function setup(thread)
   id = id + 1
   thread:set("id", id)
   table.insert(threads, thread)
end

local headers = {["Content-Type"] = "application/json"}
if key and key ~= "" then
   headers["Authorization"] = "Bearer " .. key
end

local hit_body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello cached bench"}]}'

function request()
   local body = hit_body
   if mode == "miss" then
      counter = counter + 1
      body = string.format(
         '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello bench %d-%d"}]}',
         id, counter)
   end
   return wrk.format("POST", "/v1/chat/completions", headers, body)
end

if want_overhead then
   function response(status, hdrs, body)
      bench_sample(status, hdrs)
   end
end

function done(summary, latency, requests)
   bench_summary(summary)
   if want_overhead then
      bench_overhead(threads)
   end
end
