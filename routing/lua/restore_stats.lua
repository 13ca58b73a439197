-- After Redis lost its data (routing/recovery.py): the day's counters the wallboard shows
-- are set to what SQL, the durable truth, counted (any counted since the loss included).
-- KEYS[1] = the day's stats hash
-- ARGV[1] = now (ms), ARGV[2] = JSON {"<queue>|<counter>": value}
-- Returns the number of counters set
redis.call('DEL', KEYS[1])
local n = 0
for field, value in pairs(cjson.decode(ARGV[2])) do
  redis.call('HSET', KEYS[1], field, tonumber(value))
  n = n + 1
end
if n > 0 then redis.call('EXPIRE', KEYS[1], DAY_KEPT) end
return n
