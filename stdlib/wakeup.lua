-- ivr.wakeup: hotel wake-up calls on ivr.dial.
--
--   local wakeup = require "ivr.wakeup"
--   local flow = {}
--   function flow.incoming(call)             -- a guest books one
--     local hhmm = call:gather{ prompt = "user_wakeup", min = 4, max = 4 }
--     if hhmm then
--       wakeup.schedule{ to = call.from, time = hhmm, utc_offset = 8, vars = { room = call.from } }
--     end
--   end
--   function flow.answered(call)
--     return wakeup.answered(call, { prompt = "user_wakeup", confirm = "1",
--                                    snooze = { ["2"] = 5, ["3"] = 10 } })
--   end
--   function flow.failed(job, reason)
--     wakeup.failed(job, reason, { fallback = "8000", fallback_flow = "frontdesk" })
--   end
--   return flow
--
-- wakeup.answered plays the prompt and waits for a key: the confirm key
-- ends the job ("confirmed"); a snooze key schedules the same wake-up
-- again that many minutes from now — same number, flow and vars, with
-- vars.snoozes counting — and ends this one ("snoozed"); anything else,
-- after tries attempts, or a hang-up, returns "retry", which answered(call)
-- passes on so the job's retry policy calls again.
--
-- wakeup.failed, for failed(job, reason), calls the front desk (fallback)
-- with fallback_flow: its call.vars are the job's vars with failed_wakeup
-- = { job =, to =, reason =, attempts = } added.

local U = require "ivr._util"

local wakeup = {}

local function snooze_check(v)
  if type(v) ~= "table" then
    return 'must be a table of keys and minutes like { ["2"] = 5 }, not ' .. U.describe(v)
  end
  for k, m in pairs(v) do
    if U.key(k) then
      return string.format("keys must be single keys like \"2\", not %s", U.describe(k))
    end
    if type(m) ~= "number" or m ~= math.floor(m) or m < 1 or m > 720 then
      return string.format("[%q] must be whole minutes within 1–720, not %s", k, U.describe(m))
    end
  end
  return nil
end

local answered_fields = U.spec("wakeup.answered", {
  prompt = { U.prompt, required = true },
  confirm = { U.key },
  snooze = { snooze_check },
  tries = { U.count(1, 20) },
  timeout = { U.seconds },
  invalid_prompt = { U.prompt },
  noinput_prompt = { U.prompt },
  confirmed_prompt = { U.prompt },
  snoozed_prompt = { U.prompt },
  to = { U.string },
  dial = { U.table },
})

-- dial_request builds an ivr.dial request from ours, then the flow's extra
-- dial options over it.
local function dial_request(base, extra)
  local req = U.copy(base)
  if extra then
    for k, v in pairs(extra) do
      req[k] = v
    end
  end
  return req
end

-- answered runs the wake-up call; see the file comment.
function wakeup.answered(call, opts)
  U.check_call("wakeup.answered", call)
  U.check("wakeup.answered", opts, answered_fields)
  local confirm = opts.confirm or "1"
  local snooze = opts.snooze or {}
  if snooze[confirm] then
    U.fail("wakeup.answered: snooze: %q is also the confirm key", confirm)
  end
  local keys = U.sorted_keys(snooze)
  table.insert(keys, 1, confirm)
  local key, why = call:gather({
    prompt = opts.prompt,
    max = 1,
    tries = opts.tries or 3,
    timeout = opts.timeout or 5,
    valid = "[" .. table.concat(keys) .. "]",
    invalid_prompt = opts.invalid_prompt,
    noinput_prompt = opts.noinput_prompt,
  })
  if not key then
    ivr.log.info("wake-up not confirmed", { reason = why })
    return "retry"
  end
  if key == confirm then
    if opts.confirmed_prompt then
      call:play(opts.confirmed_prompt)
    end
    return "confirmed"
  end
  local minutes = snooze[key]
  local vars = U.copy(call.vars)
  vars.snoozes = (tonumber(vars.snoozes) or 0) + 1
  local at = ivr.now() + minutes * 60
  local job = U.relay("wakeup.answered", ivr.dial, dial_request({ to = opts.to or call.to, vars = vars, at = at }, opts.dial))
  ivr.log.info("wake-up snoozed", { minutes = minutes, job = job })
  if opts.snoozed_prompt then
    call:play(opts.snoozed_prompt)
  end
  return "snoozed"
end

local failed_fields = U.spec("wakeup.failed", {
  fallback = { U.string, required = true },
  fallback_flow = { U.string, required = true },
  dial = { U.table },
})

-- failed calls the front desk about a wake-up job that gave up and returns
-- the new job's id.
function wakeup.failed(job, reason, opts)
  if type(job) ~= "table" or job.id == nil then
    U.fail("wakeup.failed: the first argument must be the job failed(job, reason) was given, not %s",
      U.describe(job))
  end
  U.check("wakeup.failed", opts, failed_fields)
  local vars = {}
  if type(job.vars) == "table" then
    vars = U.copy(job.vars)
  end
  vars.failed_wakeup = { job = job.id, to = job.to, reason = reason, attempts = job.attempts }
  local id = U.relay("wakeup.failed", ivr.dial, dial_request({ to = opts.fallback, flow = opts.fallback_flow, vars = vars }, opts.dial))
  ivr.log.warn("wake-up call failed; calling the front desk",
    { job = job.id, to = job.to, reason = reason, fallback = opts.fallback, fallback_job = id })
  return id
end

local function time_check(v)
  if type(v) ~= "string" or not string.match(v, "^%d%d:?%d%d$") then
    return 'must be a time of day like "0630" or "06:30", not ' .. U.describe(v)
  end
  local h, m = string.match(v, "^(%d%d):?(%d%d)$")
  if tonumber(h) > 23 or tonumber(m) > 59 then
    return 'must be a time of day like "0630" or "06:30", not ' .. U.describe(v)
  end
  return nil
end

local function at_check(v)
  if type(v) ~= "number" or v ~= v or v < 0 then
    return "must be a time in seconds, as ivr.now() gives, not " .. U.describe(v)
  end
  return nil
end

local function offset_check(v)
  if type(v) ~= "number" or v < -14 or v > 14 then
    return "must be a number of hours within -14–14, not " .. U.describe(v)
  end
  return nil
end

local schedule_fields = U.spec("wakeup.schedule", {
  to = { U.string, required = true },
  time = { time_check },
  at = { at_check },
  utc_offset = { offset_check },
  vars = { U.table },
  flow = { U.string },
  retry = { U.table },
  dial = { U.table },
})

-- DEFAULT_RETRY calls a sleeping guest three times, five minutes apart.
local DEFAULT_RETRY = { attempts = 3, delay = 300 }

-- next_time returns the epoch seconds of the next hh:mm, local time at
-- utc_offset hours, after now.
function wakeup.next_time(hhmm, utc_offset, now)
  local err = time_check(hhmm)
  if err then
    U.fail("wakeup.next_time: the time %s", err)
  end
  utc_offset = utc_offset or 0
  err = offset_check(utc_offset)
  if err then
    U.fail("wakeup.next_time: utc_offset %s", err)
  end
  now = now or ivr.now()
  local h, m = string.match(hhmm, "^(%d%d):?(%d%d)$")
  local offset = utc_offset * 3600
  local local_now = now + offset
  local midnight = math.floor(local_now / 86400) * 86400
  local t = midnight + tonumber(h) * 3600 + tonumber(m) * 60
  if t <= local_now then
    t = t + 86400
  end
  return t - offset
end

-- schedule books a wake-up call: at the next time (hh:mm local at
-- utc_offset) or at the epoch time at; it returns the job id and when it
-- is due. retry defaults to three attempts five minutes apart; flow to
-- this flow.
function wakeup.schedule(opts)
  U.check("wakeup.schedule", opts, schedule_fields)
  if (opts.time == nil) == (opts.at == nil) then
    U.fail("wakeup.schedule: give exactly one of time and at")
  end
  local at = opts.at or wakeup.next_time(opts.time, opts.utc_offset)
  local req = { to = opts.to, at = at, vars = opts.vars, flow = opts.flow, retry = opts.retry or DEFAULT_RETRY }
  local id = U.relay("wakeup.schedule", ivr.dial, dial_request(req, opts.dial))
  return id, at
end

return wakeup
