-- Set one reservation of a campaign budget (Redis Cluster: runs in the budget's own slot).
-- Raising a reservation is refused past the cap; lowering it (a release) always succeeds.
-- With ARGV[7] == 'lower' (reconciliation) a reservation is only ever lowered: to the
-- smaller of what it holds and ARGV[4]; a missing one stays missing.
--
-- With 'fold' (retention) the reservation becomes part of the budget's 'settled' total:
-- its record is about to go, and what it used stays used.
--
-- KEYS: 1 budget.  ARGV: 1 reservation id, 2 member, 3 kind (count | value),
--       4 new delta (0 releases), 5 cap, 6 now, 7 'set' | 'lower' | 'fold'.
-- Reply: the reservation's delta before.

local delta = whole(tonumber(ARGV[4]), 'delta')
local held = redis.call('HGET', KEYS[1], ARGV[1])
local before = 0
if held then before = tonumber(string.match(held, '^(%d+)|')) end
if ARGV[7] == 'fold' then
  if held then
    redis.call('HINCRBY', KEYS[1], 'settled', I(before))
    redis.call('HDEL', KEYS[1], ARGV[1])
  end
  return I(before)
end
if ARGV[7] == 'lower' then
  if not held or before <= delta then return I(before) end
end
local b = budget_check(KEYS[1], ARGV[1], ARGV[3], delta, whole(tonumber(ARGV[5]), 'cap'))
budget_write(b, ARGV[2], tonumber(ARGV[6]))
return I(before)
