-- Everything the engine decides on for one member, in one consistent read.
--
-- KEYS: 1 profile, 2 wallets.
-- ARGV: 1 now, then the limit period keys counting at 'now'.
-- Reply: {profile fields (flat, without spend and limits), spend over 30 days, over 12
--         months, limits of the current periods (flat: "<period key>|<rule>|<kind>", used),
--         the wallets hash (flat), spend of the day of 'now'}.

local now = tonumber(ARGV[1])
local today = math.floor(now / 86400)
local current = {}
for i = 2, #ARGV do current[ARGV[i]] = true end
local raw = redis.call('HGETALL', KEYS[1])
local plain, limits, named, older = {}, {}, {}, nil
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
    plain[#plain + 1] = name
    plain[#plain + 1] = value
  end
end
if older then
  for counter, used in pairs(older) do
    if not named[counter] then limits[#limits + 1] = counter; limits[#limits + 1] = used end
  end
end
return {plain, s30, s12, limits, redis.call('HGETALL', KEYS[2]), s1}
