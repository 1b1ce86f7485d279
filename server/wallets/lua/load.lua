-- Enrol a member, with an opening state (tests, simulation, migration).
--
-- KEYS: 1 profile, 2 ledger, 3 tier history, 4 wallets, 5 spend days.
-- ARGV: 1 now, 2 profile fields (JSON: {"order": [...], "values": {...}, "days": {...}},
--       all strings; "days": the spend days),
--       3 opening balances (JSON list of [wallet, amount]).

if redis.call('EXISTS', KEYS[1]) == 1 then raise('member_exists', 'the member is already enrolled') end
local now = tonumber(ARGV[1])
local profile = cjson.decode(ARGV[2])
load_wallets(KEYS[4])
for _, b in ipairs(cjson.decode(ARGV[3])) do
  local w = touch(b[1])
  add(w, '99999999999:0', whole(b[2], 'opening balance'))
  entry('opening', '', w, b[2], '')
end

flush_wallets()
flush_ledger(KEYS[2], now, '', 'load')
local fields = {'ver', '1'}
for _, name in ipairs(profile.order) do
  fields[#fields + 1] = name
  fields[#fields + 1] = profile.values[name]
end
redis.call('HSET', KEYS[1], unpack(fields))
local days = {}
for name, amount in pairs(profile.days) do days[#days + 1] = name; days[#days + 1] = amount end
if #days > 0 then redis.call('HSET', KEYS[5], unpack(days)) end
if profile.values.tier then redis.call('RPUSH', KEYS[3], I(now) .. '|' .. profile.values.tier .. '||load') end
return 'ok'
