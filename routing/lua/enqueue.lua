-- A caller (or a kept place for a callback) joins a queue, or tries again for an agent.
-- KEYS[1] = agents hash, KEYS[2] = entries hash, KEYS[3] = deadlines zset,
-- KEYS[4] = events stream, KEYS[5] = offers stream, KEYS[6] = counts hash,
-- KEYS[7] = signatures version, KEYS[8] = the queue's signatures set,
-- KEYS[9] = the waiting zset for the entry's queue and skills, KEYS[10] = the ready zset of
-- the same queue and skills, KEYS[11] = the day's stats hash, KEYS[12] = the queue's ready
-- zset (all its ready agents), KEYS[13] = the day's why hash
-- ARGV[1] = now (ms), ARGV[2] = entry JSON {id, call_sid, queue, sig, need, prio, t0, kind,
-- phone}, ARGV[3] = offer timeout (ms), ARGV[4] = agents to ring at once (1; ring-all: N),
-- ARGV[5] = strategy, ARGV[6] = max wait (ms, 0 = none), ARGV[7] = escalation after (ms,
-- 0 = none), ARGV[8] = "1": answer 'empty' if no agent of the queue is logged in,
-- ARGV[9] = "new" (join) or "retry" (an entry already waiting looks for an agent again),
-- ARGV[10] = JSON {required, need}: the queue's and the entry's skills (for a new ready set)
-- Returns {'ok', state, actions...} | {'empty'}
local k = {agents = KEYS[1], entries = KEYS[2], deadlines = KEYS[3], events = KEYS[4],
           offers = KEYS[5], counts = KEYS[6], why = KEYS[13]}
local given = cjson.decode(ARGV[2])
local timeout, want, strategy = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local entry = get(k.entries, given.id)

if ARGV[9] == 'retry' then
  if entry == nil or entry.state ~= 'waiting' then
    return {'ok', entry and entry.state or 'gone'}
  end
else
  if entry ~= nil then return {'ok', entry.state} end -- the same caller enqueued twice
  if ARGV[8] == '1' then
    local logged_in = 0
    for _, s in ipairs({'available', 'reserved', 'busy', 'wrap_up', 'pending', 'away'}) do
      logged_in = logged_in + tonumber(redis.call('HGET', k.counts, given.queue .. '|' .. s) or 0)
    end
    if logged_in <= 0 then return {'empty'} end
  end
  entry = given
  entry.state = 'waiting'
  entry.qt = NOW
  entry.offered = {}
  entry.declined = {}
  stat(KEYS[11], entry.queue .. '|entered', 1)
  redis.call('HINCRBY', k.counts, entry.queue .. '|waiting', 1)
  if tonumber(ARGV[6]) > 0 then
    redis.call('ZADD', k.deadlines, NOW + tonumber(ARGV[6]), 'maxwait|' .. entry.id)
  end
  if tonumber(ARGV[7]) > 0 then
    redis.call('ZADD', k.deadlines, NOW + tonumber(ARGV[7]), 'escalate|' .. entry.id)
  end
  emit(k.events, 'enqueued', {entry = entry.id, queue = entry.queue, prio = entry.prio,
                              call_sid = entry.call_sid or false})
end

-- A signature seen for the first time: its ready set starts as the queue's ready agents who
-- have those skills (once; afterwards presence keeps it, as the version tells it to).
if entry.sig ~= '' and redis.call('SADD', KEYS[8], entry.sig) == 1 then
  redis.call('INCR', KEYS[7])
  local skills = cjson.decode(ARGV[10])
  for _, id in ipairs(redis.call('ZRANGE', KEYS[12], 0, -1)) do
    local agent = get(k.agents, id)
    if agent and agent.state == 'available' and satisfies(agent, {need = entry.need}) then
      local lv = 0
      local names = {}
      for name, _ in pairs(skills.required or {}) do names[name] = true end
      for name, _ in pairs(entry.need or {}) do names[name] = true end
      for name, _ in pairs(names) do lv = lv + tonumber((agent.skills or {})[name] or 0) end
      redis.call('ZADD', KEYS[10], agent_score(agent, strategy, entry.queue, lv), id)
    end
  end
elseif entry.sig == '' and redis.call('SADD', KEYS[8], '') == 1 then
  redis.call('INCR', KEYS[7])
end

-- Pick from the ready index, best score first, checking each hit against the agent hash.
local chosen, considered, start, size = {}, {}, 0, math.max(want, 1)
while #chosen < want do
  local batch = redis.call('ZRANGE', KEYS[10], start, start + size - 1, 'WITHSCORES')
  size = math.min(size * 8, 256)
  if #batch == 0 then break end
  local dropped = 0
  for i = 1, #batch, 2 do
    local agent = get(k.agents, batch[i])
    if agent == nil or agent.state ~= 'available' then
      redis.call('ZREM', KEYS[10], batch[i])
      dropped = dropped + 1
    else
      local ok = satisfies(agent, entry)
      if #considered < 5 then
        table.insert(considered, {agent = agent.id, score = tonumber(batch[i + 1]),
                                  eligible = ok})
      end
      if ok then
        table.insert(chosen, agent)
        if #chosen >= want then break end
      end
    end
  end
  start = start + #batch / 2 - dropped
end

local RULES = {
  longest_idle = 'longest idle among the ready agents',
  round_robin = 'least recently offered a call in this queue',
  fewest_calls = 'fewest calls today, then longest idle',
  least_talk_time = 'least talk time today, then longest idle',
  skills_weighted = 'highest skill level, then longest idle',
  ring_all = 'every ready agent at once (up to ' .. want .. '); the first to accept wins',
}
local out = {'ok'}
local actions = {}
if #chosen > 0 then
  -- How many could have taken it (for supervisors): the ready index of the caller's queue
  -- and skills, counted in O(1) (a scan of agent records here would slow every offer).
  local eligible = redis.call('ZCARD', KEYS[10])
  redis.call('ZREM', KEYS[9], entry.id)
  for _, agent in ipairs(chosen) do
    table.insert(actions, offer(k, entry, agent, timeout, {
      strategy = strategy, rule = RULES[strategy] or strategy, candidates = considered,
      eligible = math.max(eligible, #chosen)}))
    put(k.agents, agent)
  end
else
  redis.call('ZADD', KEYS[9], entry_score(entry), entry.id)
end
put(k.entries, entry)
table.insert(out, entry.state)
for _, a in ipairs(actions) do table.insert(out, cjson.encode(a)) end
return out
