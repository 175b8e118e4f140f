-- parked: the caller hears a prompt and the call waits in a gather, silent,
-- for up to an hour; a key or the caller's hang-up ends it.
local flow = {}

function flow.incoming(call)
  local key = call:gather{ prompt = "user_welcome", timeout = 3600 }
  if key then call:hangup() end
end

return flow
