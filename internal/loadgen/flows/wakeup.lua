-- wakeup: an outbound wake-up call. The guest answers, hears the wake-up
-- prompt and confirms with 1; then the call ends.
local flow = {}

function flow.incoming(call)
  call:hangup()
end

function flow.answered(call)
  local key = call:gather{ prompt = "user_wakeup", valid = "1", timeout = 5, tries = 2 }
  if key then call:play("user_wakeup_confirm") end
  call:hangup()
end

function flow.failed(job, reason) end

return flow
