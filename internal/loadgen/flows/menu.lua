-- menu: a welcome, a one-key menu, and a transfer (1 reception, 2
-- restaurant) or a goodbye and a hang-up (3). The extension is 2NNN, NNN
-- the caller's last three digits, so that transfers spread over the
-- simulator's thousand extensions.
local flow = {}

function flow.incoming(call)
  call:play("user_welcome")
  local key = call:gather{ prompt = "user_menu", valid = "[1-3]", timeout = 5, tries = 3,
                           invalid_prompt = "user_invalid", noinput_prompt = "user_noinput" }
  if key == "1" or key == "2" then
    call:transfer{ ext = "2" .. call.from:sub(-3) }
  elseif key then
    call:play("user_bye")
    call:hangup()
  end
end

return flow
