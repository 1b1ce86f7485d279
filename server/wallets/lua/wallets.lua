-- Wallets, the ledger and budgets: for the scripts that work on buckets themselves
-- (capture, reversal, refund, release, expiry, enrolment, verification).  Authorise works
-- on buckets in Python (buckets.py) and only checks and writes; the rules are the same.

-- JSON written by hand, because cjson rounds numbers to 14 digits.  The strings quoted
-- here are programme names (wallets, rules, kinds) and bucket fields: nothing to escape.
local function jstr(s) return '"' .. s .. '"' end

local function jmap(map)
  local names = {}
  for name, _ in pairs(map) do names[#names + 1] = name end
  table.sort(names)
  local parts = {}
  for _, name in ipairs(names) do parts[#parts + 1] = jstr(name) .. ':' .. I(map[name]) end
  return '{' .. table.concat(parts, ',') .. '}'
end

---------------------------------------------------------------------------------------------
-- Wallets.  All of a member's wallets are one hash: "<wallet>|<expires_at>:<available_at>"
-- -> amount (> 0) for a bucket, "<wallet>|debt" -> amount (< 0) for debt.  Spendable at
-- 'now': buckets with available_at <= now < expires_at, plus the debt.  The balance (what
-- the ledger sums to): every bucket plus the debt.  Value added while there is debt pays
-- the debt first, so that debt only exists when no live bucket is left.
---------------------------------------------------------------------------------------------
local WALLETS = {}
local WALLET_ORDER = {}
local WALLET_KEY

local function wallet(name)
  local w = WALLETS[name]
  if not w then
    w = {name = name, b = {}, exp = {}, av = {}, debt = 0, total = 0, dirty = {}}
    WALLETS[name] = w
  end
  return w
end

-- Read every wallet of the member (one HGETALL); 'touched' lists the wallets whose balances
-- the reply reports, in the order they are first used.
local function load_wallets(key)
  WALLET_KEY = key
  local raw = redis.call('HGETALL', key)
  for i = 1, #raw, 2 do
    local key, amount = raw[i], tonumber(raw[i + 1])
    local bar = string.find(key, '|', 1, true)  -- wallet names have no '|'
    local name, field = string.sub(key, 1, bar - 1), string.sub(key, bar + 1)
    local w = wallet(name)
    if field == 'debt' then
      w.debt = amount
    else
      local e, a = string.match(field, '^(%d+):(%d+)$')
      w.b[field], w.exp[field], w.av[field] = amount, tonumber(e), tonumber(a)
    end
    w.total = w.total + amount
  end
end

local function touch(name)
  local w = wallet(name)
  if not w.touched then
    w.touched = true
    WALLET_ORDER[#WALLET_ORDER + 1] = w
  end
  return w
end

local function live(w, field, now) return w.av[field] <= now and now < w.exp[field] end

local function spendable(w, now)
  local sum = w.debt
  for field, amount in pairs(w.b) do
    if live(w, field, now) then sum = sum + amount end
  end
  return sum
end

-- Fields of buckets that pass 'keep', earliest-expiring first (then earliest available).
local function ordered(w, keep)
  local fields = {}
  for field, amount in pairs(w.b) do
    if amount > 0 and keep(field) then fields[#fields + 1] = field end
  end
  table.sort(fields, function(x, y)
    if w.exp[x] ~= w.exp[y] then return w.exp[x] < w.exp[y] end
    if w.av[x] ~= w.av[y] then return w.av[x] < w.av[y] end
    return x < y
  end)
  return fields
end

local function set_bucket(w, field, amount)
  if w.exp[field] == nil then
    local e, a = string.match(field, '^(%d+):(%d+)$')
    if e == nil then raise('internal', 'bad bucket field ' .. field) end
    w.exp[field], w.av[field] = tonumber(e), tonumber(a)
  end
  w.b[field] = amount
  w.dirty[field] = true
end

-- Credit or restore 'amount' into bucket 'field'; returns the part that paid debt.
local function add(w, field, amount)
  local settled = 0
  if w.debt < 0 then
    settled = math.min(amount, -w.debt)
    w.debt = w.debt + settled
    w.dirty.debt = true
  end
  if amount > settled then set_bucket(w, field, (w.b[field] or 0) + amount - settled) end
  w.total = w.total + amount
  return settled
end

local function take(w, field, want, took)
  local have = w.b[field] or 0
  local part = math.min(have, want)
  if part > 0 then
    set_bucket(w, field, have - part)
    took[#took + 1] = {field, part}
  end
  return want - part
end

-- Take back 'amount' (a clawback): from bucket 'prefer' first, then spendable value, then
-- pending value, each earliest-expiring first; what is still missing becomes debt, the
-- only way a balance goes below zero.  Returns the part that went below zero.
local function claw(w, amount, now, prefer)
  local took, left = {}, amount
  if prefer and prefer ~= '' and w.b[prefer] and now < w.exp[prefer] then
    left = take(w, prefer, left, took)
  end
  if left > 0 then
    for _, field in ipairs(ordered(w, function(f) return live(w, f, now) end)) do
      left = take(w, field, left, took)
      if left == 0 then break end
    end
  end
  if left > 0 then
    for _, field in ipairs(ordered(w, function(f) return w.av[f] > now and now < w.exp[f] end)) do
      left = take(w, field, left, took)
      if left == 0 then break end
    end
  end
  if left > 0 then
    w.debt = w.debt - left
    w.dirty.debt = true
  end
  w.total = w.total - amount
  return left
end

local function flush_wallets()
  local sets, dels = {}, {}
  for _, w in ipairs(WALLET_ORDER) do
    for field, _ in pairs(w.dirty) do
      local amount = (field == 'debt') and w.debt or (w.b[field] or 0)
      if amount == 0 then
        dels[#dels + 1] = w.name .. '|' .. field
      else
        sets[#sets + 1] = w.name .. '|' .. field
        sets[#sets + 1] = I(amount)
      end
    end
  end
  if #sets > 0 then redis.call('HSET', WALLET_KEY, unpack(sets)) end
  if #dels > 0 then redis.call('HDEL', WALLET_KEY, unpack(dels)) end
end

-- Spendable balances of the wallets used, as JSON object members (money and points
-- wallets only; draws hold entries, not balances).
local function balance_members(now)
  local parts = {}
  for _, w in ipairs(WALLET_ORDER) do
    if string.sub(w.name, 1, 5) ~= 'draw:' then parts[#parts + 1] = jstr(w.name) .. ':' .. I(spendable(w, now)) end
  end
  return table.concat(parts, ',')
end

---------------------------------------------------------------------------------------------
-- Ledger: one stream record per operation ("time", "txn", "op", "lines"), with one line per
-- change of a balance: [wallet, kind, rule, delta, balance after, [[funder, share], ...]].
-- Written after the checks.
---------------------------------------------------------------------------------------------
local LINES = {}

local function entry(kind, rule, w, delta, funders)
  if delta == 0 then return end
  LINES[#LINES + 1] = '[' .. jstr(w.name) .. ',' .. jstr(kind) .. ',' .. jstr(rule or '') .. ','
    .. I(delta) .. ',' .. I(w.total) .. ',' .. ((funders and funders ~= '') and funders or '[]') .. ']'
end

local function flush_ledger(key, now, txn, op)
  if #LINES == 0 then return end
  redis.call('XADD', key, '*', 'time', I(now), 'txn', txn, 'op', op, 'lines', '[' .. table.concat(LINES, ',') .. ']')
end

---------------------------------------------------------------------------------------------
-- Budgets: one hash per budget holds 'count' or 'value' (the used amount) and the
-- reservations "<txn>#<nonce>" -> "delta|time|member"; 'used' is always the sum of the
-- reservations' deltas and of 'settled' (reservations folded in when retention removed
-- their records).
---------------------------------------------------------------------------------------------
local function budget_check(bkey, id, kind, delta, cap)
  local got = redis.call('HMGET', bkey, id, kind)
  local old = 0
  if got[1] then old = tonumber(string.match(got[1], '^(%d+)|')) end
  local used = num(got[2])
  local after = used - old + delta
  if delta > old and after > cap then
    raise('budget_exhausted', 'budget of ' .. bkey .. ': ' .. I(used) .. ' used of ' .. I(cap))
  end
  return {bkey = bkey, id = id, kind = kind, after = after, delta = delta}
end

local function budget_write(b, member, now)
  if b.delta == 0 then
    redis.call('HSET', b.bkey, b.kind, I(b.after))
    redis.call('HDEL', b.bkey, b.id)
  else
    redis.call('HSET', b.bkey, b.kind, I(b.after), b.id, I(b.delta) .. '|' .. I(now) .. '|' .. member)
  end
end
