-- examples/wakeup/flows/frontdesk.lua: tells the duty manager about a
-- wake-up call nobody answered.
--
-- wakeup.lua's failed(job, reason) dials the duty manager into this flow
-- with the guest's details in call.vars.failed_wakeup: they hear
-- user_wakeup_missed ("a guest did not answer their wake-up call; the
-- number is"), the guest's number digit by digit, then the time booked.

local flow = {}

function flow.answered(call)
  local missed = call.vars.failed_wakeup or {}
  call:play("user_wakeup_missed")
  if missed.to and missed.to ~= "" then
    call:say_digits(missed.to)
  end
  if call.vars.time then
    call:play("user_wakeup_booked")
    call:say_digits(call.vars.time)
  end
  call:play("user_bye")
  call:hangup()
end

function flow.failed(job, reason)
  ivr.log.error("the duty manager could not be told of a missed wake-up call", { reason = reason })
end

return flow
