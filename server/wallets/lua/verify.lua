-- Check one member: every ledger line's balance is the running sum of the deltas before
-- it, and every wallet holds exactly what its ledger sums to.
--
-- KEYS: 1 ledger, 2 wallets.  ARGV: the names of the programme's wallets.
-- Reply: {ledger lines checked, problem, ...}.

local problems, sums, known = {}, {}, {}
for i = 1, #ARGV do known[ARGV[i]] = true end
local cursor, count = '-', 0
while true do
  local page = redis.call('XRANGE', KEYS[1], cursor, '+', 'COUNT', 500)
  if #page == 0 then break end
  for _, item in ipairs(page) do
    local id, f = item[1], {}
    for j = 1, #item[2], 2 do f[item[2][j]] = item[2][j + 1] end
    for n, line in ipairs(cjson.decode(f.lines)) do
      local name, delta, balance = line[1], line[4], line[5]
      sums[name] = (sums[name] or 0) + delta
      if balance ~= sums[name] then
        problems[#problems + 1] = 'entry ' .. id .. '/' .. n .. ' (' .. name .. '): balance ' .. I(balance)
          .. ' but the deltas sum to ' .. I(sums[name])
      end
      if not known[name] then
        problems[#problems + 1] = 'entry ' .. id .. ' names wallet ' .. name .. ' the programme does not have'
      end
      count = count + 1
    end
    cursor = '(' .. id
  end
end
load_wallets(KEYS[2])
for name, w in pairs(WALLETS) do
  if not known[name] then problems[#problems + 1] = 'wallet ' .. name .. ' is not in the programme' end
end
for _, name in ipairs(ARGV) do
  local w = wallet(name)
  if w.total ~= (sums[name] or 0) then
    problems[#problems + 1] = name .. ': holds ' .. I(w.total) .. ' but its ledger sums to ' .. I(sums[name] or 0)
  end
  if w.debt > 0 then problems[#problems + 1] = name .. ': positive debt ' .. I(w.debt) end
  for field, amount in pairs(w.b) do
    if amount <= 0 then problems[#problems + 1] = name .. ': bucket ' .. field .. ' holds ' .. I(amount) end
  end
end
local out = {count}
for _, p in ipairs(problems) do out[#out + 1] = p end
return out
