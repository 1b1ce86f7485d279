-- Remove what has expired from a member's wallets, with one ledger line per wallet; drop
-- the days of spend that no longer count and the limit counters of periods long past
-- (a named counter, whose value names its period, when that period is long past).
--
-- KEYS: 1 profile, 2 ledger, 3 wallets.
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

local oldest_day = math.floor(now / 86400) - 366
local stale = {}
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local name = fields[i]
  local head = string.sub(name, 1, 2)
  if head == 'd:' and tonumber(string.sub(name, 3)) <= oldest_day then
    stale[#stale + 1] = name
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
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
-- Authorise writes counters worked out on a snapshot: anything removed here moves the
-- version, so that no snapshot from before it applies.
if #out > 0 or #stale > 0 then redis.call('HINCRBY', KEYS[1], 'ver', 1) end
return out
