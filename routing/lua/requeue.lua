-- A waiting entry's needed skills change (aging relaxes them), or a scheduled callback's
-- time comes: it goes to the waiting zset of its signature with the same score, so it keeps
-- its place.
-- KEYS[1] = entries hash, KEYS[2] = the old waiting zset, KEYS[3] = the new waiting zset,
-- KEYS[4] = the queue's signatures set, KEYS[5] = signatures version, KEYS[6] = deadlines,
-- KEYS[7] = events stream, KEYS[8] = counts hash
-- ARGV[1] = now (ms), ARGV[2] = entry id, ARGV[3] = old signature, ARGV[4] = new signature,
-- ARGV[5] = new needs JSON, ARGV[6] = next escalation (ms from now, 0 = none)
-- Returns {'ok'} | {'stale'} | {'noop'}
local entry = get(KEYS[1], ARGV[2])
if entry == nil then return {'noop'} end
if entry.sig ~= ARGV[3] then return {'stale'} end
entry.need = cjson.decode(ARGV[5])
entry.sig = ARGV[4]
if entry.state == 'scheduled' then -- a callback's time has come: it waits again
  entry.state = 'waiting'
  redis.call('HINCRBY', KEYS[8], entry.queue .. '|waiting', 1)
end
if entry.state == 'waiting' then
  redis.call('ZREM', KEYS[2], entry.id)
  redis.call('ZADD', KEYS[3], entry_score(entry), entry.id)
end
-- A new signature is registered (and its ready set filled) by the retry that follows.
if tonumber(ARGV[6]) > 0 then
  redis.call('ZADD', KEYS[6], NOW + tonumber(ARGV[6]), 'escalate|' .. entry.id)
end
put(KEYS[1], entry)
emit(KEYS[7], 'escalated', {entry = entry.id, queue = entry.queue, sig = entry.sig})
return {'ok', entry.state}
