---@meta ivr.say
-- Type definitions of require "ivr.say" (stdlib/say.lua). Not code. The
-- voice file names are listed at the top of stdlib/say.lua.

-- options: say.options
---Settings: for the call with say.configure, or for one use as the last
---argument of any function.
---@class ivr.say.Options
---@field language? "en"|"zh" default "en"
---@field prefix? string what file names begin with (default "en_" or "zh_")
---@field utc_offset? number hours added to epoch times (default 0)
---@field currency? string say.money's default, ISO code (USD for en, CNY for zh)
---@field liang? boolean zh: 两 where speech has it (default true)
---@field yao? boolean zh: 幺 for 1 in say.digits (default false)
---@field hour24? boolean say.time reads 24-hour time (default false)
---@field weekday? boolean say.date adds the weekday (default false)
---@field year? boolean say.date reads the year (default true)

---A date or a time of day, for say.date and say.time.
---@class ivr.say.Moment
---@field year? integer
---@field month? integer
---@field day? integer
---@field hour? integer
---@field min? integer
---@field sec? integer ignored

local say = {}

---Changes the settings for the rest of the call.
---@param opts ivr.say.Options
function say.configure(opts) end

---say.configure{ language = lang }.
---@param lang "en"|"zh"
function say.set_language(lang) end

---A number: whole, negative or with decimals (a string keeps its decimals
---as written), up to 999999999999.
---@param n number|string
---@param opts? ivr.say.Options
---@return string[]
function say.number(n, opts) end

---Digits, * and # one by one.
---@param digits string|integer
---@param opts? ivr.say.Options
---@return string[]
function say.digits(digits, opts) end

---An amount of money, rounded to hundredths.
---@param amount number|string
---@param currency? string ISO code; default the setting, else USD (en) or CNY (zh)
---@param opts? ivr.say.Options
---@return string[]
---@overload fun(amount: number|string, opts: ivr.say.Options): string[]
function say.money(amount, currency, opts) end

---A day: epoch seconds (shifted by utc_offset) or { year, month, day }.
---@param t number|ivr.say.Moment
---@param opts? ivr.say.Options
---@return string[]
function say.date(t, opts) end

---A time of day to the minute: epoch seconds or { hour, min }.
---@param t number|ivr.say.Moment
---@param opts? ivr.say.Options
---@return string[]
function say.time(t, opts) end

---Plays files (a list say made) and returns what call:play returns.
---@param call ivr.Call
---@param files ivr.Prompt
---@return "done"|"interrupted"|nil result
---@return ivr.Reason? reason
function say.play(call, files) end

---Every voice file the module may play in a language, with the currency
---files of currency (default: the setting's, else USD or CNY).
---@param language? "en"|"zh"
---@param currency? string
---@return string[]
function say.files(language, currency) end

return say
