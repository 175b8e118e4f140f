---@meta ivr.wakeup
-- Type definitions of require "ivr.wakeup" (stdlib/wakeup.lua). Not code.

-- options: wakeup.answered
---@class ivr.wakeup.AnsweredOptions
---@field prompt ivr.Prompt the wake-up message, asking for the confirm key
---@field confirm? string the key that confirms (default "1")
---@field snooze? table<string, integer> keys and the minutes they snooze, { ["2"] = 5 }
---@field tries? integer attempts (default 3)
---@field timeout? number seconds (default 5)
---@field invalid_prompt? ivr.Prompt
---@field noinput_prompt? ivr.Prompt
---@field confirmed_prompt? ivr.Prompt played after confirming
---@field snoozed_prompt? ivr.Prompt played after snoozing
---@field to? string the number a snooze calls (default call.to)
---@field dial? ivr.DialRequest|table more ivr.dial options for the snooze call

-- options: wakeup.failed
---@class ivr.wakeup.FailedOptions
---@field fallback string the front desk's number
---@field fallback_flow string the flow that talks to the front desk
---@field dial? ivr.DialRequest|table more ivr.dial options

-- options: wakeup.schedule
---@class ivr.wakeup.ScheduleOptions
---@field to string the guest's number
---@field time? string "0630" or "06:30", the next such local time (give time or at)
---@field at? number seconds since 1970
---@field utc_offset? number hours of the local time (default 0)
---@field vars? table call.vars of the wake-up call
---@field flow? string default: this flow
---@field retry? ivr.RetryPolicy default three attempts, 300 s apart
---@field dial? ivr.DialRequest|table more ivr.dial options

local wakeup = {}

---For answered(call): plays the prompt and takes the confirm or a snooze
---key. Returns "confirmed", "snoozed" (a new call is scheduled) or
---"retry" (return it from answered so the job calls again).
---@param call ivr.Call
---@param opts ivr.wakeup.AnsweredOptions
---@return "confirmed"|"snoozed"|"retry"
function wakeup.answered(call, opts) end

---For failed(job, reason): calls the front desk with fallback_flow; its
---call.vars are the job's with failed_wakeup = { job, to, reason,
---attempts }. Returns the new job's id.
---@param job ivr.Job
---@param reason string
---@param opts ivr.wakeup.FailedOptions
---@return string job
function wakeup.failed(job, reason, opts) end

---Books a wake-up call; returns the job id and when it is due.
---@param opts ivr.wakeup.ScheduleOptions
---@return string job
---@return number at
function wakeup.schedule(opts) end

---The epoch seconds of the next hh:mm at utc_offset hours after now
---(default ivr.now()).
---@param hhmm string "0630" or "06:30"
---@param utc_offset? number
---@param now? number
---@return number
function wakeup.next_time(hhmm, utc_offset, now) end

return wakeup
