-- hostile_vars: call.vars stuffed past their cap after the welcome has
-- played. The next blocking call finds them too large to journal and
-- raises; the call goes to the fallback.
local flow = {}

function flow.incoming(call)
  call:play("user_welcome")
  for i = 1, 100 do
    call.vars["note" .. i] = string.rep("x", 1000)
  end
  call:play("user_welcome")
end

return flow
