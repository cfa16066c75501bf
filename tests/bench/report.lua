-- What the wrk scripts of `make bench` share (each loads it with dofile from
-- its own folder): the BENCH line run.sh parses, and the gateway's own time
-- (x-gw-overhead-us) of the 200 answers, collected per thread in the global
-- `samples` and printed as one OVERHEAD line over all threads.
samples = {} -- a global: bench_overhead reads each thread's with thread:get

-- response(): keeps the overhead of a 200 answer.
function bench_sample(status, hdrs)
   local v = hdrs["x-gw-overhead-us"] or hdrs["X-Gw-Overhead-Us"]
   if status == 200 and v then
      samples[#samples + 1] = tonumber(v)
   end
end

-- done(): BENCH requests=N duration_us=N connect=N read=N write=N status=N timeout=N
function bench_summary(summary)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
end

-- done(): OVERHEAD n=N p50_us=N p99_us=N max_us=N over the threads' samples.
function bench_overhead(threads)
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
