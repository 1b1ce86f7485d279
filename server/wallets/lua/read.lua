-- Everything the engine decides on for one member, in one consistent read.
--
-- KEYS: 1 profile, 2 wallets, 3 spend days.
-- ARGV: 1 now, 2 '1': reply with the wallets hash ('0': the caller reads it beside the
--       script, in the same MULTI), then the limit period keys counting at 'now'.
-- Reply: {profile fields (flat, without spend days and limits), spend over 30 days, over 12
--         months, limits of the current periods (flat: "<period key>|<rule>|<kind>", used),
--         the wallets hash (flat; {} with ARGV[2] '0'), spend of the day of 'now', spend
--         days found in the profile (the layout before the spend hash)}.
--
-- A member who buys often holds hundreds of buckets.  A hash read inside a script becomes a
-- Lua table and then a reply again, several times what HGETALL costs by itself, so the
-- store reads the wallets beside the script where it can (WalletStore._read).
--
-- The spend windows come from the profile's 'spend' ("<day>|<30 days>|<12 months>", the
-- sums at the end of <day>, the day of the last purchase): only the days that left a
-- window since then are read, so that a member who buys daily reads two days, not 366.

local now = tonumber(ARGV[1])
local today = math.floor(now / 86400)
local current = {}
for i = 3, #ARGV do current[ARGV[i]] = true end
local raw = redis.call('HGETALL', KEYS[1])
local plain, limits, named, older = {}, {}, {}, nil
local s30, s12, s1, old_days = 0, 0, 0, 0
local mark
for i = 1, #raw, 2 do
  local name, value = raw[i], raw[i + 1]
  local head = string.sub(name, 1, 2)
  if head == 'd:' then
    -- A spend day of the layout before the spend hash: summed here, as it was.
    old_days = old_days + 1
    local day, amount = tonumber(string.sub(name, 3)), tonumber(value)
    if day == today then s1 = amount end
    if day <= today then
      if day > today - 30 then s30 = s30 + amount end
      if day > today - 365 then s12 = s12 + amount end
    end
  elseif head == 'c:' then
    -- A limit counter, "c:<period>|<rule>|<kind>" holding "<period key>|<used>".
    local key, used = string.match(value, '^([^|]*)|(.*)$')
    if current[key] then
      local counter = key .. '|' .. string.match(name, '^c:[^|]*|(.*)$')
      limits[#limits + 1] = counter
      limits[#limits + 1] = used
      named[counter] = true
    end
  elseif head == 'l:' then
    -- A counter of the layout before named ones, "l:<period key>|<rule>|<kind>": it
    -- counts until its named successor is written.
    local period = string.match(name, '^l:([^|]*)|')
    if current[period] then
      older = older or {}
      older[string.sub(name, 3)] = value
    end
  else
    if name == 'spend' then mark = value end
    plain[#plain + 1] = name
    plain[#plain + 1] = value
  end
end
if older then
  for counter, used in pairs(older) do
    if not named[counter] then limits[#limits + 1] = counter; limits[#limits + 1] = used end
  end
end

-- The spend of each of the days lo..hi (a list, lo first).
local function days(lo, hi)
  if hi < lo then return {} end
  local names = {}
  for day = lo, hi do names[#names + 1] = 'd:' .. I(day) end
  local got = redis.call('HMGET', KEYS[3], unpack(names))
  for i = 1, #names do got[i] = num(got[i]) end
  return got
end

local function sum(list, from)
  local total = 0
  for i = from or 1, #list do total = total + list[i] end
  return total
end

if mark then
  local last, a, b = string.match(mark, '^(%d+)|(%d+)|(%d+)$')
  last, a, b = tonumber(last), tonumber(a), tonumber(b)
  if today >= last then
    -- Nothing was spent after 'last': each window is its sum then, less the days that
    -- have left it since.
    if today - last < 30 then s30 = s30 + a - sum(days(last - 29, today - 30)) end
    if today - last < 365 then s12 = s12 + b - sum(days(last - 364, today - 365)) end
    if today == last then s1 = s1 + num(redis.call('HGET', KEYS[3], 'd:' .. I(today))) end
  else
    -- A read at a time before the last purchase (a late transaction): the year up to
    -- today read once, both windows summed from it.
    local year = days(today - 364, today)
    s30 = s30 + sum(year, 336)
    s12 = s12 + sum(year)
    s1 = s1 + year[365]
  end
end
local wallets = ARGV[2] == '1' and redis.call('HGETALL', KEYS[2]) or {}
return {plain, s30, s12, limits, wallets, s1, old_days}
