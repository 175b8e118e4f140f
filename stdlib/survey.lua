-- ivr.survey: keypad surveys whose answers are counted in ivr.store.
--
--   local survey = require "ivr.survey"
--   local answers, status = survey.run(call, {
--     name = "hotel",
--     intro = "survey_intro",
--     questions = {
--       { id = "clean", prompt = "q_clean", scale = "1-5" },
--       { id = "again", prompt = "q_again", keys = "12" },   -- 1 yes, 2 no
--       { id = "nps", prompt = "q_nps", scale = "0-10" },
--     },
--     thanks = "survey_thanks",
--   })
--
-- Each question is asked with up to tries attempts (default 2); a question
-- with no valid answer by then is counted as missed and the survey goes
-- on. A numeric scale "lo-hi" (whole numbers, at most eleven of them,
-- 0–99) gives numbers; a caller answering 10 on a 0-10 scale types 1 0
-- (or 1 #), and a key that cannot begin a longer answer is taken at once.
-- keys lists single keys ("12", "123*") and gives strings.
--
-- survey.run returns the answers by question id and "done", or the
-- answers so far and "hangup" (or "failed" when the device failed). It
-- works on any call: inbound, in answered(call) for outbound, or a call
-- redirected into the flow.
--
-- With store (default true) everything lands in the flow's ivr.store under
-- "survey:<name>:":
--   questions               the question list, for survey.summary
--   started, completed      counters of surveys begun and finished
--   <id>:answered           counter of answers to the question
--   <id>:missed             counter of callers who gave none
--   <id>:count:<answer>     counter per answer
--   <id>:sum                sum of the answers (numeric scales)
--   responses               one entry per survey run (unless responses =
--                           false): { call, from, at, answers, status,
--                           missed }; at is ivr.now() when the run ended
--                           (the admin API's survey report counts a period
--                           by it), missed lists the ids of the questions
--                           the caller gave no valid answer to (absent
--                           when none, and in entries older ivrd versions
--                           wrote)
-- The responses list grows with every call; turn it off on busy lines and
-- keep the counters, which survey.summary reads.

local U = require "ivr._util"

local survey = {}

local DEFAULT_TRIES = 2
local MAX_SCALE = 11

local function scale_check(v)
  if type(v) ~= "string" then
    return 'must be a range like "1-5", not ' .. U.describe(v)
  end
  local los, his = string.match(v, "^(%d+)%-(%d+)$")
  local lo, hi = tonumber(los), tonumber(his)
  if not lo or lo >= hi or hi > 99 then
    return 'must be a range of whole numbers like "1-5" or "0-10" (0–99), not ' .. U.describe(v)
  end
  if hi - lo + 1 > MAX_SCALE then
    return string.format("must span at most %d answers, not %d (%s)", MAX_SCALE, hi - lo + 1, v)
  end
  return nil
end

local function keys_check(v)
  local err = U.keys(v)
  if err then
    return err
  end
  local seen = {}
  for i = 1, #v do
    local k = string.sub(v, i, i)
    if seen[k] then
      return string.format("must list each key once; %q is there twice", k)
    end
    seen[k] = true
  end
  return nil
end

local run_fields = U.spec("survey.run", {
  name = { U.name, required = true },
  questions = { U.table, required = true },
  intro = { U.prompt },
  thanks = { U.prompt },
  store = { U.boolean },
  responses = { U.boolean },
  tries = { U.count(1, 20) },
  timeout = { U.seconds },
  digit_timeout = { U.seconds },
  invalid_prompt = { U.prompt },
  noinput_prompt = { U.prompt },
})

local question_fields = U.spec("survey.question", {
  id = { U.name, required = true },
  prompt = { U.prompt, required = true },
  scale = { scale_check },
  keys = { keys_check },
  tries = { U.count(1, 20) },
  timeout = { U.seconds },
  digit_timeout = { U.seconds },
  invalid_prompt = { U.prompt },
  noinput_prompt = { U.prompt },
})

-- answers_of lists a question's possible answers as typed.
local function answers_of(q)
  local out = {}
  if q.scale then
    local lo, hi = string.match(q.scale, "^(%d+)%-(%d+)$")
    for n = tonumber(lo), tonumber(hi) do
      out[#out + 1] = tostring(n)
    end
  else
    for i = 1, #q.keys do
      out[#out + 1] = string.sub(q.keys, i, i)
    end
  end
  return out
end

-- prepare checks the options and returns the questions with their
-- settings resolved.
local function prepare(o)
  U.check("survey.run", o, run_fields)
  if #o.questions == 0 then
    U.fail("survey.run: questions must list at least one question")
  end
  local out, seen = {}, {}
  for i, q in ipairs(o.questions) do
    local label = string.format("questions[%d]", i)
    U.check("survey.run", q, question_fields, label)
    if (q.scale == nil) == (q.keys == nil) then
      U.fail("survey.run: %s: give exactly one of scale and keys", label)
    end
    if seen[q.id] then
      U.fail("survey.run: %s: the id %q is used twice", label, q.id)
    end
    seen[q.id] = true
    out[i] = {
      id = q.id,
      prompt = q.prompt,
      scale = q.scale,
      keys = q.keys,
      tries = q.tries or o.tries or DEFAULT_TRIES,
      timeout = q.timeout or o.timeout or 5,
      digit_timeout = q.digit_timeout or o.digit_timeout or 3,
      invalid_prompt = q.invalid_prompt or o.invalid_prompt,
      noinput_prompt = q.noinput_prompt or o.noinput_prompt,
    }
    out[i].choices = U.choices(answers_of(out[i]))
  end
  if #out ~= U.count_keys(o.questions) then
    U.fail("survey.run: questions must be a list ({ {…}, {…} }), not a table with other keys")
  end
  return out
end

-- ask puts one question; it returns the answer, or nil and "missed",
-- "hangup" or "failed".
local function ask(call, q)
  for attempt = 1, q.tries do
    local typed, why = U.read_choice(call, q)
    if typed then
      if q.scale then
        return tonumber(typed)
      end
      return typed
    end
    if why ~= "timeout" and why ~= "invalid" then
      return nil, why
    end
    if attempt < q.tries then
      local retry = why == "timeout" and q.noinput_prompt or q.invalid_prompt
      if retry then
        local ok, perr = call:play(retry)
        if not ok then
          return nil, perr
        end
      end
    end
  end
  return nil, "missed"
end

local function key_of(name, ...)
  return table.concat({ "survey", name, ... }, ":")
end

-- run puts the survey to the caller. See the file comment.
function survey.run(call, opts)
  U.check_call("survey.run", call)
  local questions = prepare(opts)
  local store = opts.store ~= false
  local name = opts.name
  if store then
    local def = {}
    for i, q in ipairs(questions) do
      def[i] = { id = q.id, scale = q.scale, keys = q.keys }
    end
    ivr.store.put(key_of(name, "questions"), def)
    ivr.store.incr(key_of(name, "started"))
  end

  local answers, missed, status = {}, {}, "done"
  if opts.intro then
    local ok, why = call:play(opts.intro)
    if not ok then
      status = why
    end
  end
  if status == "done" then
    for _, q in ipairs(questions) do
      local a, why = ask(call, q)
      if a ~= nil then
        answers[q.id] = a
        if store then
          ivr.store.incr(key_of(name, q.id, "answered"))
          ivr.store.incr(key_of(name, q.id, "count", tostring(a)))
          if q.scale then
            ivr.store.incr(key_of(name, q.id, "sum"), a)
          end
        end
      elseif why == "missed" then
        missed[#missed + 1] = q.id
        if store then
          ivr.store.incr(key_of(name, q.id, "missed"))
        end
      else
        status = why
        break
      end
    end
  end
  if store then
    if status == "done" then
      ivr.store.incr(key_of(name, "completed"))
    end
    if opts.responses ~= false then
      local entry = { call = call.id, from = call.from, at = ivr.now(), answers = answers, status = status }
      if #missed > 0 then
        entry.missed = missed
      end
      ivr.store.append(key_of(name, "responses"), entry)
    end
  end
  if status == "done" and opts.thanks then
    local ok, why = call:play(opts.thanks)
    if not ok then
      status = why
    end
  end
  return answers, status
end

local function stored_number(key)
  local v = ivr.store.get(key)
  if type(v) == "number" then
    return v
  end
  return 0
end

-- summary reads a survey's counters from ivr.store: nil when the survey
-- has never run, else
--   { name =, started =, completed =,
--     questions = { { id =, answered =, missed =, counts = { [answer] = n },
--                     sum =, average = }, … },   -- in the survey's order
--     by_id = { [id] = <the same entry> } }
-- counts holds every possible answer (0 when never chosen), keyed by
-- number for scales and by key for keys; sum and average are there for
-- scales only, average being nil until someone answered.
function survey.summary(name)
  local err = U.name(name)
  if err then
    U.fail("survey.summary: the name %s", err)
  end
  local def = ivr.store.get(key_of(name, "questions"))
  if type(def) ~= "table" then
    return nil
  end
  local s = {
    name = name,
    started = stored_number(key_of(name, "started")),
    completed = stored_number(key_of(name, "completed")),
    questions = {},
    by_id = {},
  }
  for i, q in ipairs(def) do
    local e = {
      id = q.id,
      answered = stored_number(key_of(name, q.id, "answered")),
      missed = stored_number(key_of(name, q.id, "missed")),
      counts = {},
    }
    for _, a in ipairs(answers_of(q)) do
      local k = a
      if q.scale then
        k = tonumber(a)
      end
      e.counts[k] = stored_number(key_of(name, q.id, "count", a))
    end
    if q.scale then
      e.sum = stored_number(key_of(name, q.id, "sum"))
      if e.answered > 0 then
        e.average = e.sum / e.answered
      end
    end
    s.questions[i] = e
    s.by_id[q.id] = e
  end
  return s
end

return survey
