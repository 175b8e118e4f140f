-- examples/survey/survey.lua: a guest satisfaction survey, built with
-- ivr.survey.
--
-- Three questions, answered on the keypad:
--   user_survey_q1  how was your room?              1–5
--   user_survey_q2  how helpful were our staff?     1–5
--   user_survey_q3  would you recommend us?         0–10 (10 is typed 1 0)
-- A wrong key plays user_invalid and asks again; silence plays
-- user_noinput and asks again; a question still unanswered after two tries
-- is counted as missed and the survey goes on.
--
-- The same survey serves two ways in:
--   incoming(call)  guests the front desk puts through to the survey line,
--                   or who dial it (route the number to this flow);
--   answered(call)  the post-stay survey call, placed by an outbound job
--                   (the admin API, `ivrd call`, or ivr.dial at check-out).
-- Answers land in the flow's ivr.store, under "survey:stay:" (see
-- stdlib/survey.lua): counters per answer, sums for the averages, and one
-- response per guest. failed(job, reason) counts the guests the survey
-- call never reached.

local survey = require "ivr.survey"

local SURVEY = {
  name = "stay",
  intro = "user_survey_intro",
  thanks = "user_survey_thanks",
  invalid_prompt = "user_invalid",
  noinput_prompt = "user_noinput",
  tries = 2,
  questions = {
    { id = "room", prompt = "user_survey_q1", scale = "1-5" },
    { id = "staff", prompt = "user_survey_q2", scale = "1-5" },
    { id = "recommend", prompt = "user_survey_q3", scale = "0-10" },
  },
}

local flow = {}

-- ask runs the survey and hangs up once it is done; a guest who hung up
-- midway keeps the answers given so far.
local function ask(call)
  local answers, status = survey.run(call, SURVEY)
  ivr.log.info("survey " .. status, { room = answers.room, staff = answers.staff, recommend = answers.recommend })
  if status == "done" then
    call:hangup()
  end
end

function flow.incoming(call)
  ask(call)
end

function flow.answered(call)
  ask(call)
end

function flow.failed(job, reason)
  ivr.store.incr("survey:stay:unreached")
  ivr.log.info("survey call never answered", { to = job.to, reason = reason })
end

return flow
