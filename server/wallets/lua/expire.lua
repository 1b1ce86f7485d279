-- Remove what has expired from a member's wallets, with one ledger line per wallet; drop
-- the days of spend that no longer count and the limit counters of periods long past
-- (a named counter, whose value names its period, when that period is long past).  Spend
-- days still kept in the profile (the layout before the spend hash) move to the spend hash.
--
-- KEYS: 1 profile, 2 ledger, 3 wallets, 4 spend days.
-- ARGV: 1 now, 2 oldest limit day kept (YYYY-MM-DD), 3 oldest week (YYYY-Www),
--       4 oldest month (YYYY-MM).
-- Reply: {name, amount, ...} for the wallets something expired from.

local now = tonumber(ARGV[1])
load_wallets(KEYS[3])
local names = {}
for name, _ in pairs(WALLETS) do names[#names + 1] = name end
table.sort(names)
local out = {}
for _, name in ipairs(names) do
  local w = wallet(name)
  local gone = 0
  for field, amount in pairs(w.b) do
    if w.exp[field] <= now and amount > 0 then
      gone = gone + amount
      set_bucket(w, field, 0)
    end
  end
  if gone > 0 then
    touch(name)
    w.total = w.total - gone
    entry('expire', '', w, -gone, '')
    out[#out + 1] = name
    out[#out + 1] = gone
  end
end

local today = math.floor(now / 86400)
local oldest_day = today - 366
local stale = {}
local moved = {}  -- spend days found in the profile, to keep in the spend hash
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local name = fields[i]
  local head = string.sub(name, 1, 2)
  if head == 'd:' then
    stale[#stale + 1] = name
    if tonumber(string.sub(name, 3)) > oldest_day then
      moved[#moved + 1] = name; moved[#moved + 1] = fields[i + 1]
    end
  elseif head == 'l:' or head == 'c:' then
    local period = head == 'l:' and string.match(name, '^l:([^|]*)|') or string.match(fields[i + 1], '^([^|]*)|')
    local cut
    if string.find(period, 'W', 1, true) then cut = ARGV[3]
    elseif #period == 10 then cut = ARGV[2]
    elseif #period == 7 then cut = ARGV[4] end
    if cut and period < cut then stale[#stale + 1] = name end
  end
end

if #out > 0 then
  flush_wallets()
  flush_ledger(KEYS[2], now, '', 'expire')
end
-- The spend hash: days past the 12 months go; if any went (or moved in), the profile's
-- 'spend' is summed afresh from what is left, at the later of today and the last day that
-- holds spend, so that the days a read subtracts from it are all still here.
local days = redis.call('HGETALL', KEYS[4])
local gone = {}
local left = {}  -- day -> amount of what the spend hash keeps, the days moved in too
for i = 1, #days, 2 do
  local day = tonumber(string.sub(days[i], 3))
  if day <= oldest_day then gone[#gone + 1] = days[i] else left[day] = tonumber(days[i + 1]) end
end
for i = 1, #moved, 2 do left[tonumber(string.sub(moved[i], 3))] = tonumber(moved[i + 1]) end
local respend = #gone > 0 or #moved > 0
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
if #gone > 0 then redis.call('HDEL', KEYS[4], unpack(gone)) end
if #moved > 0 then redis.call('HSET', KEYS[4], unpack(moved)) end
if respend then
  local at, any = today, false
  for day, _ in pairs(left) do at = math.max(at, day); any = true end
  local s30, s12 = 0, 0
  for day, amount in pairs(left) do
    if day > at - 30 then s30 = s30 + amount end
    if day > at - 365 then s12 = s12 + amount end
  end
  if any then
    redis.call('HSET', KEYS[1], 'spend', I(at) .. '|' .. I(s30) .. '|' .. I(s12))
  else
    redis.call('HDEL', KEYS[1], 'spend')
  end
end
-- Authorise writes counters worked out on a snapshot: anything removed here moves the
-- version, so that no snapshot from before it applies.
if #out > 0 or #stale > 0 or respend then redis.call('HINCRBY', KEYS[1], 'ver', 1) end
return out
