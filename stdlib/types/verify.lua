---@meta ivr.verify
-- Type definitions of require "ivr.verify" (stdlib/verify.lua). Not code.

-- options: verify.run
---@class ivr.verify.Options
---@field code string the digits to read, 4–32 (marked secret before anything else)
---@field prompt? ivr.Prompt played before the first reading and before each repeat
---@field times? integer readings in a row (default 3)
---@field digit_gap? integer silence files between two digits of a reading, 0–5 (default 1)
---@field pause? integer how many times pause_file plays between readings (default 1)
---@field pause_file? string default "silence"
---@field repeat_prompt? ivr.Prompt "press 1 to hear it again", offered after the readings
---@field repeat_key? string default "1"
---@field repeat_timeout? number seconds (default 5)
---@field max_repeats? integer default 5
---@field bye? ivr.Prompt played at the end

local verify = {}

---Reads a verification code. Returns "heard", or nil and "hangup" or
---"failed".
---@param call ivr.Call
---@param opts ivr.verify.Options
---@return "heard"? result
---@return "hangup"|"failed"|nil reason
function verify.run(call, opts) end

return verify
