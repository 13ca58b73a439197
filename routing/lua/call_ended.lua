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
local state = end_part(k, entry, agent, mine, wrap, ARGV[4], KEYS[7], KEYS[6], actions)
emit(k.events, 'ended', {entry = entry.id, queue = entry.queue, agent = entry.agent,
                         call_sid = entry.call_sid or false, talked_ms = talked})
local out = {'ok', tostring(entry.answered - entry.qt), tostring(talked),
             tostring(entry.agent), state}
for _, a in ipairs(actions) do table.insert(out, a) end
return out
