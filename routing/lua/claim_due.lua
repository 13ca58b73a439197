-- Take the deadlines that are due. Each is handed to exactly one caller, however many
-- tickers run: it leaves the set in the same step that reads it.
-- KEYS[1] = deadlines zset
-- ARGV[1] = now (ms), ARGV[2] = how many at most
-- Returns the members, each "kind|id[|agent]"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due
