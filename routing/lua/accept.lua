-- The agent accepts the offered call: agent busy, caller connected, other ring-all offers
-- withdrawn.
-- KEYS[1] = agents hash, KEYS[2] = entries hash, KEYS[3] = deadlines zset,
-- KEYS[4] = events stream, KEYS[5] = offers stream, KEYS[6] = counts hash,
-- KEYS[7] = the day's stats hash
-- ARGV[1] = now (ms), ARGV[2] = agent id, ARGV[3] = entry id, ARGV[4] = service level (ms)
-- Returns {'ok', wait_ms, actions...} | {'again', wait_ms} (accepted before) | {'gone', why}
local k = {agents = KEYS[1], entries = KEYS[2], deadlines = KEYS[3], events = KEYS[4],
           offers = KEYS[5], counts = KEYS[6]}
local agent, entry = get(k.agents, ARGV[2]), get(k.entries, ARGV[3])
-- Accepted twice (the agent's screen, then the softphone answering): the same answer.
if agent and entry and entry.state == 'connected' and tostring(entry.agent) == ARGV[2] then
  return {'again', tostring(entry.answered - entry.qt)}
end
if agent == nil or tostring(agent.offer) ~= ARGV[3] then return {'gone', 'no_offer'} end
if entry == nil or entry.state ~= 'offered' or not contains(entry.offered, agent.id) then
  return {'gone', 'caller_gone'}
end
local actions = {}
for _, other in ipairs(list(entry.offered)) do
  redis.call('ZREM', k.deadlines, 'offer|' .. entry.id .. '|' .. other)
  if tostring(other) ~= tostring(agent.id) then
    local o = get(k.agents, other)
    if o and tostring(o.offer) == tostring(entry.id) then
      o.offer = false
      set_state(k.counts, o, 'pending')
      put(k.agents, o)
      table.insert(actions, cjson.encode({'withdraw', entry.id, tostring(o.id), o.identity}))
      table.insert(actions, cjson.encode({'ready', tostring(o.id)}))
    end
    redis.call('XADD', k.offers, 'MAXLEN', '~', 100000, '*', 'e', cjson.encode(
      {kind = 'outcome', entry = entry.id, agent = other, outcome = 'withdrawn', at = NOW}))
  end
end
redis.call('ZREM', k.deadlines, 'maxwait|' .. entry.id, 'escalate|' .. entry.id)
agent.offer = false
agent.call = entry.id
agent.misses = 0
set_state(k.counts, agent, 'busy')
put(k.agents, agent)
entry.state = 'connected'
entry.agent = agent.id
entry.offered = {agent.id}
entry.conference = false -- a new connection, a new conference (routing/views.py)
local waited
if entry.transfer then -- handed over by an agent (handover.lua): answered once already
  entry.taken = NOW
  waited = entry.answered - entry.qt
else
  entry.answered = NOW
  waited = NOW - entry.qt
  stat(KEYS[7], entry.queue .. '|answered', 1)
  stat(KEYS[7], entry.queue .. '|wait_ms', waited)
  if waited <= tonumber(ARGV[4]) then
    stat(KEYS[7], entry.queue .. '|answered_in_sl', 1)
  end
end
put(k.entries, entry)
redis.call('XADD', k.offers, 'MAXLEN', '~', 100000, '*', 'e', cjson.encode(
  {kind = 'outcome', entry = entry.id, agent = agent.id, outcome = 'accepted', at = NOW,
   call_sid = entry.call_sid or false, waited_ms = waited, queue = entry.queue,
   entry_kind = entry.kind, transfer = entry.transfer or false}))
emit(k.events, 'connected', {entry = entry.id, queue = entry.queue, agent = agent.id,
                             call_sid = entry.call_sid or false, waited_ms = waited})
local out = {'ok', tostring(waited)}
for _, a in ipairs(actions) do table.insert(out, a) end
return out
