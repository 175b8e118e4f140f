---@meta _
-- Type definitions of ivrd's flow API for the Lua language server: the
-- call object, the ivr global, and the handler table a flow returns. Not
-- code: ivrd never runs this file.
--
-- A line "-- options: NAME" above a class marks it as the option table
-- that NAME accepts; the engine's tests check those classes against the
-- option names the code accepts.

---A prompt: a voice file name, several joined with "+" ("a+b"), or a list
---of them. A list longer than ten files plays as consecutive chains.
---@alias ivr.Prompt string|string[]

---Why a blocking call returned no value.
---@alias ivr.Reason
---| "hangup"   # the caller hung up; any later call method raises
---| "failed"   # the device failed the command
---| "timeout"  # no input (gather)
---| "invalid"  # input that did not match (gather)

-- options: call:gather
---Options of call:gather.
---@class ivr.GatherOptions
---@field prompt? ivr.Prompt played at the start of each attempt; a key stops it
---@field min? integer fewest keys (default 1; 0 allows an empty answer)
---@field max? integer most keys (default 1)
---@field timeout? number seconds to the first key after the prompt ends (default 5)
---@field digit_timeout? number seconds between keys (default 3)
---@field terminator? string the key that ends input, not included ("#" when max > 1, else none; "" for none)
---@field tries? integer attempts (default 1)
---@field valid? string a Lua pattern the whole input must match (anchored by ivrd)
---@field invalid_prompt? ivr.Prompt played after invalid input when tries are left
---@field noinput_prompt? ivr.Prompt played after no input when tries are left
---@field flush? boolean drop keys typed before the prompt (default false)

-- options: call:say_digits
---@class ivr.SayDigitsOptions
---@field gap? integer silence files played between two digits, 0–5 (default 0)

-- options: call:transfer
---Where call:transfer sends the call: exactly one of ext, group, queue,
---number and menu.
---@class ivr.TransferTarget
---@field ext? string an extension
---@field group? string a group (the OM's ring strategy)
---@field queue? string a group, queued
---@field number? string an outside number
---@field trunk? string the trunk for number
---@field menu? string one of the device's own voice menus

---One entry of a call's path.
---@class ivr.PathEntry
---@field kind string "prompt", "prompt_interrupted", "keys", "noinput", "invalid", "transfer", "hangup", "dial", "error"…
---@field value string the prompt, keys or target (secrets shown as [secret])
---@field at number when, in seconds since 1970

---What ended(call, summary) receives.
---@class ivr.Summary
---@field outcome "transferred"|"hangup"|"caller_hangup"|"failed"|"fallback"|string
---@field duration number seconds
---@field target? string where the call was transferred
---@field path ivr.PathEntry[] prompts, keys and transfers in order

---A call in the IVR.
---@class ivr.Call
---@field id string ivrd's own call id, stable across restarts
---@field from string the caller's number
---@field to string the called number
---@field direction "in"|"out"
---@field device string the OM the call is on
---@field vars table persisted with the call: strings, numbers, booleans, nested tables
local Call = {}

---Plays a prompt and waits until it is done.
---@param prompt ivr.Prompt
---@return "done"|"interrupted"|nil result "interrupted" when a key stopped it (the key is kept for the next gather)
---@return ivr.Reason? reason
function Call:play(prompt) end

---Plays the prompt and collects keys.
---@param opts ivr.GatherOptions
---@return string? digits the keys typed, terminator excluded
---@return ivr.Reason? reason "timeout", "invalid" or "hangup" after the last attempt
function Call:gather(opts) end

---Reads a string of digits with the device's digit files, one per digit.
---A string marked with ivr.secret is hidden in traces and history.
---@param digits string
---@param opts? ivr.SayDigitsOptions
---@return "done"|"interrupted"|nil result
---@return ivr.Reason? reason
function Call:say_digits(digits, opts) end

---Hands the call over. On success the call has left the IVR and further
---call methods raise.
---@param target ivr.TransferTarget
---@return true? ok
---@return string? reason "busy", "offline", "not_found", "no_trunk", "failed", "hangup"…
function Call:transfer(target) end

---Ends the call.
---@return true
function Call:hangup() end

---Waits, keeping the call parked.
---@param seconds number 0–86400
---@return true? ok
---@return ivr.Reason? reason "hangup"
function Call:sleep(seconds) end

---The job failed(job, reason) receives.
---@class ivr.Job
---@field id string
---@field to string
---@field flow string
---@field device string
---@field attempts integer attempts made
---@field outcome string the last attempt's outcome
---@field vars table

---The handler table a flow returns.
---@class ivr.Flow
---@field incoming? fun(call: ivr.Call) an inbound call routed to this flow
---@field answered? fun(call: ivr.Call): "retry"|any an outbound call was answered; "retry" counts the attempt as not done
---@field failed? fun(job: ivr.Job, reason: "busy"|"no_answer"|"failed"|"rejected"|string) an outbound job gave up
---@field ended? fun(call: ivr.Call, summary: ivr.Summary) once, after the call left the flow; no blocking calls

-- options: ivr.dial retry
---When a job dials again.
---@class ivr.RetryPolicy
---@field attempts? integer most attempts, the first included (default 1; at most 100)
---@field delay? number seconds before the second attempt (default 60)
---@field backoff? number multiplies the delay for each further attempt (1–10, default 1)
---@field on? ("busy"|"no_answer"|"failed"|"retry"|"interrupted"|"rejected")[] outcomes that retry (default all but rejected)

-- options: ivr.dial
---An outbound call to place or schedule.
---@class ivr.DialRequest
---@field to string the number to call
---@field flow? string the flow whose answered(call) runs (default: this flow)
---@field vars? table call.vars of each attempt's call
---@field secret? string[] names of vars that are secrets (a code): marked with ivr.secret in each call, shown as [secret] by the API, history and logs
---@field at? number when to dial, in seconds since 1970 as ivr.now() gives (default: now)
---@field tz? string the time zone of window ("Asia/Shanghai")
---@field window? string local hours calls may be placed, "08:00-21:00"
---@field retry? ivr.RetryPolicy
---@field device? string the OM to dial from (default: this call's)
---@field trunk? string the trunk to dial out on

-- options: ivr.http.get
-- options: ivr.http.post
---Options of ivr.http.get and ivr.http.post.
---@class ivr.HTTPOptions
---@field headers? table<string, string>
---@field timeout? number seconds (capped by the configuration)
---@field json? boolean send the body as JSON and decode the answer into .json

---A backend's answer.
---@class ivr.HTTPResponse
---@field status integer
---@field body string
---@field headers table<string, string>
---@field json? any the decoded body, with json = true

---ivrd's services. Everything here that reads or touches the world is
---journaled, so a recovered call replays it instead of doing it again.
ivr = {}

---Structured log lines tagged with the call. Secrets are redacted.
ivr.log = {}

---@param msg string
---@param fields? table<string, any>
function ivr.log.debug(msg, fields) end

---@param msg string
---@param fields? table<string, any>
function ivr.log.info(msg, fields) end

---@param msg string
---@param fields? table<string, any>
function ivr.log.warn(msg, fields) end

---@param msg string
---@param fields? table<string, any>
function ivr.log.error(msg, fields) end

---The time, in seconds since 1970 (with milliseconds): the only clock a
---flow has.
---@return number
function ivr.now() end

---random() is a number in [0, 1), random(m) a whole number in 1…m,
---random(m, n) one in m…n: the only randomness a flow has.
---@param m? integer
---@param n? integer
---@return number
function ivr.random(m, n) end

---The last known state of an extension.
---@param ext string
---@return "idle"|"busy"|"offline"|"unknown"|string
function ivr.ext_state(ext) end

---Marks a value (a verification code) as secret: logs, traces, history
---and the console show it as [secret]. Returns the value.
---@param value string
---@return string
function ivr.secret(value) end

---Publishes a "flow.<name>" event on the event log (GET /api/v1/events)
---with the call's id and data (any JSON value, within the store's value
---limit; secrets shown as [secret]). A journaled step: a call resumed
---after a crash does not publish it again. Returns true.
---@param name string 1–64 of a-z 0-9 _ . - ("lead", "survey.done")
---@param data? any
---@return boolean
function ivr.emit(name, data) end

---Places or schedules an outbound call and returns its job id.
---@param req ivr.DialRequest
---@return string job
function ivr.dial(req) end

---Publishes an application event for integrations (journaled, emitted
---once). Part of the flow contract, not yet provided by the engine: until
---it is, calling it raises "attempt to call a nil value".
---@param name string
---@param data? table
function ivr.emit(name, data) end

---The flow's durable key/value space, shared by its calls.
ivr.store = {}

---@param key string
---@return any value nil when absent
function ivr.store.get(key) end

---@param key string
---@param value any strings, numbers, booleans, tables
---@return true
function ivr.store.put(key, value) end

---Adds delta (default 1) to a counter and returns its new value.
---@param key string
---@param delta? integer
---@return integer
function ivr.store.incr(key, delta) end

---Appends a value to the list under key and returns the list's length.
---@param key string
---@param value any
---@return integer
function ivr.store.append(key, value) end

---Caller lists (block, allow, VIP …), managed through the admin API.
ivr.lists = {}

---Whether number (normalised: spaces, hyphens, dots and brackets dropped;
---a leading + kept) is on the named list. Journaled: a recovered call
---sees the answer it had, even if the list has changed since.
---@param list string a list name: letters, digits, '-', '_'
---@param number string usually call.from
---@return boolean
function ivr.lists.contains(list, number) end

---Calls a backend the configuration allows.
ivr.http = {}

---@param url string
---@param opts? ivr.HTTPOptions
---@return ivr.HTTPResponse? response
---@return string? reason "timeout", "too_large", "failed"
---@return string? detail
function ivr.http.get(url, opts) end

---@param url string
---@param body? string|table a table needs json = true
---@param opts? ivr.HTTPOptions
---@return ivr.HTTPResponse? response
---@return string? reason
---@return string? detail
function ivr.http.post(url, body, opts) end

ivr.json = {}

---@param value any
---@return string
function ivr.json.encode(value) end

---@param text string
---@return any value
---@return string? err
function ivr.json.decode(text) end
