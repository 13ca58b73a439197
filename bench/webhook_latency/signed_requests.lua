-- wrk script for bench/webhook_latency.py: replays pre-signed Twilio webhook POSTs.
-- args[1] = path of the request file: one request a line, "PATH<TAB>SIGNATURE<TAB>BODY"
--           (BODY is already form-urlencoded, so it holds no tab or newline)
-- args[2] = "shared": every thread cycles through all the lines (one line: the same signed
--           request again and again; two lines: voice, status, voice, status, ...)
--           "split": thread i of n takes the i-th contiguous block of lines (unique CallSids
--           per thread; the blocks start on an even line so voice/status pairs stay together)
-- args[3] = how many wrk threads there are (-t), for "split"
-- args[4] = how many lines the file has, for "split"
-- Every request is formatted once in init(); request() only hands the next string back, so
-- the Lua side costs the same whichever app is measured.

local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

local requests = {}
local position = 0

function init(args)
  local path, mode = args[1], args[2] or "shared"
  local threads, count = tonumber(args[3] or "1"), tonumber(args[4] or "0")
  local first, last = 1, math.huge
  if mode == "split" and threads > 1 then
    local block = math.floor(count / threads / 2) * 2
    if block < 2 then
      error("request file too short for " .. threads .. " threads")
    end
    first = thread_id * block + 1
    last = first + block - 1
  end
  local lines, n = {}, 0
  for line in io.lines(path) do
    n = n + 1
    if n > last then
      break
    end
    if n >= first then
      lines[#lines + 1] = line
    end
  end
  for i = 1, #lines do
    local path_part, signature, body = lines[i]:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    if path_part == nil then
      error("bad request line " .. (first + i - 1) .. " in " .. path)
    end
    requests[#requests + 1] = wrk.format("POST", path_part, {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["User-Agent"] = "TwilioProxy/1.1",
      ["X-Twilio-Signature"] = signature,
    }, body)
  end
  if #requests == 0 then
    error("no requests in " .. path)
  end
end

function request()
  position = position % #requests + 1
  return requests[position]
end
