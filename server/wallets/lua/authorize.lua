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
-- The arguments are laid out so that the script builds no tables of its own: every list
-- a command takes goes to it straight from ARGV (unpack of a range), and nothing is
-- decoded (no JSON, no splitting).
--
-- KEYS: 1 profile, 2 auth record, 3 ledger, 4 hold index shard, 5 tier history, 6 wallets,
--       7 spend days; single node (inline): 8 the txn's claim, then one key per budget;
--       Cluster: 8 the member's fences (reservations that reconciliation released).
-- ARGV:  1 txn id, 2 member, 3 payload hash, 4 record (JSON, kept for capture, reversal
--        and refund), 5 the answer (JSON), 6 ledger lines (JSON, '' none), 7 the hold's
--        index entry, 8 version the decision was made on, 9 now, 10 hold deadline (0:
--        captured at once), 11 inline ('1' | '0'), 12 tier after ('' same), 13 reservation
--        nonce, 14 wallet fields to set, 15 to delete, 16 to check, 17 profile fields to
--        set, 18 budgets, 19 the spend day to set ('' none), 20 its amount; then the
--        wallet fields to set (field, amount), to delete, the
--        fields to check, the amounts they must hold, the profile fields (field, value),
--        and per budget (kind, delta, cap).
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

local expected, now_s, deadline_s = tonumber(A[8]), A[9], A[10]
local inline, tier, nonce = A[11] == '1', A[12], A[13]
local nset, ndel, ncheck, nprof, nbud = tonumber(A[14]), tonumber(A[15]), tonumber(A[16]), tonumber(A[17]), tonumber(A[18])
local spend_day = A[19]
local s0 = 21                 -- wallet fields to set
local d0 = s0 + 2 * nset      -- to delete
local c0 = d0 + ndel          -- to check
local v0 = c0 + ncheck        -- the amounts they must hold
local p0 = v0 + ncheck        -- profile fields
local b0 = p0 + 2 * nprof     -- budgets

-- 2. The version.
local version = redis.call('HGET', K_PROFILE, 'ver')
if num(version) ~= expected then
  raise('state_changed', 'member version ' .. I(num(version)) .. ', decision made on ' .. I(expected))
end

-- 3. Budgets (one hash per budget: the used count or value, and its reservations).  On
-- Cluster the store reserved them first; reconciliation may have released the reservation
-- of an attempt it took for an orphan, and then this attempt must not count on it.
local budgets = {}
if not inline and nbud > 0 and redis.call('HEXISTS', KEYS[8], txn .. '#' .. nonce) == 1 then
  raise('reservation_released', txn .. ': this attempt\'s budget reservation was released')
end
if inline then
  for i = 1, nbud do
    local q = b0 + 3 * (i - 1)
    local kind, delta, cap = A[q], tonumber(A[q + 1]), tonumber(A[q + 2])
    local bkey = KEYS[8 + i]
    local used = num(redis.call('HGET', bkey, kind))
    if used + delta > cap then
      raise('budget_exhausted', 'budget of ' .. bkey .. ': ' .. I(used) .. ' used of ' .. I(cap))
    end
    budgets[i] = {bkey, kind, I(used + delta), txn .. '#' .. nonce, A[q + 1] .. '|' .. now_s .. '|' .. member}
  end
end

-- 4. The buckets the redemption takes from.
if ncheck > 0 then
  local have = redis.call('HMGET', K_WALLETS, unpack(A, c0, v0 - 1))
  for i = 1, ncheck do
    if have[i] ~= A[v0 + i - 1] then
      raise('insufficient_balance', A[c0 + i - 1] .. ' holds ' .. I(num(have[i])) .. ', not ' .. A[v0 + i - 1])
    end
  end
end

-- 5. The transaction id is this member's: the first write, or a refusal.
if inline and not redis.call('SET', KEYS[8], member, 'NX') then
  if redis.call('GET', KEYS[8]) ~= member then raise('member_mismatch', txn .. ' belongs to another member') end
end

-- Writes.
if nset > 0 then redis.call('HSET', K_WALLETS, unpack(A, s0, d0 - 1)) end
if ndel > 0 then redis.call('HDEL', K_WALLETS, unpack(A, d0, c0 - 1)) end
if A[6] ~= '' then redis.call('XADD', KEYS[3], '*', 'time', now_s, 'txn', txn, 'op', 'authorize', 'lines', A[6]) end
for _, b in ipairs(budgets) do redis.call('HSET', b[1], b[2], b[3], b[4], b[5]) end
if tier ~= '' then redis.call('RPUSH', KEYS[5], now_s .. '|' .. tier .. '|' .. txn .. '|authorize') end
redis.call('HSET', K_PROFILE, unpack(A, p0, b0 - 1))
if spend_day ~= '' then redis.call('HSET', KEYS[7], spend_day, A[20]) end
local status = 'captured'
if deadline_s ~= '0' then
  status = 'held'
  redis.call('ZADD', KEYS[4], deadline_s, A[7])
end
redis.call('HSET', K_AUTH, 's', status .. '|1|' .. phash, 'r', A[4], 'o', A[5])
return {'ok'}
