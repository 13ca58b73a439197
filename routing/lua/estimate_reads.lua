-- Everything the hold loop's estimate reads of a waiting caller's queue, in one round trip
-- (routing/estimates.py). Read-only: it changes nothing, so it may run beside any script.
-- KEYS[1] = signatures version, KEYS[2] = agents hash, KEYS[3] = counts hash,
-- KEYS[4] = the queue's handle times list, KEYS[5] = the queue's holdtime string,
-- KEYS[6..] = the queue's waiting zsets, one per skill signature the caller's cache knows
-- ARGV[1] = now (ms, unused), ARGV[2] = the caller's score (priority, then enqueue time),
-- ARGV[3] = the most agents whose documents are read (beyond: the counts),
-- ARGV[4..] = the counts fields of the queue's logged-in states
-- Returns {version or false, handle times, holdtime or false, the agents' documents or
-- false, the counts (or {} when the documents came), then per waiting zset: how many are
-- ahead by score, the members tied at the caller's score}
local reply = {
  redis.call('GET', KEYS[1]) or false,
  redis.call('LRANGE', KEYS[4], 0, -1),
  redis.call('GET', KEYS[5]) or false,
}
if redis.call('HLEN', KEYS[2]) <= tonumber(ARGV[3]) then
  reply[4] = redis.call('HVALS', KEYS[2])
  reply[5] = {}
else
  reply[4] = false
  reply[5] = redis.call('HMGET', KEYS[3], unpack(ARGV, 4))
end
for i = 6, #KEYS do
  table.insert(reply, redis.call('ZCOUNT', KEYS[i], '-inf', '(' .. ARGV[2]))
  table.insert(reply, redis.call('ZRANGEBYSCORE', KEYS[i], ARGV[2], ARGV[2]))
end
return reply
