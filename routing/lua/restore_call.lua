-- After Redis lost its data (routing/recovery.py): a call that SQL and the carrier say is
-- bridged to an agent goes back into the router as connected, its agent busy on it, so the
-- agent is not offered another caller and the call's end counts as any other's.
-- KEYS[1] = agents hash, KEYS[2] = entries hash, KEYS[3] = deadlines zset,
-- KEYS[4] = events stream, KEYS[5] = offers stream, KEYS[6] = counts hash
-- ARGV[1] = now (ms), ARGV[2] = entry JSON {id, call_sid, queue, t0, qt, answered, kind,
-- phone, lang, conference}, ARGV[3] = the agent's profile JSON {id, identity, name, skills,
-- queues, calls, talk}, ARGV[4] = local day
-- Returns {'ok'} | {'noop', why}: the entry is known already, or the agent is on another
-- call or ringing (their page re-announced first and took one)
local k = {agents = KEYS[1], entries = KEYS[2], deadlines = KEYS[3], events = KEYS[4],
           offers = KEYS[5], counts = KEYS[6]}
local given = cjson.decode(ARGV[2])
local profile = cjson.decode(ARGV[3])
if get(k.entries, given.id) then return {'noop', 'known'} end
local agent = get(k.agents, tostring(profile.id))
if agent and (agent.call or agent.offer) then return {'noop', 'agent_taken'} end
if agent == nil then
  agent = {id = profile.id, state = 'offline', since = NOW, idle_since = NOW, calls = 0,
           talk = 0, misses = 0, offer = false, call = false, rr = {}, queues = {}}
end
local old = agent.state
count_state(k.counts, agent, old, nil)
agent.identity = profile.identity
agent.name = profile.name
agent.skills = profile.skills
agent.queues = profile.queues
count_state(k.counts, agent, nil, old)
if agent.day ~= ARGV[4] then
  agent.day = ARGV[4]
  agent.calls = tonumber(profile.calls) or 0
  agent.talk = tonumber(profile.talk) or 0
end
agent.call = given.id
agent.offer = false
agent.misses = 0
agent.after_call = false
set_state(k.counts, agent, 'busy')
put(k.agents, agent)
local entry = {id = given.id, call_sid = given.call_sid, queue = given.queue, sig = '',
               need = {}, prio = 0, t0 = given.t0, qt = given.qt, answered = given.answered,
               kind = given.kind or 'call', phone = given.phone or false,
               lang = given.lang or 'en-US', state = 'connected', agent = agent.id,
               offered = {agent.id}, declined = {}, conference = given.conference or false}
put(k.entries, entry)
emit(k.events, 'agent', {agent = agent.id, state = 'busy', reason = false, from = old,
                         restored = true})
emit(k.events, 'connected', {entry = entry.id, queue = entry.queue, agent = agent.id,
                             call_sid = entry.call_sid or false,
                             waited_ms = entry.answered - entry.qt, restored = true})
return {'ok'}
