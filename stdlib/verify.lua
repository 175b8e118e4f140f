-- ivr.verify: reads a verification code to the callee.
--
--   local verify = require "ivr.verify"
--   function flow.answered(call)
--     return verify.run(call, { code = call.vars.code, prompt = "user_code_is",
--                               repeat_prompt = "user_repeat" })
--   end
--
-- The code is marked with ivr.secret before anything else, so it never
-- shows in logs, XML traces, history or the console. It is read with
-- call:say_digits — the device's digit files, one chain per reading —
-- which is what lets ivrd recognise and hide the chain; the pause between
-- readings plays separately.
--
-- Options:
--   code           the digits to read (required): a string, so that
--                  leading zeros stay, of at least 4 digits — a shorter
--                  secret would blank every such digit run in the logs
--   prompt         played once before the first reading ("your code is")
--   times          readings in a row (default 3)
--   digit_gap      silence files between two digits of a reading, 0–5
--                  (default 1: the code is read slowly)
--   pause          how many times pause_file plays between readings
--                  (default 1; 0 for none)
--   pause_file     the pause (default "silence", the device's one-second
--                  silence file)
--   repeat_prompt  offered after the readings ("press 1 to hear it
--                  again"); without it the code is read and that is all
--   repeat_key     the key that asks again (default "1")
--   repeat_timeout seconds to wait for it (default 5)
--   max_repeats    how often the caller may ask again (default 5); the
--                  offer is not made once they are used up
--   bye            played at the end (unless the caller hung up)
--
-- verify.run returns "heard" once the code was read (and, with
-- repeat_prompt, the caller did not ask again), or nil and "hangup" when
-- the caller hung up, or nil and "failed" when the device failed. Asking
-- again reads prompt and the code once more, then offers again.

local U = require "ivr._util"

local verify = {}

-- code_check never shows the code: it is a secret even when malformed.
local function code_check(v)
  if type(v) ~= "string" then
    return "must be a string of 4–32 digits, not a " .. type(v)
  end
  if not string.match(v, "^%d+$") or #v < 4 or #v > 32 then
    return "must be a string of 4–32 digits (the value is secret, so it is not shown)"
  end
  return nil
end

local fields = U.spec("verify.run", {
  code = { code_check, required = true },
  prompt = { U.prompt },
  times = { U.count(1, 10) },
  digit_gap = { U.count(0, 5) },
  pause = { U.count(0, 30) },
  pause_file = { U.prompt },
  repeat_prompt = { U.prompt },
  repeat_key = { U.key },
  repeat_timeout = { U.seconds },
  max_repeats = { U.count(0, 20) },
  bye = { U.prompt },
})

-- run reads the code; see the file comment.
function verify.run(call, opts)
  U.check_call("verify.run", call)
  -- Mark the code before it can appear in any message, the checks' own
  -- included.
  if type(opts) == "table" and type(opts.code) == "string" and opts.code ~= "" then
    ivr.secret(opts.code)
  end
  U.check("verify.run", opts, fields)
  local code = opts.code
  local times = opts.times or 3
  local pause = opts.pause or 1
  local pause_files = {}
  for i = 1, pause do
    pause_files[i] = opts.pause_file or "silence"
  end

  local function played(ok, why)
    if ok then
      return true
    end
    return false, why
  end

  local function read_once(with_prompt)
    if with_prompt and opts.prompt then
      local ok, why = played(call:play(opts.prompt))
      if not ok then
        return false, why
      end
    end
    return played(call:say_digits(code, { gap = opts.digit_gap or 1 }))
  end

  for i = 1, times do
    if i > 1 and pause > 0 then
      local ok, why = played(call:play(pause_files))
      if not ok then
        return nil, why
      end
    end
    local ok, why = read_once(i == 1)
    if not ok then
      return nil, why
    end
  end

  if opts.repeat_prompt then
    local key = opts.repeat_key or "1"
    local left = opts.max_repeats or 5
    while left > 0 do
      local got, why = call:gather({ prompt = opts.repeat_prompt, max = 1, flush = true,
                                     timeout = opts.repeat_timeout or 5 })
      if not got then
        if why == "hangup" or why == "failed" then
          return nil, why
        end
        break -- no answer: the caller has the code
      end
      if got ~= key then
        break
      end
      left = left - 1
      local ok, rwhy = read_once(true)
      if not ok then
        return nil, rwhy
      end
    end
  end

  if opts.bye then
    local ok, why = played(call:play(opts.bye))
    if not ok then
      return nil, why
    end
  end
  return "heard"
end

return verify
