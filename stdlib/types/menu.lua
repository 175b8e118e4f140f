---@meta ivr.menu
-- Type definitions of require "ivr.menu" (stdlib/menu.lua). Not code.

---An option of a menu: a function run when its keys are chosen, or a
---submenu.
---@alias ivr.menu.Option fun(call: ivr.Call, key: string): ...|ivr.menu.Options

-- options: menu.run
---A menu, or a submenu under options. Submenus inherit every setting but
---prompt and options.
---@class ivr.menu.Options
---@field prompt ivr.Prompt the menu's prompt, played at each attempt (a key stops it)
---@field options table<string, ivr.menu.Option> by keys: "1", "*9" (several keys are read one by one)
---@field tries? integer the default of max_invalid and max_noinput (default 3)
---@field max_invalid? integer invalid choices before on_fail (per visit to the menu)
---@field max_noinput? integer no-input timeouts before on_fail (per visit to the menu)
---@field timeout? number seconds to the first key after the prompt (default 5)
---@field digit_timeout? number seconds to the next key of a longer choice (default 3)
---@field invalid_prompt? ivr.Prompt played after an invalid choice when tries are left
---@field noinput_prompt? ivr.Prompt played after no input when tries are left
---@field back? string keys that go to the parent menu (at the top: offer it again)
---@field top? string keys that go to the top menu
---@field on_fail? fun(call: ivr.Call, reason: "invalid"|"timeout"|"failed"): ... runs when a limit is reached; its results are menu.run's (default: hang up, return nil, reason)

local menu = {}

---Returned by an option function: offer the same menu again.
menu.again = {}

---Returned by an option function: go to the parent menu.
menu.back = {}

---Returned by an option function: go to the top menu.
menu.top = {}

---Offers the menu tree from its top until an option function returns
---something other than menu.again, menu.back or menu.top; returns what it
---returned. When a limit is reached, returns what on_fail returned; when
---the caller hangs up, nil, "hangup".
---@param call ivr.Call
---@param opts ivr.menu.Options
---@return ...
function menu.run(call, opts) end

return menu
