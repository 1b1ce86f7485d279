-- Set one reservation of a campaign budget (Redis Cluster: runs in the budget's own slot).
-- Raising a reservation is refused past the cap; lowering it (a release) always succeeds.
--
-- KEYS: 1 budget.  ARGV: 1 reservation id, 2 member, 3 kind (count | value),
--       4 new delta (0 releases), 5 cap, 6 now.

local b = budget_check(KEYS[1], ARGV[1], ARGV[3], whole(tonumber(ARGV[4]), 'delta'),
  whole(tonumber(ARGV[5]), 'cap'))
budget_write(b, ARGV[2], tonumber(ARGV[6]))
return 'ok'
