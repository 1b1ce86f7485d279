-- Retention (member's slot): remove an authorisation record or tombstone past its
-- retention, with its claim on a single node.  Never a live hold; never a record whose
-- last operation (authorise, capture, refund, reversal, release, tombstone) is younger
-- than the cutoff, since a retry, capture, refund or reversal may still come for it.
--
-- A record that still holds budget reservations is removed in two steps, because the
-- reservations live in another slot on a Cluster: 'mark' sets 'arch' (no capture, refund
-- or reversal may start any more) and answers 'fold' with the record, the store folds the
-- reservations into their budgets' settled totals, and 'drop' removes the record.
--
-- KEYS: 1 auth record, 2 the txn's claim (single node only).
-- ARGV: 1 cutoff (the last operation must be at or before it), 2 member, 3 inline
--       ('1' | '0'), 4 phase ('mark' | 'drop').
-- Reply: {'gone'} | {'keep', why} | {'fold', record, progress ('' none)} | {'dropped'}.

local got = redis.call('HMGET', KEYS[1], 's', 't', 'r', 'p', 'arch')
if not got[1] then return {'gone'} end
local status = parse_status(got[1])

local function drop()
  redis.call('DEL', KEYS[1])
  if ARGV[3] == '1' and redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
  return {'dropped'}
end

if ARGV[4] == 'drop' then
  if not got[5] then return {'keep', 'not marked'} end
  return drop()
end
if status == 'held' then return {'keep', 'a live hold'} end
local rec = got[3] and cjson.decode(got[3])
local last = tonumber(got[2] or '0')
if not got[2] and rec then last = rec.time end
if last > tonumber(ARGV[1]) then return {'keep', 'within retention'} end
if rec and #rec.bud > 0 then
  redis.call('HSET', KEYS[1], 'arch', '1')
  return {'fold', got[3], got[4] or ''}
end
return drop()
