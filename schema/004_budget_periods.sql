-- 004: budget periods. A budget (budget_usd) applies per period: 'daily',
-- 'weekly' (from Monday 00:00 UTC), 'monthly' (from the 1st, UTC), or NULL
-- for a lifetime budget that never resets.
ALTER TABLE keys ADD COLUMN budget_period TEXT;
ALTER TABLE teams ADD COLUMN budget_period TEXT;
