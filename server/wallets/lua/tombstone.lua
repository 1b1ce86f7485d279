-- A reversal that arrives before its authorisation: leave a tombstone that declines it.
--
-- KEYS: 1 auth record of the txn, 2 the txn's claim (single node only).
-- ARGV: 1 txn id, 2 member, 3 result JSON, 4 inline foreign keys, 5 now.
-- Reply: {'ok', result} or {'exists'} when the authorisation got there first.

if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
local inline = ARGV[4] == '1'
if inline then
  local owner = redis.call('GET', KEYS[2])
  if owner and owner ~= ARGV[2] then raise('member_mismatch', ARGV[1] .. ' belongs to another member') end
end
redis.call('HSET', KEYS[1], 's', 'tomb|1|', 'o:rev', ARGV[3], 't', ARGV[5])
if inline then redis.call('SET', KEYS[2], ARGV[2]) end
return {'ok', ARGV[3]}
