-- ivr.menu: declarative voice menus with submenus.
--
--   local menu = require "ivr.menu"
--   return menu.run(call, {
--     prompt = "main_menu",
--     options = {
--       ["1"] = function(call) return call:transfer{ ext = "201" } end,
--       ["2"] = { prompt = "billing_menu", options = { … } },  -- a submenu
--       ["*9"] = function(call) … end,                          -- two keys
--     },
--     invalid_prompt = "user_invalid", noinput_prompt = "user_noinput",
--     back = "*", top = "0",
--   })
--
-- The caller's keys are read one at a time: a key that completes an entry
-- and begins no longer one is taken at once; one that begins a longer
-- entry waits digit_timeout seconds for the next. Each visit to a menu
-- counts invalid input and no input separately; when either reaches its
-- limit (max_invalid, max_noinput; both default to tries, 3), on_fail
-- runs. Entering or leaving a menu starts its counts afresh.
--
-- menu.run returns what the chosen option function returned, unless it
-- returned menu.again (offer the same menu again), menu.back (go to the
-- parent menu) or menu.top (go to the top menu). When a limit is reached
-- it returns what on_fail(call, reason) returned, reason being "invalid",
-- "timeout" or "failed" (the device failed); the default on_fail hangs up
-- and returns nil, reason. When the caller hangs up it returns nil,
-- "hangup" without calling on_fail.
--
-- Submenus inherit every setting but prompt and options from their parent
-- and may override any of them.

local U = require "ivr._util"

local menu = {}

-- Sentinels an option function may return.
menu.again = setmetatable({}, { __tostring = function() return "menu.again" end })
menu.back = setmetatable({}, { __tostring = function() return "menu.back" end })
menu.top = setmetatable({}, { __tostring = function() return "menu.top" end })

local DEFAULT_TRIES = 3
local DEFAULT_TIMEOUT = 5
local DEFAULT_DIGIT_TIMEOUT = 3

local fields = U.spec("menu.run", {
  prompt = { U.prompt, required = true },
  options = { U.table, required = true },
  tries = { U.count(1, 20) },
  max_invalid = { U.count(1, 20) },
  max_noinput = { U.count(1, 20) },
  timeout = { U.seconds },
  digit_timeout = { U.seconds },
  invalid_prompt = { U.prompt },
  noinput_prompt = { U.prompt },
  back = { U.keys },
  top = { U.keys },
  on_fail = { U.func },
})

local function default_on_fail(call, reason)
  call:hangup()
  return nil, reason
end

-- inherit picks a setting: this menu's own, else its parent's.
local function inherit(o, parent, name, default)
  if o[name] ~= nil then
    return o[name]
  end
  if parent then
    return parent[name]
  end
  return default
end

-- build checks a menu table and its submenus and returns the tree the run
-- walks. label names the table in errors ('options["2"]').
local function build(o, parent, label, depth)
  U.check("menu.run", o, fields, label)
  if depth > 20 then
    U.fail("menu.run: %s: menus are nested more than 20 deep", label)
  end
  local at = label and (label .. ".") or ""
  local node = { prompt = o.prompt, parent = parent, entries = {} }
  local tries = o.tries
  node.max_invalid = o.max_invalid or tries or (parent and parent.max_invalid) or DEFAULT_TRIES
  node.max_noinput = o.max_noinput or tries or (parent and parent.max_noinput) or DEFAULT_TRIES
  node.timeout = inherit(o, parent, "timeout", DEFAULT_TIMEOUT)
  node.digit_timeout = inherit(o, parent, "digit_timeout", DEFAULT_DIGIT_TIMEOUT)
  node.invalid_prompt = inherit(o, parent, "invalid_prompt", nil)
  node.noinput_prompt = inherit(o, parent, "noinput_prompt", nil)
  node.back = inherit(o, parent, "back", nil)
  node.top = inherit(o, parent, "top", nil)
  node.on_fail = inherit(o, parent, "on_fail", default_on_fail)

  local accepted = {}
  local keys = {}
  for k in pairs(o.options) do
    if type(k) ~= "string" then
      U.fail('menu.run: %soptions: keys must be strings of keys like "1" or "*9", not %s (write ["1"] = …)',
        at, U.describe(k))
    end
    keys[#keys + 1] = k
  end
  if #keys == 0 then
    U.fail("menu.run: %soptions must offer at least one choice", at)
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local where = string.format("%soptions[%q]", at, k)
    local err = U.keys(k)
    if err then
      U.fail("menu.run: %s: the key %s", where, err)
    end
    if k == node.back or k == node.top then
      U.fail("menu.run: %s: %q is also the %s key", where, k, k == node.back and "back" or "top")
    end
    local v = o.options[k]
    if type(v) == "function" then
      node.entries[k] = { fn = v }
    elseif type(v) == "table" then
      node.entries[k] = { node = build(v, node, where, depth + 1) }
    else
      U.fail("menu.run: %s must be a function or a submenu table, not %s", where, U.describe(v))
    end
    accepted[#accepted + 1] = k
  end
  if node.back then
    accepted[#accepted + 1] = node.back
  end
  if node.top and node.top ~= node.back then
    accepted[#accepted + 1] = node.top
  end
  node.choices = U.choices(accepted)
  return node
end

-- run offers the menu tree from its top. See the file comment for what it
-- returns.
function menu.run(call, opts)
  U.check_call("menu.run", call)
  local root = build(opts, nil, nil, 0)
  -- Plain locals, no closures over them: see U.pack.
  local node = root
  local invalid, noinput = 0, 0
  while true do
    local key, why = U.read_choice(call, {
      prompt = node.prompt,
      timeout = node.timeout,
      digit_timeout = node.digit_timeout,
      choices = node.choices,
    })
    local next_node
    if key == nil then
      if why == "hangup" then
        return nil, "hangup"
      end
      local retry
      if why == "timeout" then
        noinput = noinput + 1
        if noinput < node.max_noinput then
          retry = node.noinput_prompt or false
        end
      elseif why == "invalid" then
        invalid = invalid + 1
        if invalid < node.max_invalid then
          retry = node.invalid_prompt or false
        end
      end
      if retry == nil then
        return node.on_fail(call, why)
      end
      if retry then
        local ok, perr = call:play(retry)
        if not ok then
          if perr == "failed" then
            return node.on_fail(call, perr)
          end
          return nil, perr
        end
      end
    elseif key == node.back then
      next_node = node.parent or node
    elseif key == node.top then
      next_node = root
    else
      local e = node.entries[key]
      if e.node then
        next_node = e.node
      else
        local res = U.pack(e.fn(call, key))
        local first = res[1]
        if first == menu.again then
          next_node = node
        elseif first == menu.back then
          next_node = node.parent or node
        elseif first == menu.top then
          next_node = root
        else
          return unpack(res, 1, res.n)
        end
      end
    end
    if next_node then
      -- Entering or leaving a menu starts its counts afresh.
      node = next_node
      invalid, noinput = 0, 0
    end
  end
end

return menu
