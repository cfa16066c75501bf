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
samples = {} -- a global: done() reads each thread's with thread:get

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
      local v = hdrs["x-gw-overhead-us"] or hdrs["X-Gw-Overhead-Us"]
      if status == 200 and v then
         samples[#samples + 1] = tonumber(v)
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
   if want_overhead then
      local all = {}
      for _, t in ipairs(threads) do
         local s = t:get("samples")
         if s then
            for _, v in ipairs(s) do all[#all + 1] = v end
         end
      end
      table.sort(all)
      local n = #all
      local function pct(p)
         if n == 0 then return 0 end
         local i = math.ceil(n * p)
         if i < 1 then i = 1 end
         return all[i]
      end
      io.write(string.format("OVERHEAD n=%d p50_us=%d p99_us=%d max_us=%d\n", n, pct(0.50),
                             pct(0.99), n > 0 and all[n] or 0))
   end
end
