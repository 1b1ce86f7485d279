-- Authorise: apply one decision of the engine to one member, atomically and exactly once.
--
-- The hot path.  The store worked out every change on a snapshot of the member (buckets
-- taken and credited, ledger lines, the answer); this script checks that the snapshot is
-- still the member's state and that shared counters have room, and then only writes.
-- Checks, in order, all before the first write:
--   1. the transaction id: a retry with the same payload gets the stored answer; another
--      payload, or a reversal that came first, is refused;
--   2. the member's version is the one the decision was made on (every operation that
--      changes a member moves it), so every value computed from the snapshot holds;
--   3. each limit has room (the counters are fields of the profile);
--   4. each budget has room (single node; on Cluster the store reserved them already);
--   5. every bucket the redemption takes from still holds what the snapshot said: with
--      (2) this is redundant, and it is kept so that no bug elsewhere can overspend;
--   6. the transaction id is this member's (single node; on Cluster claimed already).
--
-- KEYS: 1 profile, 2 auth record, 3 ledger, 4 hold index shard, 5 tier history, 6 wallets;
--       single node (ARGV[9] == '1'): 7 the txn's claim, then budget and reservations per
--       budget.
-- ARGV:  1 txn id, 2 member, 3 payload hash, 4 version the decision was made on, 5 now,
--        6 record (JSON, kept for capture, reversal and refund), 7 the answer (JSON),
--        8 hold deadline (0: captured at once), 9 inline foreign keys ('1' | '0'),
--       10 profile field of today's spend, 11 amount, 12 segments after (JSON, '' same),
--       13 tier after ('' same), 14 the hold's index entry, 15 ledger lines (JSON),
--       16 wallet fields to set, 17 to delete, 18 to check, 19 limits, 20 budgets,
--       then 2 per field set (field, amount), 1 per field deleted, 2 per field checked
--       (field, amount expected), 3 per limit (profile field, delta, cap), 4 per budget
--       (kind, reservation id, delta, cap).
-- Reply: {'ok' | 'replay', the answer}.

local A = ARGV
local txn, member, phash = A[1], A[2], A[3]
local expected, now, deadline = tonumber(A[4]), tonumber(A[5]), tonumber(A[8])
local inline = A[9] == '1'
local K_PROFILE, K_AUTH, K_LEDGER, K_INDEX, K_TIERS, K_WALLETS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

-- 1. The same transaction id again.
local seen = redis.call('HMGET', K_AUTH, 's', 'o')
if seen[1] then
  local status, _, hash = parse_status(seen[1])
  if status == 'tomb' then raise('reversed_before_authorization', txn .. ' was reversed before it arrived') end
  if hash ~= phash then raise('payload_mismatch', txn .. ' was authorised with another payload') end
  return {'replay', seen[2]}
end

local nset, ndel, ncheck, nlim, nbud = tonumber(A[16]), tonumber(A[17]), tonumber(A[18]), tonumber(A[19]), tonumber(A[20])
local p = 21
local sets = {}
for i = 1, nset do
  sets[2 * i - 1], sets[2 * i] = A[p], A[p + 1]
  p = p + 2
end
local dels = {}
for i = 1, ndel do dels[i] = A[p]; p = p + 1 end
local checks, wanted_w = {}, {}
for i = 1, ncheck do
  checks[i] = tonumber(A[p + 1]); wanted_w[i] = A[p]
  p = p + 2
end
local limits = {}
local wanted = {'ver', 'txns', 'last', 'enrolled', A[10]}
for i = 1, nlim do
  limits[i] = {f = A[p], d = whole(tonumber(A[p + 1]), 'limit delta'), c = whole(tonumber(A[p + 2]), 'limit cap')}
  wanted[5 + i] = A[p]
  p = p + 3
end

-- 2. and 3. The version, and the limits.
local profile = redis.call('HMGET', K_PROFILE, unpack(wanted))
local version = num(profile[1])
if version ~= expected then
  raise('state_changed', 'member version ' .. I(version) .. ', decision made on ' .. I(expected))
end
for i, l in ipairs(limits) do
  l.used = num(profile[5 + i])
  if l.used + l.d > l.c then raise('limit_exceeded', l.f .. ': ' .. I(l.used) .. ' used of ' .. I(l.c)) end
end

-- 4. Budgets.
local budgets = {}
for i = 1, nbud do
  local kind, id, delta, cap = A[p], A[p + 1], whole(tonumber(A[p + 2]), 'budget delta'), whole(tonumber(A[p + 3]), 'budget cap')
  p = p + 4
  if inline then
    local bkey, rkey = KEYS[6 + 2 * i], KEYS[7 + 2 * i]
    local used = num(redis.call('HGET', bkey, kind))
    if used + delta > cap then
      raise('budget_exhausted', 'budget of ' .. bkey .. ': ' .. I(used) .. ' used of ' .. I(cap))
    end
    budgets[#budgets + 1] = {bkey, rkey, kind, id, delta}
  end
end

-- 5. The buckets the redemption takes from.
if ncheck > 0 then
  local have = redis.call('HMGET', K_WALLETS, unpack(wanted_w))
  for i = 1, ncheck do
    if num(have[i]) ~= checks[i] then
      raise('insufficient_balance', wanted_w[i] .. ' holds ' .. I(num(have[i])) .. ', not ' .. I(checks[i]))
    end
  end
end

-- 6. The transaction id is this member's: the first write, or a refusal.
if inline and not redis.call('SET', KEYS[7], member, 'NX') then
  if redis.call('GET', KEYS[7]) ~= member then raise('member_mismatch', txn .. ' belongs to another member') end
end

-- Writes.
if nset > 0 then redis.call('HSET', K_WALLETS, unpack(sets)) end
if ndel > 0 then redis.call('HDEL', K_WALLETS, unpack(dels)) end
if A[15] ~= '[]' then redis.call('XADD', K_LEDGER, '*', 'time', A[5], 'txn', txn, 'op', 'authorize', 'lines', A[15]) end
for _, b in ipairs(budgets) do
  redis.call('HINCRBY', b[1], b[3], I(b[5]))
  redis.call('HSET', b[2], b[4], I(b[5]) .. '|' .. A[5] .. '|' .. member)
end
local amount = tonumber(A[11])
local fields = {'ver', I(version + 1), 'txns', I(num(profile[2]) + 1)}
local n = 4
local function put(name, value) fields[n + 1], fields[n + 2], n = name, value, n + 2 end
if num(profile[3]) < now then put('last', A[5]); put('lastx', txn) end
if not profile[4] then put('enrolled', A[5]) end
if amount > 0 then put(A[10], I(num(profile[5]) + amount)) end
for _, l in ipairs(limits) do put(l.f, I(l.used + l.d)) end
if A[12] ~= '' then put('segs', A[12]) end
if A[13] ~= '' then
  put('tier', A[13])
  redis.call('RPUSH', K_TIERS, A[5] .. '|' .. A[13] .. '|' .. txn .. '|authorize')
end
redis.call('HSET', K_PROFILE, unpack(fields))
local status = 'captured'
if deadline > 0 then
  status = 'held'
  redis.call('ZADD', K_INDEX, A[8], A[14])
end
redis.call('HSET', K_AUTH, 's', status .. '|1|' .. phash, 'r', A[6], 'o', A[7])
return {'ok', A[7]}
