-- An agent's presence changes; on becoming available, the agent takes the best waiting call.
-- KEYS[1] = agents hash, KEYS[2] = entries hash, KEYS[3] = deadlines zset,
-- KEYS[4] = events stream, KEYS[5] = offers stream, KEYS[6] = counts hash,
-- KEYS[7] = signatures version, KEYS[8 .. 7+R] = the agent's ready zsets,
-- KEYS[8+R .. 7+R+W] = the waiting zsets of the agent's queues it has the skills for,
-- KEYS[8+R+W] = the day's why hash
-- ARGV[1] = now (ms), ARGV[2] = agent id, ARGV[3] = new state (available, away, offline),
-- ARGV[4] = reason code, ARGV[5] = states it may come from ("*" = any of the usual),
-- ARGV[6] = profile JSON {identity, name, skills, queues}, ARGV[7] = local day,
-- ARGV[8] = signatures version the waiting keys were built from, ARGV[9] = R, ARGV[10] = W,
-- ARGV[11] = JSON [{q, st, lv}] per ready key, ARGV[12] = JSON [{q, sig, timeout, st}] per
-- waiting key, ARGV[13] = "1": a supervisor signs the agent out whatever the state (on a
-- call: out when it ends, state 'offline_after_call')
-- Returns {'ok', state, actions...} | {'error', code, from state, to state} | {'stale'}
local k = {agents = KEYS[1], entries = KEYS[2], deadlines = KEYS[3], events = KEYS[4],
           offers = KEYS[5], counts = KEYS[6]}
if ARGV[3] == 'available' and (redis.call('GET', KEYS[7]) or '0') ~= ARGV[8] then
  return {'stale'}
end
local id, state, reason, expect = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local profile = cjson.decode(ARGV[6])
local R, W = tonumber(ARGV[9]), tonumber(ARGV[10])
k.why = KEYS[8 + R + W]
local ready_desc, wait_desc = cjson.decode(ARGV[11]), cjson.decode(ARGV[12])

local agent = get(k.agents, id)
if agent == nil then
  agent = {id = tonumber(id) or id, state = 'offline', since = NOW, idle_since = NOW,
           calls = 0, talk = 0, misses = 0, offer = false, call = false, rr = {}, queues = {}}
end
local old = agent.state
local usual = {offline = {offline = 1, available = 1, away = 1},
               available = {available = 1, away = 1, offline = 1},
               away = {available = 1, away = 1, offline = 1},
               wrap_up = {available = 1, away = 1, offline = 1},
               pending = {available = 1, away = 1, offline = 1}}
if expect ~= '*' then
  local allowed = false
  for from in string.gmatch(expect, '[^,]+') do if from == old then allowed = true end end
  if not allowed then return {'ok', old} end -- someone else moved the agent first: no change
end
if ARGV[13] == '1' and state == 'offline' and old == 'busy' then
  agent.after_call = 'offline'
  put(k.agents, agent)
  emit(k.events, 'agent', {agent = agent.id, state = old, reason = false, from = old,
                           after_call = 'offline'})
  return {'ok', 'offline_after_call'}
end
if not (usual[old] and usual[old][state]) then
  return {'error', 'illegal_transition', old, state}
end
agent.after_call = false

local actions = {}
-- The profile (skills, queues) may have changed since the last presence: recount.
count_state(k.counts, agent, old, nil)
agent.identity = profile.identity
agent.name = profile.name
agent.skills = profile.skills
agent.queues = profile.queues
count_state(k.counts, agent, nil, old)
roll_day(agent, ARGV[7])

if old == 'wrap_up' then
  redis.call('ZREM', k.deadlines, 'wrap|' .. id)
  if agent.last_call then
    table.insert(actions, {'wrapped', agent.last_call, tostring(agent.id),
                           NOW - (agent.wrap_from or NOW)})
  end
  agent.last_call = false
  agent.last_queue = false
end
if state ~= 'available' or old ~= 'available' then set_state(k.counts, agent, state, reason) end
if state ~= 'available' then
  put(k.agents, agent)
  emit(k.events, 'agent', {agent = agent.id, state = state, reason = reason, from = old})
  local out = {'ok', state}
  for _, a in ipairs(actions) do table.insert(out, cjson.encode(a)) end
  return out
end

if old ~= 'available' then agent.idle_since = NOW end
if old == 'offline' or old == 'away' then agent.misses = 0 end
for i = 1, R do
  local d = ready_desc[i]
  redis.call('ZADD', KEYS[7 + i], agent_score(agent, d.st, d.q, d.lv), agent.id)
end

-- The best call this agent can take now: highest priority, then the longest waiting.
local best, best_score, best_desc, best_key = nil, nil, nil, nil
for i = 1, W do
  local key, d = KEYS[7 + R + i], wait_desc[i]
  local entry = head(k, key, d.q, d.sig, agent)
  if entry then
    local score = entry_score(entry)
    if best == nil or score < best_score then
      best, best_score, best_desc, best_key = entry, score, d, key
    end
  end
end
if best ~= nil then
  redis.call('ZREM', best_key, best.id)
  table.insert(actions, offer(k, best, agent, best_desc.timeout, {
    strategy = best_desc.st, rule = 'an agent became available and took the call of '
      .. 'highest priority that waited longest among its queues it has the skills for',
    eligible = 1,
    candidates = {{agent = agent.id, score = best_score, eligible = true}}}))
  put(k.entries, best)
end
put(k.agents, agent)
if old ~= 'available' then
  emit(k.events, 'agent', {agent = agent.id, state = 'available', reason = false, from = old})
end
local out = {'ok', agent.state}
for _, a in ipairs(actions) do table.insert(out, cjson.encode(a)) end
return out
