-- hostile_strings: a string bomb, doubling a string with string.rep. The
-- cap on the strings string.rep makes stops it at 1 MiB; the call goes to
-- the fallback.
local flow = {}

function flow.incoming(call)
  local s = "boom"
  while true do
    s = s:rep(2)
  end
end

return flow
