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
samples = {} -- a global: done() reads each thread's with thread:get

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
   local v = hdrs["x-gw-overhead-us"] or hdrs["X-Gw-Overhead-Us"]
   if status == 200 and v then
      samples[#samples + 1] = tonumber(v)
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
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
