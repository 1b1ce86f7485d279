-- Everything the engine decides on for one member, in one consistent read.
--
-- KEYS: 1 profile, 2 wallets.
-- ARGV: 1 now, then the limit period keys counting at 'now'.
-- Reply: {profile fields (flat, without spend and limits), spend over 30 days, over 12
--         months, limits of the current periods (flat: "<period>|<rule>|<kind>", used),
--         the wallets hash (flat), spend of the day of 'now'}.

local now = tonumber(ARGV[1])
local today = math.floor(now / 86400)
local current = {}
for i = 2, #ARGV do current[ARGV[i]] = true end
local raw = redis.call('HGETALL', KEYS[1])
local plain, limits = {}, {}
local s30, s12, s1 = 0, 0, 0
for i = 1, #raw, 2 do
  local name, value = raw[i], raw[i + 1]
  local head = string.sub(name, 1, 2)
  if head == 'd:' then
    local day, amount = tonumber(string.sub(name, 3)), tonumber(value)
    if day == today then s1 = amount end
    if day <= today then
      if day > today - 30 then s30 = s30 + amount end
      if day > today - 365 then s12 = s12 + amount end
    end
  elseif head == 'l:' then
    local period = string.match(name, '^l:([^|]*)|')
    if current[period] then
      limits[#limits + 1] = string.sub(name, 3)
      limits[#limits + 1] = value
    end
  else
    plain[#plain + 1] = name
    plain[#plain + 1] = value
  end
end
return {plain, s30, s12, limits, redis.call('HGETALL', KEYS[2]), s1}
