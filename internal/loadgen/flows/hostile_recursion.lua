-- hostile_recursion: recursion without a base case. The call stack limit
-- stops it long before the budget does; the call goes to the fallback.
local flow = {}

local function deeper(n)
  return 1 + deeper(n + 1)
end

function flow.incoming(call)
  return deeper(1)
end

return flow
