-- The owner of a transaction id (Redis Cluster: runs in the claim's own slot, before the
-- member's script).  ARGV[2] == 'claim' records the owner when there is none yet; 'drop'
-- (retention) removes the claim if it is this member's.
--
-- KEYS: 1 claim.  ARGV: 1 member, 2 'claim' | 'check' | 'drop'.

local owner = redis.call('GET', KEYS[1])
if ARGV[2] == 'drop' then
  if owner == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 'ok'
end
if owner and owner ~= ARGV[1] then raise('member_mismatch', 'the transaction belongs to another member') end
if not owner and ARGV[2] == 'claim' then redis.call('SET', KEYS[1], ARGV[1]) end
return 'ok'
