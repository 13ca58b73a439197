-- The agents' ringing or connected legs of calls the router no longer has: forgotten. A leg
-- is noted when an offer rings (routing/offers.py) and forgotten when the ringing stops; the
-- leg of an answered call stays while the call goes on, and goes here once it has ended.
-- KEYS[1] = legs hash, KEYS[2] = entries hash
-- ARGV[1] = now (ms), ARGV[2] = HSCAN cursor, ARGV[3] = fields to look at, at most
-- Returns {next cursor, fields removed}
local found = redis.call('HSCAN', KEYS[1], ARGV[2], 'COUNT', tonumber(ARGV[3]))
local removed = 0
local fields = found[2]
for i = 1, #fields, 2 do
  local entry_id = string.match(fields[i], '^(.*)|[^|]*$')
  if entry_id == nil or redis.call('HEXISTS', KEYS[2], entry_id) == 0 then
    redis.call('HDEL', KEYS[1], fields[i])
    removed = removed + 1
  end
end
return {found[1], removed}
