-- After Redis lost its data (routing/recovery.py): an agent who took calls today gets back
-- the day's figures (calls, talk) the wallboard's agent table shows, counted from SQL. The
-- agent stays offline, not heard from since the rebuild (``since`` false: the desk's page
-- posts its presence again on seeing that); an agent whose page did so first keeps its
-- state, and its figures are set the same.
-- KEYS[1] = agents hash, KEYS[2] = counts hash
-- ARGV[1] = now (ms), ARGV[2] = the agent's profile JSON {id, identity, name, skills,
-- queues, calls, talk}, ARGV[3] = local day
-- Returns {'ok', state}
local profile = cjson.decode(ARGV[2])
local agent = get(KEYS[1], tostring(profile.id))
if agent == nil then
  agent = {id = profile.id, state = 'offline', since = false, idle_since = NOW, misses = 0,
           offer = false, call = false, rr = {}, identity = profile.identity,
           name = profile.name, skills = profile.skills, queues = profile.queues}
  count_state(KEYS[2], agent, nil, 'offline')
end
if agent.day ~= ARGV[3] or tonumber(agent.calls or 0) < tonumber(profile.calls) then
  agent.day = ARGV[3]
  agent.calls = tonumber(profile.calls) or 0
  agent.talk = tonumber(profile.talk) or 0
end
put(KEYS[1], agent)
return {'ok', agent.state}
