-- Everything the hold loop's estimate reads, the caller's entry included, in one round trip
-- (routing/estimates.py). Read-only: it changes nothing, so it may run beside any script.
-- The caller's queue is known only once the entry is read, so the keys of every queue it
-- may be in come in blocks; the script picks the block of the entry's queue.
-- KEYS[1] = signatures version, KEYS[2] = agents hash, KEYS[3] = counts hash,
-- KEYS[4] = entries hash, KEYS[5..] = per queue: its handle times list, its holdtime string,
-- then its waiting zsets (one per skill signature the caller's cache knows)
-- ARGV[1] = now (ms, unused), ARGV[2] = the entry id, ARGV[3] = the most agents whose
-- documents are read (beyond: the counts), ARGV[4] = JSON {queue: [first key, waiting sets]},
-- ARGV[5..] = the logged-in agent states (the counts fields are "<queue>|<state>")
-- Returns {version or false, the entry's JSON or false}; when the entry waits in a queue of
-- ARGV[4], followed by: its handle times, its holdtime or false, the agents' documents or
-- false, the counts (or {} when the documents came), then per waiting zset how many are
-- ahead by score and the members tied at the caller's score
local version = redis.call('GET', KEYS[1]) or false
local raw = redis.call('HGET', KEYS[4], ARGV[2])
if not raw then return {version, false} end
local entry = cjson.decode(raw)
local block = cjson.decode(ARGV[4])[entry.queue]
if entry.state ~= 'waiting' or block == nil then return {version, raw} end
local first, sets = tonumber(block[1]), tonumber(block[2])
local reply = {
  version,
  raw,
  redis.call('LRANGE', KEYS[first], 0, -1),
  redis.call('GET', KEYS[first + 1]) or false,
}
if redis.call('HLEN', KEYS[2]) <= tonumber(ARGV[3]) then
  reply[5] = redis.call('HVALS', KEYS[2])
  reply[6] = {}
else
  local fields = {}
  for i = 5, #ARGV do table.insert(fields, entry.queue .. '|' .. ARGV[i]) end
  reply[5] = false
  reply[6] = redis.call('HMGET', KEYS[3], unpack(fields))
end
local score = string.format('%.0f', entry_score(entry))
for i = first + 2, first + 1 + sets do
  table.insert(reply, redis.call('ZCOUNT', KEYS[i], '-inf', '(' .. score))
  table.insert(reply, redis.call('ZRANGEBYSCORE', KEYS[i], score, score))
end
return reply
