-- The member's spend over 30 days, over 12 months and on the day of 'now': what a read of
-- the profile alone cannot give, in the same consistent view as that read.
--
-- KEYS: 1 profile, 2 wallets, 3 spend days.
-- ARGV: 1 now, 2 '1': the reply carries the profile and the wallets hashes ('0': the
--       caller reads both beside the script, in the same MULTI).
-- Reply: {spend over 30 days, over 12 months, of the day of 'now', the profile hash
--         (flat), the wallets hash (flat)}; the two hashes only with ARGV[2] '1'.
--
-- The store decodes the profile itself (WalletStore.snapshot_of, _read.pyx): its limit
-- counters, and the spend days a profile of the layout before the spend hash still holds,
-- which add to the sums here.  A hash read inside a script becomes a Lua table and then a
-- reply again, and the fields then cost Lua a string or two each: several times what
-- HGETALL costs by itself, on every read, so the script reads no more than the spend.
--
-- The spend windows come from the profile's 'spend' ("<day>|<30 days>|<12 months>", the
-- sums at the end of <day>, the day of the last purchase): only the days that left a
-- window since then are read, so that a member who buys daily reads two days, not 366.

local now = tonumber(ARGV[1])
local today = math.floor(now / 86400)
local s30, s12, s1 = 0, 0, 0

-- The days of lo..hi the spend hash holds: day -> amount.  A span of more days than the
-- hash holds is found by reading the hash whole, not by asking for every day's name.
local function days(lo, hi)
  local found = {}
  if hi < lo then return found end
  if hi - lo >= 16 and redis.call('HLEN', KEYS[3]) <= hi - lo then
    local held = redis.call('HGETALL', KEYS[3])
    for i = 1, #held, 2 do
      local day = tonumber(string.sub(held[i], 3))
      if day and day >= lo and day <= hi then found[day] = tonumber(held[i + 1]) end
    end
    return found
  end
  local names = {}
  for day = lo, hi do names[#names + 1] = 'd:' .. I(day) end
  local got = redis.call('HMGET', KEYS[3], unpack(names))
  for i = 1, #names do
    if got[i] then found[lo + i - 1] = tonumber(got[i]) end
  end
  return found
end

local function sum(found)
  local total = 0
  for _, amount in pairs(found) do total = total + amount end
  return total
end

local mark = redis.call('HGET', KEYS[1], 'spend')
if mark then
  local last, a, b = string.match(mark, '^(%d+)|(%d+)|(%d+)$')
  last, a, b = tonumber(last), tonumber(a), tonumber(b)
  if today >= last then
    -- Nothing was spent after 'last': each window is its sum then, less the days that
    -- have left it since.
    if today - last < 30 then s30 = a - sum(days(last - 29, today - 30)) end
    if today - last < 365 then s12 = b - sum(days(last - 364, today - 365)) end
    if today == last then s1 = num(redis.call('HGET', KEYS[3], 'd:' .. I(today))) end
  else
    -- A read dated before the last purchase's day (a late transaction): both windows
    -- summed from the days of the year up to today, read once.
    for day, amount in pairs(days(today - 364, today)) do
      if day > today - 30 then s30 = s30 + amount end
      s12 = s12 + amount
      if day == today then s1 = amount end
    end
  end
end
if ARGV[2] == '1' then
  return {s30, s12, s1, redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
end
return {s30, s12, s1}
