-- hostile_loop: a flow that never yields. The instruction budget stops
-- the step, and the call goes to the device's fallback. It is the
-- costliest of the hostile flows: it burns the whole step budget.
local flow = {}

function flow.incoming(call)
  local n = 0
  while true do
    n = n + 1
  end
end

return flow
