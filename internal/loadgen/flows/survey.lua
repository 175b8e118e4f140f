-- survey: the bench's default workload. Three questions answered on the
-- keypad, the answers counted in ivr.store, then a transfer to a manager
-- for a guest who rated the stay 1, or a hang-up. The manager is extension
-- 2NNN, NNN the caller's last three digits, so that transfers spread over
-- the simulator's thousand extensions.
local QUESTIONS = { "user_survey_q1", "user_survey_q2", "user_survey_q3" }

local flow = {}

function flow.incoming(call)
  local answers = {}
  for i, prompt in ipairs(QUESTIONS) do
    local key = call:gather{ prompt = prompt, valid = "[1-5]", timeout = 5, tries = 2,
                             invalid_prompt = "user_invalid", noinput_prompt = "user_noinput" }
    if not key then return end
    answers[i] = key
  end
  call.vars.answers = answers
  ivr.store.incr("survey:" .. answers[1])
  if answers[1] == "1" then
    call:transfer{ ext = "2" .. call.from:sub(-3) }
  else
    call:hangup()
  end
end

return flow
