-- examples/menu/menu.lua: a hotel's front-desk menu, built with ivr.menu.
--
-- The caller hears a welcome, then the menu:
--   1  reception (extension 201)
--   2  the restaurant (extension 202); when it cannot take the call the
--      caller hears so and may press 0 for the operator
--   3  hotel information, a submenu:
--        1  opening hours      2  how to find us      *  back
--   0  the operator (extension 200)
-- A key pressed during the welcome counts as the choice: regular callers
-- need not listen to it all. Three wrong keys, or three silences, put the
-- caller through to the operator: someone who cannot use the menu needs a
-- person.
--
-- Every choice is counted in ivr.store ("choice:1" …, "choice:none" for a
-- caller who never chose), so the front desk can see what callers ask for.

local menu = require "ivr.menu"

local OPERATOR = "200"
local RECEPTION = "201"
local RESTAURANT = "202"

local flow = {}

-- count keeps one counter per choice.
local function count(choice)
  ivr.store.incr("choice:" .. choice)
end

-- operator puts the caller through to the operator; when the operator
-- cannot take the call either, the caller hears goodbye.
local function operator(call)
  if call:transfer{ ext = OPERATOR } then
    return true
  end
  call:play("user_bye")
  call:hangup()
end

-- put_through returns the menu option that transfers to ext. When the
-- extension refuses (busy, offline …) the call is still ours: the caller
-- hears user_busy ("… is busy; press 0 for the operator").
local function put_through(ext)
  return function(call, key)
    count(key)
    local ok, reason = call:transfer{ ext = ext }
    if ok then
      return true
    end
    ivr.log.info("extension unavailable", { ext = ext, reason = reason })
    if call:gather{ prompt = "user_busy", valid = "0", timeout = 5 } == "0" then
      return operator(call)
    end
    call:play("user_bye")
    call:hangup()
  end
end

-- listen plays an information prompt, then offers the same menu again.
local function listen(prompt)
  return function(call)
    call:play(prompt)
    return menu.again
  end
end

function flow.incoming(call)
  call:play("user_welcome")
  menu.run(call, {
    prompt = "user_menu",
    invalid_prompt = "user_invalid",
    noinput_prompt = "user_noinput",
    timeout = 5,
    tries = 3,
    options = {
      ["1"] = put_through(RECEPTION),
      ["2"] = put_through(RESTAURANT),
      ["3"] = {
        prompt = "user_info_menu",
        back = "*",
        options = {
          ["1"] = listen("user_hours"),
          ["2"] = listen("user_directions"),
        },
      },
      ["0"] = function(call)
        count("0")
        return operator(call)
      end,
    },
    on_fail = function(call, reason)
      ivr.log.info("no choice; putting the caller through to the operator", { reason = reason })
      count("none")
      return operator(call)
    end,
  })
end

return flow
