-- A holding caller hangs up and keeps their place: the entry stays where it is, as a
-- callback to their number (callback-in-queue).
-- KEYS[1] = entries hash, KEYS[2] = events stream
-- ARGV[1] = now (ms), ARGV[2] = entry id, ARGV[3] = the number to call back (E.164)
-- Returns {'ok'} | {'noop', state}
local entry = get(KEYS[1], ARGV[2])
if entry == nil then return {'noop', 'gone'} end
if entry.state ~= 'waiting' or entry.kind ~= 'call' then return {'noop', entry.state} end
entry.kind = 'callback'
entry.phone = ARGV[3]
entry.attempts = 0
put(KEYS[1], entry)
emit(KEYS[2], 'callback_requested', {entry = entry.id, queue = entry.queue})
return {'ok'}
