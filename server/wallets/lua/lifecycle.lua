-- Capture, reverse, release and refund: apply what the store computed from the stored record.
--
-- The store reads the authorisation (status, sequence, record, progress), works out what
-- to take back or restore (proportions need exact integer arithmetic, which Lua's doubles
-- do not give above 2^53), and sends it here with the sequence it read: if the record
-- moved meanwhile the script refuses ('record_changed') and the store reads again.
--
-- KEYS: 1 profile, 2 auth record, 3 ledger, 4 hold index shard, 5 tier history, 6 wallets,
--       7 spend days, and on a single node (ARGV[9] == '1') one key per budget.
-- ARGV: 1 txn id, 2 member, 3 sequence read, 4 now, 5 plan (JSON), 6 new progress (JSON),
--       7 result without balances (JSON object), 8 field the result is kept under,
--       9 inline foreign keys.
-- Reply: {'ok' | 'replay', result JSON}.

local txn, member = ARGV[1], ARGV[2]
local expected, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local inline = ARGV[9] == '1'
local K_PROFILE, K_AUTH, K_LEDGER, K_INDEX, K_TIERS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

local got = redis.call('HMGET', K_AUTH, 's', ARGV[8], 'arch')
local line, done = got[1], got[2]
if not line then raise('unknown_transaction', txn .. ' is not known for this member') end
if done then return {'replay', done} end
if got[3] then raise('invalid_status', txn .. ' is past its retention and being removed') end
local status, seq, hash = parse_status(line)
if seq ~= expected then raise('record_changed', txn .. ' moved on while this operation was prepared') end

local plan = cjson.decode(ARGV[5])
local allowed = false
for _, s in ipairs(plan.from) do if s == status then allowed = true end end
if not allowed then raise('invalid_status', txn .. ' is ' .. status) end
local B0 = 7
load_wallets(KEYS[6])

-- Wallets, in memory.
local shortfall = {}
for _, c in ipairs(plan.claws) do
  local w = touch(plan.wallets[c.w])
  local below = claw(w, whole(c.v, 'clawback'), now, c.f)
  if below > 0 then shortfall[w.name] = (shortfall[w.name] or 0) + below end
  entry('clawback', c.r, w, -c.v, c.fund)
end
for _, r in ipairs(plan.restores) do
  local w = touch(plan.wallets[r.w])
  local sum = 0
  for _, part in ipairs(r.b) do
    add(w, part[1], whole(part[2], 'restore'))
    sum = sum + part[2]
  end
  entry('restore', r.r, w, sum, r.fund)
end

-- Counters to give back: limits are profile fields, spend a day of the spend hash and the
-- windows' sums in the profile (only what is still counted: an old period or day may have
-- been pruned).
local wanted = {'txns', 'lastx', 'tier', 'segs', 'ver', 'spend'}
for _, l in ipairs(plan.lim) do wanted[#wanted + 1] = l.f end
local spend_at = #wanted + 1
if plan.spend then wanted[spend_at] = plan.spend[1] end
-- Each tag the authorisation granted, with its count of standing grants.
local tags = plan.tags or {}
local tag_at = #wanted + 1
for i, t in ipairs(tags) do wanted[tag_at + i - 1] = 'tg:' .. t end
local profile = redis.call('HMGET', K_PROFILE, unpack(wanted))
local sets, dels = {}, {}
local function put(name, value)
  if value > 0 then sets[#sets + 1] = name; sets[#sets + 1] = I(value) else dels[#dels + 1] = name end
end
for i, l in ipairs(plan.lim) do
  local held = profile[6 + i]
  if held and l.p then
    -- A named counter, "<period key>|<used>": it gives back only while it still counts
    -- the period the authorisation counted in.
    local key, used = string.match(held, '^([^|]*)|(%d+)$')
    if key == l.p then
      used = tonumber(used) - math.min(tonumber(used), whole(l.d, 'limit'))
      if used > 0 then sets[#sets + 1] = l.f; sets[#sets + 1] = key .. '|' .. I(used)
      else dels[#dels + 1] = l.f end
    end
  elseif held then  -- a counter of the layout before named ones: one field per period
    put(l.f, tonumber(held) - math.min(tonumber(held), whole(l.d, 'limit')))
  end
end
local spend_sets, spend_dels = {}, {}
if plan.spend and profile[6] then
  -- The spend days live in their own hash, and the profile's 'spend' holds the windows'
  -- sums at the end of its day: what is given back leaves the windows the day was in.
  local day_field, back = plan.spend[1], whole(plan.spend[2], 'spend')
  local have = redis.call('HGET', KEYS[7], day_field)
  if have then
    local gone = math.min(tonumber(have), back)
    if tonumber(have) > gone then spend_sets = {day_field, I(tonumber(have) - gone)} else spend_dels = {day_field} end
    local last, a, b = string.match(profile[6], '^(%d+)|(%d+)|(%d+)$')
    last, a, b = tonumber(last), tonumber(a), tonumber(b)
    local day = tonumber(string.sub(day_field, 3))
    if day <= last and day > last - 30 then a = a - math.min(a, gone) end
    if day <= last and day > last - 365 then b = b - math.min(b, gone) end
    sets[#sets + 1] = 'spend'; sets[#sets + 1] = I(last) .. '|' .. I(a) .. '|' .. I(b)
  end
elseif plan.spend then
  -- A spend day of the layout before the spend hash, in the profile.
  local have = profile[spend_at]
  if have then put(plan.spend[1], tonumber(have) - math.min(tonumber(have), whole(plan.spend[2], 'spend'))) end
end
local budgets = {}
if inline then
  for i, b in ipairs(plan.bud) do
    budgets[i] = budget_check(KEYS[B0 + i], b.id, b.kind, whole(b.d, 'budget'), b.c)
  end
end

-- Writes.
flush_wallets()
flush_ledger(K_LEDGER, now, txn, plan.op)
for _, b in ipairs(budgets) do budget_write(b, member, now) end
if plan.txns and num(profile[1]) > 0 then put('txns', num(profile[1]) - 1) end
if plan.last and profile[2] == plan.last[1] then
  -- This purchase was the last one: the one before it (that still stands) is again.
  put('last', plan.last[2])
  if plan.last[3] == '' then dels[#dels + 1] = 'lastx' else sets[#sets + 1] = 'lastx'; sets[#sets + 1] = plan.last[3] end
end
if plan.tier and profile[3] == plan.tier[2] then
  if plan.tier[1] == '' then dels[#dels + 1] = 'tier' else sets[#sets + 1] = 'tier'; sets[#sets + 1] = plan.tier[1] end
  redis.call('RPUSH', K_TIERS, I(now) .. '|' .. plan.tier[1] .. '|' .. txn .. '|' .. plan.op)
end
-- A tag goes when its last standing grant is undone (a segment the member had before any
-- grant counts as one grant that nothing undoes).
local drop, ndrop = {}, 0
for i, t in ipairs(tags) do
  local held = num(profile[tag_at + i - 1])
  if held <= 1 then
    drop[t] = true; ndrop = ndrop + 1
    dels[#dels + 1] = 'tg:' .. t
  else
    sets[#sets + 1] = 'tg:' .. t; sets[#sets + 1] = I(held - 1)
  end
end
if ndrop > 0 and profile[4] then
  local kept = {}
  for _, s in ipairs(cjson.decode(profile[4])) do if not drop[s] then kept[#kept + 1] = s end end
  sets[#sets + 1] = 'segs'; sets[#sets + 1] = #kept == 0 and '[]' or cjson.encode(kept)
end
if plan.bump then
  sets[#sets + 1] = 'ver'; sets[#sets + 1] = I(num(profile[5]) + 1)
end
if #sets > 0 then redis.call('HSET', K_PROFILE, unpack(sets)) end
if #dels > 0 then redis.call('HDEL', K_PROFILE, unpack(dels)) end
if #spend_sets > 0 then redis.call('HSET', KEYS[7], unpack(spend_sets)) end
if #spend_dels > 0 then redis.call('HDEL', KEYS[7], unpack(spend_dels)) end
if plan.unhold then redis.call('ZREM', K_INDEX, plan.unhold) end

local result = string.sub(ARGV[7], 1, -2) .. ',"balances":{' .. balance_members(now) .. '}'
  .. ',"shortfall":' .. jmap(shortfall) .. ',"status":"' .. plan.status .. '"}'
redis.call('HSET', K_AUTH, 's', plan.status .. '|' .. I(seq + 1) .. '|' .. hash, 'p', ARGV[6], ARGV[8], result, 't', ARGV[4])
return {'ok', result}
