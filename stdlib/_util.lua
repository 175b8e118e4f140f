-- ivr._util: what the stdlib modules share — option checking whose errors
-- name the option and the flow's file:line, and reading a choice key by
-- key. Not part of the flow API: flows use the modules built on it.

local U = {}

-- specs lists, by the name the type definitions give it ("menu.run"),
-- the option names each option table of the stdlib accepts. The engine's
-- tests compare it with stdlib/types.
U.specs = {}

-- describe names a value the way the engine's own errors do.
function U.describe(v)
  local t = type(v)
  if t == "string" then
    return string.format("the string %q", v)
  elseif t == "number" then
    return "the number " .. tostring(v)
  end
  return "a " .. t
end
local describe = U.describe

-- where returns "file:line:" of the innermost frame that is not stdlib
-- code: the flow line that called into the stdlib. Levels are probed
-- rather than counted, so it holds however deep the stdlib is when it
-- notices the mistake. A flow that tail-calls a stdlib function (return
-- menu.run(call, …)) leaves no frame of its own; the nearest flow frame
-- above it, if any, is named instead.
local function where()
  for level = 1, 250 do
    local _, e = pcall(error, "", level)
    local src, line = string.match(e, "^(.*):(%d+): $")
    if not src then
      if string.match(e, "^%s*$") then
        return nil -- past the outermost frame
      end
    elseif string.sub(src, 1, 7) ~= "stdlib/" then
      return src .. ":" .. line .. ":"
    end
  end
  return nil
end

-- fail raises a flow mistake, positioned at the flow's line.
function U.fail(fmt, ...)
  local msg = string.format(fmt, ...)
  local at = where()
  if at then
    msg = at .. " " .. msg
  end
  error(msg, 0)
end
local fail = U.fail

-- pack keeps a call's results, nils included: unpack(t, 1, t.n).
--
-- The stdlib keeps no state in upvalues that a closure writes. Stock
-- gopher-lua closes every open upvalue of the whole call stack when pcall
-- catches an error, so that such a closure then writes to a copy its maker
-- no longer sees; ivrd's sandbox pcall works around that (engine/luafix.go),
-- and the stdlib does not depend on the workaround.
function U.pack(...)
  return { n = select("#", ...), ... }
end

-- relay calls an ivr service on the flow's behalf: a mistake the service
-- finds in what the flow handed over (an unknown ivr.dial option passed
-- through) is raised at the flow's line rather than the stdlib's. Any
-- other error — the call ending, a budget running out — goes on as it
-- was. fn names the stdlib function in the message.
function U.relay(fn, f, ...)
  local res = U.pack(pcall(f, ...))
  if res[1] then
    return unpack(res, 2, res.n)
  end
  local err = res[2]
  if type(err) == "string" then
    local msg = string.match(err, "^stdlib/[^:]*:%d+: (.*)$")
    if msg then
      fail("%s: %s", fn, msg)
    end
  end
  error(err, 0)
end

-- Checkers: each takes a value and returns nil when it is fine, else what
-- is wrong with it ("must be …, not …").

local bad_file_chars = "[<>&\"' \t\n]"

local function bad_file(f)
  return f == "" or string.find(f, bad_file_chars) ~= nil
end

-- prompt: a voice file name, "a+b", or a non-empty list of them.
function U.prompt(v)
  if type(v) == "string" then
    for f in string.gmatch(v .. "+", "([^+]*)%+") do
      if bad_file(f) then
        return string.format("must name voice files; %q is not a voice file name", f)
      end
    end
    return nil
  end
  if type(v) ~= "table" then
    return "must be a file name or a list of file names, not " .. describe(v)
  end
  if #v == 0 then
    return "must list at least one file"
  end
  for i = 1, #v do
    if type(v[i]) ~= "string" then
      return string.format("item %d must be a file name, not %s", i, describe(v[i]))
    end
    local err = U.prompt(v[i])
    if err then
      return err
    end
  end
  return nil
end

-- keys: one or more DTMF keys (0-9 * # A-D), as a string.
function U.keys(v)
  if type(v) ~= "string" or not string.match(v, "^[0-9*#A-D]+$") then
    return "must be a string of keys (0-9, *, #, A-D), not " .. describe(v)
  end
  return nil
end

-- key: exactly one DTMF key.
function U.key(v)
  if type(v) ~= "string" or not string.match(v, "^[0-9*#A-D]$") then
    return "must be one key (0-9, *, #, A-D), not " .. describe(v)
  end
  return nil
end

-- count returns a checker of whole numbers within lo…hi.
function U.count(lo, hi)
  return function(v)
    if type(v) ~= "number" or v ~= math.floor(v) then
      return "must be a whole number, not " .. describe(v)
    end
    if v < lo or v > hi then
      return string.format("must be within %d–%d, not %d", lo, hi, v)
    end
    return nil
  end
end

-- seconds: a number of seconds within 0 (excluded) and an hour, as
-- call:gather takes them.
function U.seconds(v)
  if type(v) ~= "number" then
    return "must be a number of seconds, not " .. describe(v)
  end
  if not (v > 0 and v <= 3600) then
    return "must be within 0–3600 seconds, not " .. tostring(v)
  end
  return nil
end

function U.boolean(v)
  if type(v) ~= "boolean" then
    return "must be true or false, not " .. describe(v)
  end
  return nil
end

function U.func(v)
  if type(v) ~= "function" then
    return "must be a function, not " .. describe(v)
  end
  return nil
end

function U.table(v)
  if type(v) ~= "table" then
    return "must be a table, not " .. describe(v)
  end
  return nil
end

function U.string(v)
  if type(v) ~= "string" or v == "" then
    return "must be a non-empty string, not " .. describe(v)
  end
  return nil
end

-- name: a short identifier used inside ivr.store keys.
function U.name(v)
  if type(v) ~= "string" or not string.match(v, "^[%w_%-%.]+$") or #v > 64 then
    return "must be 1–64 letters, digits, '_', '-' or '.', not " .. describe(v)
  end
  return nil
end

-- oneof returns a checker of a string among the given ones.
function U.oneof(...)
  local allowed = { ... }
  return function(v)
    for _, a in ipairs(allowed) do
      if v == a then
        return nil
      end
    end
    local quoted = {}
    for i, a in ipairs(allowed) do
      quoted[i] = string.format("%q", a)
    end
    return "must be one of " .. table.concat(quoted, ", ") .. ", not " .. describe(v)
  end
end

-- spec registers an option table's fields under name and returns them.
-- fields maps each option name to { checker, required = bool }.
function U.spec(name, fields)
  local names = {}
  for k in pairs(fields) do
    names[#names + 1] = k
  end
  table.sort(names)
  U.specs[name] = names
  return fields
end

-- check validates the option table given to fn against fields, raising at
-- the flow's line. where names the table inside fn's arguments for nested
-- ones ('options["2"]'); nil for the top-level table. It returns given.
function U.check(fn, given, fields, where_in)
  local label = fn
  if where_in then
    label = fn .. ": " .. where_in
  end
  if type(given) ~= "table" then
    fail("%s must be an option table, not %s", label, describe(given))
  end
  -- Report unknown names in a stable order.
  local unknown = {}
  for k in pairs(given) do
    if type(k) ~= "string" then
      fail("%s: option names must be strings, not %s", label, describe(k))
    end
    if not fields[k] then
      unknown[#unknown + 1] = k
    end
  end
  if #unknown > 0 then
    table.sort(unknown)
    fail("%s: unknown option %q", label, unknown[1])
  end
  local names = {}
  for k in pairs(fields) do
    names[#names + 1] = k
  end
  table.sort(names)
  for _, k in ipairs(names) do
    local f = fields[k]
    local v = given[k]
    if v == nil then
      if f.required then
        fail("%s: %s is required", label, k)
      end
    else
      local err = f[1](v)
      if err then
        fail("%s: %s %s", label, k, err)
      end
    end
  end
  return given
end

-- check_call makes sure a stdlib function got the call object first.
function U.check_call(fn, call)
  if type(call) ~= "table" or type(call.gather) ~= "function" then
    local mod, f = string.match(fn, "^(.-)%.(.*)$")
    fail("%s: the first argument must be the call, not %s (write %s.%s(call, …), not %s:%s)",
      fn, describe(call), mod, f, mod, f)
  end
end

-- choices turns a list of accepted inputs into the sets read_choice uses:
-- complete[s] for each accepted input, prefix[s] for each proper prefix of
-- one.
function U.choices(list)
  local complete, prefix = {}, {}
  for _, s in ipairs(list) do
    complete[s] = true
    for i = 1, #s - 1 do
      prefix[string.sub(s, 1, i)] = true
    end
  end
  return { complete = complete, prefix = prefix }
end

-- read_choice reads one choice key by key: the prompt plays (a key stops
-- it) and the first key is awaited for timeout seconds; while what was
-- typed is the beginning of a longer choice, the next key is awaited for
-- digit_timeout seconds. A choice that is complete and begins no longer
-- one ends the input at once, so single keys need no terminator. "#"
-- after a complete choice ends the input too, unless a longer choice
-- goes on with it.
--
-- It returns the choice, or nil and "timeout" (nothing typed), "invalid"
-- (typed something that is no choice), "hangup" or "failed".
function U.read_choice(call, r)
  local typed, why = call:gather({ prompt = r.prompt, max = 1, timeout = r.timeout })
  if not typed then
    return nil, why
  end
  while r.choices.prefix[typed] do
    local more, why2 = call:gather({ max = 1, timeout = r.digit_timeout })
    if not more then
      if why2 ~= "timeout" then
        return nil, why2
      end
      break
    end
    if more == "#" and r.choices.complete[typed] and not r.choices.prefix[typed .. "#"]
        and not r.choices.complete[typed .. "#"] then
      break
    end
    typed = typed .. more
  end
  if r.choices.complete[typed] then
    return typed
  end
  return nil, "invalid"
end

-- copy returns a shallow copy of a table.
function U.copy(t)
  local out = {}
  for k, v in pairs(t) do
    out[k] = v
  end
  return out
end

-- count_keys counts a table's keys of every kind.
function U.count_keys(t)
  local n = 0
  for _ in pairs(t) do
    n = n + 1
  end
  return n
end

-- sorted_keys returns a table's string keys in order.
function U.sorted_keys(t)
  local out = {}
  for k in pairs(t) do
    out[#out + 1] = k
  end
  table.sort(out)
  return out
end

return U
