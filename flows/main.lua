-- flows/main.lua: the menu a default install answers calls with.
--
-- A caller hears a welcome, then a menu of one key:
--   1  reception (extension 201), or the operator when it cannot answer
--   2  the restaurant (extension 202); when it is busy, the caller is
--      offered the operator instead
--   3  a thank-you, then goodbye
--   0  the operator (extension 200)
-- A caller who presses nothing, or only wrong keys, three times is put
-- through to the operator: someone who cannot use the menu needs a person.
--
-- It uses only the prompts and extensions of a default simulator (`ivrd sim`)
-- or of an OM with the same uploads: user_welcome, user_menu, user_invalid,
-- user_noinput, user_busy, user_thanks, user_bye; extensions 200–209.
-- Transfers name extensions rather than groups, because group ids are
-- assigned on each site's device.
--
-- ivrd loads every flows/<name>.lua; routes in ivrd.toml say which calls
-- run which flow. Edit this file while ivrd runs: new calls get the new
-- version once it compiles, calls in progress keep the one they started
-- with, and a version that does not compile is refused (the log says
-- file:line) while the previous one goes on serving.

local OPERATOR = "200"
local RECEPTION = "201"
local RESTAURANT = "202"

local flow = {}

-- Puts the caller through to the operator. When the operator cannot take
-- the call either, the caller hears goodbye and the call ends.
local function operator(call)
  local ok, reason = call:transfer{ ext = OPERATOR }
  if ok then return end
  ivr.log.warn("operator unavailable", { reason = reason })
  call:play("user_bye")
  call:hangup()
end

-- incoming runs once per inbound call. The first blocking call (play,
-- gather, transfer …) to notice that the caller hung up returns nil,
-- "hangup"; any call method after that ends the flow quietly. So hang-up
-- checks are needed only where the flow would otherwise do something else.
function flow.incoming(call)
  -- A key pressed during the welcome stops it and counts as the menu
  -- choice: regular callers need not listen to it all.
  call:play("user_welcome")

  local key, why = call:gather{
    prompt = "user_menu",
    valid = "[0-3]",                 -- one key; anything else is invalid
    timeout = 5,                     -- seconds to wait after the menu
    tries = 3,                       -- the menu plays at most three times
    invalid_prompt = "user_invalid", -- between tries, after a wrong key
    noinput_prompt = "user_noinput", -- between tries, after silence
  }
  if why == "hangup" then return end
  if not key then
    -- why is "timeout" or "invalid" after the third try ("failed" if the
    -- device could not play the menu).
    call.vars.choice = why
    return operator(call)
  end
  call.vars.choice = key -- kept with the call, and read by ended below

  if key == "1" then
    if call:transfer{ ext = RECEPTION } then return end
    return operator(call) -- reception refused (busy, offline …)
  elseif key == "2" then
    local ok, reason = call:transfer{ ext = RESTAURANT }
    if ok then return end
    -- Refused: busy, offline … The call is still ours. user_busy says
    -- so and offers 0 for the operator.
    ivr.log.info("restaurant unavailable", { reason = reason })
    if call:gather{ prompt = "user_busy", valid = "0", timeout = 5 } == "0" then
      return operator(call)
    end
    call:play("user_bye")
  elseif key == "3" then
    call:play("user_thanks")
  else -- "0"
    return operator(call)
  end
  -- Returning with the call still in the IVR hangs it up; saying so
  -- explicitly reads better.
  call:hangup()
end

-- ended runs once after the call has left the flow (transferred or hung
-- up, by either side). Call methods cannot be used here: it only logs.
function flow.ended(call, summary)
  ivr.log.info("main menu finished", {
    outcome = summary.outcome,       -- transferred, hangup, caller_hangup …
    target = summary.target or "",   -- "ext 201" after a transfer
    choice = call.vars.choice or "", -- the key, or why there was none
    seconds = math.floor(summary.duration),
  })
end

return flow
