-- A connected call changes hands. The agent's part ends as a call does for them (counted,
-- then wrap-up or straight back), and another agent takes the caller: at once ('connect',
-- a warm transfer: the colleague is already on the line) or as an offer that rings them
-- ('offer', a cold transfer: declined or unanswered, release.lua puts the caller back in
-- its queue with its original time). The queue's answered count is not touched: the call
-- was answered once; accept.lua knows a transferred entry by entry.transfer.
-- KEYS[1] = agents hash, KEYS[2] = entries hash, KEYS[3] = deadlines zset,
-- KEYS[4] = events stream, KEYS[5] = offers stream, KEYS[6] = counts hash,
-- KEYS[7] = the queue's handle-time list, KEYS[8] = the day's stats hash,
-- KEYS[9] = the day's why hash
-- ARGV[1] = now (ms), ARGV[2] = entry id, ARGV[3] = the agent handing over,
-- ARGV[4] = the agent taking over, ARGV[5] = 'connect' or 'offer', ARGV[6] = wrap-up (ms),
-- ARGV[7] = local day, ARGV[8] = offer timeout (ms), ARGV[9] = the states the agent
-- taking over may be in (comma list), ARGV[10] = the queue's strategy,
-- ARGV[11] = 'connect': the conference SID the call goes on in
-- Returns {'ok', talked ms (the first agent's part), its agent state, actions...} |
-- {'error', 'not_connected' | 'unavailable', detail}
local k = {agents = KEYS[1], entries = KEYS[2], deadlines = KEYS[3], events = KEYS[4],
           offers = KEYS[5], counts = KEYS[6], why = KEYS[9]}
local entry = get(k.entries, ARGV[2])
if entry == nil or entry.state ~= 'connected' or tostring(entry.agent) ~= ARGV[3] then
  return {'error', 'not_connected', entry and entry.state or 'gone'}
end
local to = get(k.agents, ARGV[4])
local allowed = false
if to and not to.offer and not to.call then
  for s in string.gmatch(ARGV[9], '[^,]+') do
    if s == to.state then allowed = true end
  end
end
if not allowed then return {'error', 'unavailable', to and to.state or 'offline'} end

-- The first agent's part: as call_ended.lua ends a call for its agent.
local mine = NOW - (entry.taken or entry.answered)
local wrap = tonumber(ARGV[6])
local actions = {}
local from_state = end_part(k, entry, get(k.agents, ARGV[3]), mine, wrap, ARGV[7], KEYS[8],
                            KEYS[7], actions)
entry.before = (entry.before or 0) + mine
entry.taken = NOW
entry.transfer = tonumber(ARGV[3]) or ARGV[3]

local how = ARGV[5] == 'connect' and 'a warm transfer' or 'a cold transfer'
local explanation = {strategy = ARGV[10], rule = how .. ' from agent ' .. ARGV[3],
                     candidates = {{agent = to.id, eligible = true}}, eligible = 1,
                     by = entry.transfer}
if ARGV[5] == 'connect' then
  local old = to.state
  note_why(k, entry, to, explanation)
  to.offer = false
  to.call = entry.id
  to.misses = 0
  set_state(k.counts, to, 'busy')
  put(k.agents, to)
  entry.agent = to.id
  entry.offered = {to.id}
  entry.conference = ARGV[11]
  emit(k.events, 'agent', {agent = to.id, state = 'busy', reason = false, from = old})
  emit(k.events, 'connected', {entry = entry.id, queue = entry.queue, agent = to.id,
                               call_sid = entry.call_sid or false, waited_ms = 0,
                               transfer = entry.transfer})
else
  entry.agent = false
  entry.offered = {}
  entry.conference = false
  table.insert(actions, cjson.encode(offer(k, entry, to, tonumber(ARGV[8]), explanation)))
  put(k.agents, to)
end
put(k.entries, entry)
emit(k.events, 'transferred', {entry = entry.id, queue = entry.queue, from = entry.transfer,
                               agent = to.id, mode = ARGV[5], talked_ms = mine})
local out = {'ok', tostring(mine), from_state}
for _, a in ipairs(actions) do table.insert(out, a) end
return out
