-- A caller was connected: the queue's Asterisk-style holdtime moves, as app_queue's
-- recalc_holdtime does: holdtime = (3 * old + new) / 4 in whole seconds, starting at 0
-- (only for comparison with our own estimates: routing/estimates.py).
-- KEYS[1] = the queue's holdtime string
-- ARGV[1] = now (ms), ARGV[2] = the connected caller's wait (ms)
-- Returns the new holdtime (whole seconds)
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
local new = math.floor(tonumber(ARGV[2]) / 1000)
local value = math.floor((3 * old + new) / 4)
redis.call('SET', KEYS[1], value)
return value
