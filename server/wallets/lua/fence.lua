-- Budget reconciliation (member's slot): does this member's authorisation own a budget
-- reservation?  If not, fence it: the reservation is an orphan (its client died between
-- reserving and the member's script, or before releasing it), and the fence makes sure the
-- attempt that made it can never apply afterwards, so that releasing it cannot overspend.
--
-- KEYS: 1 auth record of the reservation's txn, 2 the member's fences.
-- ARGV: 1 reservation id, 2 now.
-- Reply: {'owned', index of the budget in the record (1-based), record, progress ('' none)}
--        or {'fenced'}.

local rec = redis.call('HGET', KEYS[1], 'r')
if rec then
  for j, b in ipairs(cjson.decode(rec).bud) do
    if b.id == ARGV[1] then
      return {'owned', j, rec, redis.call('HGET', KEYS[1], 'p') or ''}
    end
  end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {'fenced'}
