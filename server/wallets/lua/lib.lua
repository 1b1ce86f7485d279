-- Shared by every wallet script (store.py puts it in front of each one).
--
-- Rules every script keeps:
--   * Validate everything, compute every change in memory, and only then write: an error
--     never leaves half an operation (Redis does not roll a script back).
--   * All values are integers below 2^53.  Lua numbers are doubles, so a number is always
--     written as string.format('%d') (tostring and cjson.encode keep only 14 digits).
--   * Nothing reads the clock: 'now' comes from the caller.

local function I(n) return string.format('%d', n) end

local function raise(code, message)
  error({err = 'TSR ' .. code .. ' ' .. (message or '')})
end

local function num(value)
  if value == false or value == nil then return 0 end
  return tonumber(value)
end

local function whole(value, what)
  if type(value) ~= 'number' or value ~= math.floor(value) or value < 0 or value >= 9007199254740992 then
    raise('invalid_amount', what .. ' is not a whole number in [0, 2^53)')
  end
  return value
end

-- Status of an authorisation: "<status>|<seq>|<payload hash>".
local function parse_status(line)
  local status, seq, hash = string.match(line, '^([^|]*)|(%d+)|(.*)$')
  return status, tonumber(seq), hash
end
