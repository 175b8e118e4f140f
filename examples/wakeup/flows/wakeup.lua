-- examples/wakeup/flows/wakeup.lua: hotel wake-up calls, built with
-- ivr.wakeup.
--
-- Booking: a guest dials the wake-up line and hears user_wakeup_time
-- ("enter the time as four digits, like 0 6 3 0"). A time that is not one
-- (2500, 0678) plays user_invalid and asks again. The booking is read back
-- (user_wakeup_booked, then the four digits) and a job is scheduled for
-- the next time the hotel's clock shows it, calling back the number the
-- guest called from.
--
-- The wake-up call: user_wakeup ("good morning … press 1 if you are
-- awake, 2 for five more minutes, 3 for ten"). 1 confirms
-- (user_wakeup_confirm: "have a nice day"); 2 and 3 book the call again
-- that much later. No key, or no answer, is tried again: three attempts,
-- five minutes apart. When all three fail, failed(job, reason) calls the
-- duty manager (flows/frontdesk.lua) to go and knock.
--
-- ivr.store counts the bookings and their ends: booked, confirmed,
-- snoozed, missed.

local wakeup = require "ivr.wakeup"

-- The hotel's clock: China Standard Time, UTC+8.
local UTC_OFFSET = 8
-- Who hears about a guest the wake-up call could not wake.
local DUTY_MANAGER = "13700000000"
-- Three attempts, five minutes apart: a sleeping guest gets three rings.
local RETRY = { attempts = 3, delay = 300 }

local flow = {}

-- valid_time checks a typed HHMM.
local function valid_time(hhmm)
  local h, m = tonumber(string.sub(hhmm, 1, 2)), tonumber(string.sub(hhmm, 3, 4))
  return h ~= nil and m ~= nil and h <= 23 and m <= 59
end

function flow.incoming(call)
  local hhmm
  for _ = 1, 3 do
    local typed, why = call:gather{ prompt = "user_wakeup_time", min = 4, max = 4, timeout = 8,
                                    valid = "%d%d%d%d", invalid_prompt = "user_invalid",
                                    noinput_prompt = "user_noinput", tries = 2 }
    if not typed then
      if why ~= "hangup" then
        call:play("user_bye")
      end
      return
    end
    if valid_time(typed) then
      hhmm = typed
      break
    end
    call:play("user_invalid")
  end
  if not hhmm then
    call:play("user_bye")
    return
  end
  local job = wakeup.schedule{
    to = call.from, time = hhmm, utc_offset = UTC_OFFSET,
    vars = { guest = call.from, time = hhmm }, retry = RETRY,
  }
  ivr.store.incr("booked")
  ivr.log.info("wake-up booked", { time = hhmm, job = job })
  call:play("user_wakeup_booked")
  call:say_digits(hhmm)
  call:play("user_bye")
end

function flow.answered(call)
  local result = wakeup.answered(call, {
    prompt = "user_wakeup",
    confirm = "1",
    snooze = { ["2"] = 5, ["3"] = 10 },
    tries = 2,
    noinput_prompt = "user_noinput",
    invalid_prompt = "user_invalid",
    confirmed_prompt = "user_wakeup_confirm",
    snoozed_prompt = "user_bye",
    dial = { retry = RETRY },
  })
  if result ~= "retry" then
    ivr.store.incr(result) -- confirmed, snoozed
  end
  return result
end

function flow.failed(job, reason)
  ivr.store.incr("missed")
  wakeup.failed(job, reason, { fallback = DUTY_MANAGER, fallback_flow = "frontdesk" })
end

return flow
