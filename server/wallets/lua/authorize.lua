-- Authorise: apply one decision of the engine to one member, atomically and exactly once.
--
-- The hot path.  The store worked out every change on a snapshot of the member (buckets
-- taken and credited, ledger lines, the answer); this script checks that the snapshot is
-- still the member's state and that shared counters have room, and then only writes.
-- Checks, in order, all before the first write:
--   1. the transaction id: a retry with the same payload gets the stored answer; another
--      payload, or a reversal that came first, is refused;
--   2. the member's version is the one the decision was made on (every operation that
--      changes a member moves it), so every value computed from the snapshot holds: the
--      store checked each limit on the snapshot and sends the profile fields after it;
--   3. each budget has room (single node; on Cluster the store reserved them already, and
--      the script checks that reconciliation did not release this attempt's reservation);
--   4. every bucket the redemption takes from still holds what the snapshot said: with
--      (2) this is redundant, and it is kept so that no bug elsewhere can overspend;
--   5. the transaction id is this member's (single node; on Cluster claimed already).
--
-- The arguments are few and compact (each argument costs the client and the server):
-- free text (ids, JSON) travels as its own argument, and everything else -- numbers,
-- programme names, bucket and counter fields, none of which holds a space -- as one
-- space-separated list of tokens.
--
-- KEYS: 1 profile, 2 auth record, 3 ledger, 4 hold index shard, 5 tier history, 6 wallets;
--       single node (inline): 7 the txn's claim, then one key per budget; Cluster: 7 the
--       member's fences (reservations that reconciliation released).
-- ARGV: 1 txn id, 2 member, 3 payload hash, 4 record (JSON, kept for capture, reversal and
--       refund), 5 the answer (JSON), 6 ledger lines (JSON, '' none), 7 the hold's index
--       entry, 8 segments after (JSON, '' same), 9 tokens, then 2 per free-text profile
--       field (tag counts: field, value).
-- Tokens: version, now, hold deadline (0: captured at once), inline (1 | 0), tier after
--       ('-' same), reservation nonce, then a count and the items of: wallet fields to set
--       (field, amount), to delete (field), to check (field, amount expected), profile
--       fields to set (field, value), budgets (kind, delta, cap).
-- Reply: {'ok'} (the answer is the one the store sent) or {'replay', the stored answer}.

local A = ARGV
local txn, member, phash = A[1], A[2], A[3]
local K_PROFILE, K_AUTH, K_WALLETS = KEYS[1], KEYS[2], KEYS[6]

-- 1. The same transaction id again.
local seen = redis.call('HGET', K_AUTH, 's')
if seen then
  local status, _, hash = parse_status(seen)
  if status == 'tomb' then raise('reversed_before_authorization', txn .. ' was reversed before it arrived') end
  if hash ~= phash then raise('payload_mismatch', txn .. ' was authorised with another payload') end
  return {'replay', redis.call('HGET', K_AUTH, 'o')}
end

-- Split the tokens (string.find with plain matching: cheaper than a pattern).
local T, nt, pos, find, sub, spec = {}, 0, 1, string.find, string.sub, A[9]
while true do
  local stop = find(spec, ' ', pos, true)
  nt = nt + 1
  if not stop then T[nt] = sub(spec, pos); break end
  T[nt] = sub(spec, pos, stop - 1)
  pos = stop + 1
end
local expected, now_s, deadline_s = tonumber(T[1]), T[2], T[3]
local inline, tier, nonce = T[4] == '1', T[5], T[6]
local p = 7

local sets, nset = {}, tonumber(T[p]); p = p + 1
for i = 1, 2 * nset do sets[i] = T[p]; p = p + 1 end
local dels, ndel = {}, tonumber(T[p]); p = p + 1
for i = 1, ndel do dels[i] = T[p]; p = p + 1 end
local checks, wanted_w, ncheck = {}, {}, tonumber(T[p]); p = p + 1
for i = 1, ncheck do wanted_w[i] = T[p]; checks[i] = T[p + 1]; p = p + 2 end
local fields, nprof = {}, tonumber(T[p]); p = p + 1
for i = 1, 2 * nprof do fields[i] = T[p]; p = p + 1 end
local nbud = tonumber(T[p]); p = p + 1

-- 2. The version.
local version = redis.call('HGET', K_PROFILE, 'ver')
if num(version) ~= expected then
  raise('state_changed', 'member version ' .. I(num(version)) .. ', decision made on ' .. I(expected))
end

-- 3. Budgets (one hash per budget: the used count or value, and its reservations).  On
-- Cluster the store reserved them first; reconciliation may have released the reservation
-- of an attempt it took for an orphan, and then this attempt must not count on it.
local budgets = {}
if not inline and nbud > 0 and redis.call('HEXISTS', KEYS[7], txn .. '#' .. nonce) == 1 then
  raise('reservation_released', txn .. ': this attempt\'s budget reservation was released')
end
if inline then
  for i = 1, nbud do
    local kind, delta, cap = T[p], tonumber(T[p + 1]), tonumber(T[p + 2])
    p = p + 3
    local bkey = KEYS[7 + i]
    local used = num(redis.call('HGET', bkey, kind))
    if used + delta > cap then
      raise('budget_exhausted', 'budget of ' .. bkey .. ': ' .. I(used) .. ' used of ' .. I(cap))
    end
    budgets[i] = {bkey, kind, I(used + delta), txn .. '#' .. nonce, T[p - 2] .. '|' .. now_s .. '|' .. member}
  end
end

-- 4. The buckets the redemption takes from.
if ncheck > 0 then
  local have = redis.call('HMGET', K_WALLETS, unpack(wanted_w))
  for i = 1, ncheck do
    if have[i] ~= checks[i] then
      raise('insufficient_balance', wanted_w[i] .. ' holds ' .. I(num(have[i])) .. ', not ' .. checks[i])
    end
  end
end

-- 5. The transaction id is this member's: the first write, or a refusal.
if inline and not redis.call('SET', KEYS[7], member, 'NX') then
  if redis.call('GET', KEYS[7]) ~= member then raise('member_mismatch', txn .. ' belongs to another member') end
end

-- Writes.
if nset > 0 then redis.call('HSET', K_WALLETS, unpack(sets)) end
if ndel > 0 then redis.call('HDEL', K_WALLETS, unpack(dels)) end
if A[6] ~= '' then redis.call('XADD', KEYS[3], '*', 'time', now_s, 'txn', txn, 'op', 'authorize', 'lines', A[6]) end
for _, b in ipairs(budgets) do redis.call('HSET', b[1], b[2], b[3], b[4], b[5]) end
local n = #fields
if A[8] ~= '' then fields[n + 1], fields[n + 2], n = 'segs', A[8], n + 2 end
for i = 10, #A do n = n + 1; fields[n] = A[i] end
if tier ~= '-' then redis.call('RPUSH', KEYS[5], now_s .. '|' .. tier .. '|' .. txn .. '|authorize') end
redis.call('HSET', K_PROFILE, unpack(fields))
local status = 'captured'
if deadline_s ~= '0' then
  status = 'held'
  redis.call('ZADD', KEYS[4], deadline_s, A[7])
end
redis.call('HSET', K_AUTH, 's', status .. '|1|' .. phash, 'r', A[4], 'o', A[5])
return {'ok'}
