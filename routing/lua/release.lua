-- An offer ends without a call: the agent rejected it, let it ring out, or its leg failed.
-- The caller goes back to the head of its priority with its original time; the agent is
-- marked, and after too many misses in a row is put away (missed_offers).
-- KEYS[1] = agents hash, KEYS[2] = entries hash, KEYS[3] = deadlines zset,
-- KEYS[4] = events stream, KEYS[5] = offers stream, KEYS[6] = counts hash,
-- KEYS[7] = the waiting zset of the entry's queue and skills
-- ARGV[1] = now (ms), ARGV[2] = agent id, ARGV[3] = entry id, ARGV[4] = why (rejected,
-- timeout, failed; or deferred: a callback that may not be placed now, which is no miss;
-- or withdrawn: a supervisor signs the ringing agent out, no miss, the agent goes offline),
-- ARGV[5] = misses before away, ARGV[6] = the entry's signature as the caller read it,
-- ARGV[7] = deferred: when the callback may wait again (ms)
-- Returns {'ok', agent state, entry state, actions...} | {'stale'} | {'noop'}
local k = {agents = KEYS[1], entries = KEYS[2], deadlines = KEYS[3], events = KEYS[4],
           offers = KEYS[5], counts = KEYS[6]}
local agent, entry = get(k.agents, ARGV[2]), get(k.entries, ARGV[3])
if entry ~= nil and entry.sig ~= ARGV[6] then return {'stale'} end
if agent == nil or tostring(agent.offer) ~= ARGV[3] then return {'noop'} end
local why = ARGV[4]
redis.call('ZREM', k.deadlines, 'offer|' .. ARGV[3] .. '|' .. agent.id)
agent.offer = false
local missed = why ~= 'deferred' and why ~= 'withdrawn'
if missed then agent.misses = (agent.misses or 0) + 1 end
local actions = {}
if why == 'withdrawn' then
  set_state(k.counts, agent, 'offline')
  emit(k.events, 'agent', {agent = agent.id, state = 'offline', reason = false,
                           from = 'reserved'})
elseif missed and agent.misses >= tonumber(ARGV[5]) then
  set_state(k.counts, agent, 'away', 'missed_offers')
  emit(k.events, 'agent', {agent = agent.id, state = 'away', reason = 'missed_offers',
                           from = 'reserved'})
else
  set_state(k.counts, agent, 'pending')
  table.insert(actions, cjson.encode({'ready', tostring(agent.id)}))
end
put(k.agents, agent)
redis.call('XADD', k.offers, 'MAXLEN', '~', 100000, '*', 'e', cjson.encode(
  {kind = 'outcome', entry = ARGV[3], agent = agent.id, outcome = why, at = NOW}))
local entry_state = 'gone'
if entry ~= nil and entry.state == 'offered' then
  entry.offered = without(entry.offered, agent.id)
  if missed then
    local declined = list(entry.declined)
    table.insert(declined, agent.id)
    entry.declined = declined
  end
  if #entry.offered == 0 and why == 'deferred' then
    entry.state = 'scheduled'
    redis.call('ZADD', k.deadlines, tonumber(ARGV[7]), 'callback|' .. entry.id)
  elseif #entry.offered == 0 then
    entry.state = 'waiting'
    redis.call('HINCRBY', k.counts, entry.queue .. '|waiting', 1)
    redis.call('ZADD', KEYS[7], entry_score(entry), entry.id)
    table.insert(actions, cjson.encode({'retry', entry.id}))
  end
  put(k.entries, entry)
  entry_state = entry.state
end
emit(k.events, 'offer_ended', {entry = ARGV[3], agent = agent.id, why = why})
local out = {'ok', agent.state, entry_state}
for _, a in ipairs(actions) do table.insert(out, a) end
return out
