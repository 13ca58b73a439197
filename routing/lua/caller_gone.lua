-- The caller hung up (or left the queue for voicemail) before being connected. Any agent it
-- was offered to stops ringing at once and is free again.
-- KEYS[1] = agents hash, KEYS[2] = entries hash, KEYS[3] = deadlines zset,
-- KEYS[4] = events stream, KEYS[5] = offers stream, KEYS[6] = counts hash,
-- KEYS[7] = the waiting zset of the entry's queue and skills, KEYS[8] = the day's stats hash
-- ARGV[1] = now (ms), ARGV[2] = entry id, ARGV[3] = the entry's signature as read,
-- ARGV[4] = "abandoned" (hung up), "left" (taken out of the queue by the router),
-- "supervisor" (a supervisor ended the call) or "system" (the demo stopping): only an
-- abandon counts against the queue
-- Returns {'ok', state it was in, waited ms, actions...} | {'connected'} | {'stale'} | {'noop'}
local k = {agents = KEYS[1], entries = KEYS[2], deadlines = KEYS[3], events = KEYS[4],
           offers = KEYS[5], counts = KEYS[6]}
local entry = get(k.entries, ARGV[2])
if entry == nil then return {'noop'} end
if entry.sig ~= ARGV[3] then return {'stale'} end
if entry.state == 'connected' then return {'connected'} end
-- The caller who hung up after asking for a callback keeps their place.
if ARGV[4] == 'abandoned' and entry.kind == 'callback' then return {'noop'} end
local actions = {}
if entry.state == 'waiting' then
  redis.call('HINCRBY', k.counts, entry.queue .. '|waiting', -1)
end
redis.call('ZREM', KEYS[7], entry.id)
for _, id in ipairs(list(entry.offered)) do
  redis.call('ZREM', k.deadlines, 'offer|' .. entry.id .. '|' .. id)
  local agent = get(k.agents, id)
  if agent and tostring(agent.offer) == tostring(entry.id) then
    agent.offer = false
    set_state(k.counts, agent, 'pending')
    put(k.agents, agent)
    table.insert(actions, cjson.encode({'cancel', entry.id, tostring(agent.id), agent.identity}))
    table.insert(actions, cjson.encode({'ready', tostring(agent.id)}))
  end
  redis.call('XADD', k.offers, 'MAXLEN', '~', 100000, '*', 'e', cjson.encode(
    {kind = 'outcome', entry = entry.id, agent = id, outcome = 'caller_gone', at = NOW}))
end
redis.call('ZREM', k.deadlines, 'maxwait|' .. entry.id, 'escalate|' .. entry.id)
redis.call('HDEL', k.entries, entry.id)
local waited = NOW - entry.qt
redis.call('XADD', k.offers, 'MAXLEN', '~', 100000, '*', 'e', cjson.encode(
  {kind = 'wait_end', entry = entry.id, call_sid = entry.call_sid or false, queue = entry.queue,
   waited_ms = waited, outcome = ARGV[4], at = NOW, transfer = entry.transfer or false}))
if ARGV[4] == 'abandoned' and not entry.transfer then -- a handed-over call was answered
  stat(KEYS[8], entry.queue .. '|abandoned', 1)
end
emit(k.events, ARGV[4], {entry = entry.id, queue = entry.queue, waited_ms = waited,
                          call_sid = entry.call_sid or false})
local out = {'ok', entry.state, tostring(waited), cjson.encode(entry)}
for _, a in ipairs(actions) do table.insert(out, a) end
return out
