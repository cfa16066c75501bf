// What the SDK scripts share: the gateway to talk to (GW_BASE_URL, GW_KEY,
// GW_MODEL), named checks that record a result instead of stopping, and the
// report: one JSON object {"ok": bool, "checks": [{name, ok, detail}]} on
// stdout, exit status 1 if any check failed.

export function env(script) {
  const base = process.env.GW_BASE_URL;
  const key = process.env.GW_KEY;
  if (!base || !key) {
    console.error(`${script}: set GW_BASE_URL and GW_KEY`);
    process.exit(2);
  }
  return { base, key, model: process.env.GW_MODEL || 'gpt-4o-mini' };
}

const checks = [];

export function words(s) {
  return s.split(/\s+/).filter((w) => w.length > 0).length;
}

export async function check(name, fn) {
  try {
    const detail = await fn();
    checks.push({ name, ok: true, detail: detail ?? null });
  } catch (e) {
    checks.push({ name, ok: false, detail: String(e && e.stack ? e.stack : e) });
  }
}

export function expect(cond, what) {
  if (!cond) throw new Error('expectation failed: ' + what);
}

export function report() {
  const ok = checks.every((c) => c.ok);
  console.log(JSON.stringify({ ok, checks }, null, 2));
  process.exit(ok ? 0 : 1);
}
