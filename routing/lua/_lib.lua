-- Shared by every ACD script; prepended to each when it is registered (routing/scripts.py).
-- Conventions: ARGV[1] = now, in ms since routing.scripts.BASE (never TIME: rule 2).
-- Agents and entries are JSON documents in two hashes; the sorted sets are indexes whose
-- stale members are dropped when met (routing/keys.py).
local NOW = tonumber(ARGV[1])
local PRIO = 1e12 -- a score's primary part counts in these units; times are < 1e12 ms

local function get(hash, id)
  local raw = redis.call('HGET', hash, id)
  if raw then return cjson.decode(raw) end
  return nil
end

local function put(hash, doc)
  redis.call('HSET', hash, tostring(doc.id), cjson.encode(doc))
end

local function list(t) -- cjson turns an empty Lua table into {}: give arrays back as arrays
  if type(t) ~= 'table' then return {} end
  return t
end

local function contains(t, value)
  for _, v in ipairs(list(t)) do if tostring(v) == tostring(value) then return true end end
  return false
end

local function without(t, value)
  local out = {}
  for _, v in ipairs(list(t)) do if tostring(v) ~= tostring(value) then table.insert(out, v) end end
  return out
end

-- Does the agent have every skill the entry needs, at its level, and not have declined it?
local function satisfies(agent, entry)
  if contains(entry.declined, agent.id) then return false end
  for skill, level in pairs(entry.need or {}) do
    local have = (agent.skills or {})[skill]
    if have == nil or tonumber(have) < tonumber(level) then return false end
  end
  return true
end

local function entry_score(entry)
  return (2 - entry.prio) * PRIO + entry.t0
end

-- How the agent ranks among the ready agents of a queue: lowest first.
local function agent_score(agent, strategy, queue, levels)
  if strategy == 'round_robin' then
    return tonumber((agent.rr or {})[queue] or 0)
  elseif strategy == 'fewest_calls' then
    return math.min(agent.calls or 0, 8999) * PRIO + agent.idle_since
  elseif strategy == 'least_talk_time' then
    return math.min(math.floor((agent.talk or 0) / 10), 8999) * PRIO + agent.idle_since
  elseif strategy == 'skills_weighted' then
    return (100 - math.min(levels or 0, 100)) * PRIO + agent.idle_since
  end
  return agent.idle_since -- longest_idle and ring_all
end

-- The day's counters (``stats``): kept two days, as the day's why hash is (SQL keeps every
-- day; routing/recovery.py recounts today's from it when Redis lost its data).
local DAY_KEPT = 172800
local function stat(stats, field, by)
  redis.call('HINCRBY', stats, field, by)
  redis.call('EXPIRE', stats, DAY_KEPT)
end

local function emit(stream, kind, fields)
  fields.type = kind
  fields.at = NOW
  local doc = cjson.encode(fields)
  redis.call('XADD', stream, 'MAXLEN', '~', 10000, '*', 'e', doc)
  redis.call('PUBLISH', stream, doc)
end

-- Agent state counts per queue, kept as the states change (the wallboard reads them).
local function count_state(counts, agent, old, new)
  if old == new then return end
  for _, q in ipairs(list(agent.queues)) do
    if old then redis.call('HINCRBY', counts, q .. '|' .. old, -1) end
    if new then redis.call('HINCRBY', counts, q .. '|' .. new, 1) end
  end
end

local function set_state(counts, agent, state, reason)
  count_state(counts, agent, agent.state, state)
  agent.state = state
  agent.reason = reason or false
  agent.since = NOW
end

local function roll_day(agent, day)
  if agent.day ~= day then
    agent.day = day
    agent.calls = 0
    agent.talk = 0
  end
end

-- An agent's part of a connected call ends (the call ended, or the agent handed it over):
-- the queue's talk and handle time, the agent's day, then wrap-up (timed) or straight back
-- ('ready' in ``actions``). ``agent`` may be gone or on another call already: then only the
-- queue's figures count. Returns the agent's state afterwards, or 'gone'.
local function end_part(k, entry, agent, mine, wrap, day, stats, handle_times, actions)
  stat(stats, entry.queue .. '|talk_ms', mine)
  redis.call('LPUSH', handle_times, string.format('%.3f', (mine + wrap) / 1000))
  redis.call('LTRIM', handle_times, 0, 49)
  if not (agent and tostring(agent.call) == tostring(entry.id)) then return 'gone' end
  roll_day(agent, day)
  agent.call = false
  agent.last_call = entry.call_sid or false -- its wrap-up time goes to that call's row
  agent.last_queue = entry.queue -- whose rules (disposition_required) hold its wrap-up
  agent.wrap_from = NOW
  agent.calls = (agent.calls or 0) + 1
  agent.talk = (agent.talk or 0) + math.floor(mine / 1000)
  if agent.after_call == 'offline' then
    -- A supervisor signed the agent out during the call: out now, no wrap-up; the call's
    -- row still hears that its wrap-up ended (its draft is kept, crm_core/drafts.py).
    agent.after_call = false
    set_state(k.counts, agent, 'offline')
    if agent.last_call then
      table.insert(actions, cjson.encode({'wrapped', agent.last_call, tostring(agent.id), 0}))
    end
    agent.last_call = false
  elseif wrap > 0 then
    set_state(k.counts, agent, 'wrap_up')
    agent.wrap_until = NOW + wrap
    redis.call('ZADD', k.deadlines, NOW + wrap, 'wrap|' .. agent.id)
  else
    -- No wrap-up: it ends as it begins (the call's row hears so, crm_core/drafts.py).
    set_state(k.counts, agent, 'pending')
    if agent.last_call then
      table.insert(actions, cjson.encode({'wrapped', agent.last_call, tostring(agent.id), 0}))
    end
    table.insert(actions, cjson.encode({'ready', tostring(agent.id)}))
  end
  put(k.agents, agent)
  emit(k.events, 'agent', {agent = agent.id, state = agent.state, reason = false, from = 'busy'})
  return agent.state
end

-- Why this agent (for supervisors, routing/why.py): the agent's deciding values as they
-- were when the offer was made, kept in the day's why hash (k.why; none: not kept).
local function note_why(k, entry, agent, explanation)
  if not k.why then return end
  redis.call('HSET', k.why, entry.id .. '|' .. agent.id, cjson.encode({
    entry = entry.id, queue = entry.queue, agent = agent.id, name = agent.name or '',
    at = NOW, strategy = explanation.strategy, rule = explanation.rule,
    eligible = explanation.eligible or 1, by = explanation.by or false,
    idle_since = agent.idle_since or NOW, calls = agent.calls or 0, talk = agent.talk or 0,
    last_offered = (agent.rr or {})[entry.queue] or false,
    need = entry.need or {}, skills = agent.skills or {}}))
  redis.call('HSET', k.why, entry.id, tostring(agent.id))
  redis.call('EXPIRE', k.why, DAY_KEPT)
end

-- Offer an entry to an agent: both reserved, a deadline, an explanation, an event.
local function offer(k, entry, agent, timeout_ms, explanation)
  note_why(k, entry, agent, explanation)
  set_state(k.counts, agent, 'reserved')
  agent.offer = entry.id
  agent.rr = agent.rr or {}
  agent.rr[entry.queue] = NOW
  local offered = list(entry.offered)
  table.insert(offered, agent.id)
  entry.offered = offered
  if entry.state == 'waiting' then redis.call('HINCRBY', k.counts, entry.queue .. '|waiting', -1) end
  entry.state = 'offered'
  redis.call('ZADD', k.deadlines, NOW + timeout_ms, 'offer|' .. entry.id .. '|' .. agent.id)
  explanation.entry = entry.id
  explanation.call_sid = entry.call_sid or false
  explanation.queue = entry.queue
  explanation.agent = agent.id
  explanation.kind = 'offer'
  explanation.at = NOW
  redis.call('XADD', k.offers, 'MAXLEN', '~', 100000, '*', 'e', cjson.encode(explanation))
  emit(k.events, 'offer', {entry = entry.id, queue = entry.queue, agent = agent.id,
                           call_sid = entry.call_sid or false})
  return {'offer', entry.id, tostring(agent.id), agent.identity, entry.call_sid or '',
          entry.kind, entry.phone or ''}
end

-- The first valid entry of a waiting index, dropping stale members on the way.
local function head(k, wait_key, queue, sig, agent)
  while true do
    local top = redis.call('ZRANGE', wait_key, 0, 0)
    if #top == 0 then return nil end
    local entry = get(k.entries, top[1])
    if entry and entry.state == 'waiting' and entry.queue == queue and entry.sig == sig then
      if agent == nil or satisfies(agent, entry) then return entry end
      -- Valid, but not for this agent: look further down for one it can take.
      local rest = redis.call('ZRANGE', wait_key, 1, 200)
      for _, id in ipairs(rest) do
        local e = get(k.entries, id)
        if e and e.state == 'waiting' and e.queue == queue and e.sig == sig
           and satisfies(agent, e) then
          return e
        end
      end
      return nil
    end
    redis.call('ZREM', wait_key, top[1])
  end
end
