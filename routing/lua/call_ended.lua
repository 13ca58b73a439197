-- The connected call ended: the agent goes to wrap-up (timed) or straight back. After a
-- transfer (handover.lua) the agent's part began at entry.taken; the call's talk is the
-- earlier agents' parts (entry.before) and this one.
-- KEYS[1] = agents hash, KEYS[2] = entries hash, KEYS[3] = deadlines zset,
-- KEYS[4] = events stream, KEYS[5] = counts hash, KEYS[6] = the queue's handle-time list,
-- KEYS[7] = the day's stats hash
-- ARGV[1] = now (ms), ARGV[2] = entry id, ARGV[3] = wrap-up (ms), ARGV[4] = local day,
-- ARGV[5] = for a callback the customer did not answer: try again this much later (ms;
-- 0 = the call is over, answered or given up)
-- Returns {'ok', waited ms, talked ms, agent id, agent state, actions...} | {'noop'}
local k = {agents = KEYS[1], entries = KEYS[2], deadlines = KEYS[3], events = KEYS[4],
           counts = KEYS[5]}
local entry = get(k.entries, ARGV[2])
if entry == nil or entry.state ~= 'connected' then return {'noop'} end
local agent = get(k.agents, entry.agent)
local mine = NOW - (entry.taken or entry.answered)
local talked = (entry.before or 0) + mine
local wrap = tonumber(ARGV[3])
local actions = {}
local again = tonumber(ARGV[5] or '0')
if entry.kind == 'callback' and again > 0 then
  entry.attempts = (entry.attempts or 0) + 1
  entry.state = 'scheduled'
  entry.offered = {}
  redis.call('ZADD', k.deadlines, NOW + again, 'callback|' .. entry.id)
  put(k.entries, entry)
else
  redis.call('HDEL', k.entries, entry.id)
end
redis.call('HINCRBY', KEYS[7], entry.queue .. '|talk_ms', mine)
redis.call('LPUSH', KEYS[6], string.format('%.3f', (mine + wrap) / 1000))
redis.call('LTRIM', KEYS[6], 0, 49)
local state = 'gone'
if agent and tostring(agent.call) == tostring(entry.id) then
  roll_day(agent, ARGV[4])
  agent.call = false
  agent.last_call = entry.call_sid or false -- its wrap-up time goes to that call's row
  agent.wrap_from = NOW
  agent.calls = (agent.calls or 0) + 1
  agent.talk = (agent.talk or 0) + math.floor(mine / 1000)
  if wrap > 0 then
    set_state(k.counts, agent, 'wrap_up')
    agent.wrap_until = NOW + wrap
    redis.call('ZADD', k.deadlines, NOW + wrap, 'wrap|' .. agent.id)
  else
    set_state(k.counts, agent, 'pending')
    table.insert(actions, cjson.encode({'ready', tostring(agent.id)}))
  end
  put(k.agents, agent)
  state = agent.state
  emit(k.events, 'agent', {agent = agent.id, state = agent.state, reason = false,
                           from = 'busy'})
end
emit(k.events, 'ended', {entry = entry.id, queue = entry.queue, agent = entry.agent,
                         call_sid = entry.call_sid or false, talked_ms = talked})
local out = {'ok', tostring(entry.answered - entry.qt), tostring(talked),
             tostring(entry.agent), state}
for _, a in ipairs(actions) do table.insert(out, a) end
return out
