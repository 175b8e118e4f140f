-- hostile_memory: a table that grows until something stops it, after the
-- welcome has played (so that the call has a journal). The instruction
-- budget, or the heap watchdog if the heap passes its limit first, stops
-- the step; the call goes to the fallback.
local flow = {}

function flow.incoming(call)
  call:play("user_welcome")
  local hoard = {}
  while true do
    hoard[#hoard + 1] = { #hoard }
  end
end

return flow
