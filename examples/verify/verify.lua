-- examples/verify/verify.lua: verification-code calls.
--
-- A back office asks ivrd to call a number with a code, through the admin
-- API or `ivrd call`:
--
--   POST /api/v1/calls  {"to": "13800000001", "flow": "verify",
--                        "vars": {"code": "4821"}, "secret": ["code"],
--                        "retry": {"attempts": 3, "delay": "30s"}}
--
-- When the callee answers they hear "your code is", the code three times,
-- then "press 1 to hear it again". The code is marked secret (ivr.verify
-- does it first thing): logs, history and the console show [secret].
--
-- A call that nobody answers is tried again as the request's retry policy
-- says; when the job gives up, failed(job, reason) counts it, so the back
-- office can fall back to a text message.

local verify = require "ivr.verify"

local flow = {}

function flow.answered(call)
  local status, why = verify.run(call, {
    code = call.vars.code,
    prompt = "user_code_is",
    repeat_prompt = "user_repeat",
    max_repeats = 3,
    bye = "user_bye",
  })
  if status == "heard" then
    ivr.store.incr("delivered")
    call:hangup()
    return
  end
  -- The callee hung up before the end: not delivered. Calling again
  -- would read the code to someone who did not want it twice; count it.
  ivr.log.info("code not heard to the end", { why = why })
  ivr.store.incr("cut_short")
end

function flow.failed(job, reason)
  ivr.log.warn("verification code not delivered", { to = job.to, reason = reason, attempts = job.attempts })
  ivr.store.incr("undelivered")
  ivr.store.incr("undelivered:" .. reason)
end

return flow
