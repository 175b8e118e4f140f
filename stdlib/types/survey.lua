---@meta ivr.survey
-- Type definitions of require "ivr.survey" (stdlib/survey.lua). Not code.

-- options: survey.question
---One question.
---@class ivr.survey.Question
---@field id string names the question in answers and ivr.store (letters, digits, _ - .)
---@field prompt ivr.Prompt
---@field scale? string a range of whole numbers, "1-5" or "0-10" (at most 11 answers): answers are numbers
---@field keys? string single keys, "12": answers are strings (give scale or keys)
---@field tries? integer attempts (default: the survey's, else 2)
---@field timeout? number seconds to the first key (default: the survey's, else 5)
---@field digit_timeout? number seconds to the second digit of a two-digit answer (default 3)
---@field invalid_prompt? ivr.Prompt
---@field noinput_prompt? ivr.Prompt

-- options: survey.run
---A survey.
---@class ivr.survey.Options
---@field name string names the survey in ivr.store ("survey:<name>:…")
---@field questions ivr.survey.Question[]
---@field intro? ivr.Prompt played first
---@field thanks? ivr.Prompt played after the last question
---@field store? boolean count the answers in ivr.store (default true)
---@field responses? boolean also append each run's answers to "survey:<name>:responses" (default true)
---@field tries? integer default attempts per question (2)
---@field timeout? number default seconds to the first key (5)
---@field digit_timeout? number default seconds to a second digit (3)
---@field invalid_prompt? ivr.Prompt default for the questions
---@field noinput_prompt? ivr.Prompt default for the questions

---One question's counters.
---@class ivr.survey.QuestionSummary
---@field id string
---@field answered integer
---@field missed integer callers asked who gave no valid answer
---@field counts table<number|string, integer> every possible answer, 0 when never chosen
---@field sum? number scales only
---@field average? number scales only, once someone answered

---A survey's counters.
---@class ivr.survey.Summary
---@field name string
---@field started integer
---@field completed integer
---@field questions ivr.survey.QuestionSummary[] in the survey's order
---@field by_id table<string, ivr.survey.QuestionSummary>

local survey = {}

---Puts the survey to the caller. Returns the answers by question id and
---"done", or the answers so far and "hangup" or "failed".
---@param call ivr.Call
---@param opts ivr.survey.Options
---@return table<string, number|string> answers
---@return "done"|"hangup"|"failed" status
function survey.run(call, opts) end

---Reads a survey's counters from ivr.store; nil when it never ran.
---@param name string
---@return ivr.survey.Summary?
function survey.summary(name) end

return survey
