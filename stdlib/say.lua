-- ivr.say: numbers, money, dates and times as lists of voice files, in
-- English or Chinese. The functions return lists; a flow plays them with
-- call:play(list) (or say.play(call, list)), alone or inside a longer list.
--
--   local say = require "ivr.say"
--   say.set_language("zh")
--   call:play(say.money(12.5))        -- 十二元五角
--   call:play(say.time(ivr.now(), { utc_offset = 8 }))
--
-- Settings (say.configure{…} for the rest of the call, or as the last
-- argument of any function for that one use):
--   language    "en" (default) or "zh"
--   prefix      what file names begin with (default "en_" or "zh_")
--   utc_offset  hours added to epoch times (default 0, UTC; 8 for China)
--   currency    ISO code of say.money's default (USD for en, CNY for zh)
--   liang       zh: 两 instead of 二 where speech has it (default true)
--   yao         zh: 幺 for 1 in say.digits, as phone numbers are read
--               (default false)
--   hour24      say.time reads 24-hour time (default false)
--   weekday     say.date adds the day of the week (default false)
--   year        say.date reads the year (default true)
--
-- Voice files, with the default prefixes (say.files(language) lists them):
--
-- English ("en_"):
--   en_0 … en_19            zero … nineteen
--   en_20, en_30 … en_90    twenty … ninety
--   en_hundred, en_thousand, en_million, en_billion
--   en_minus, en_point      negative numbers, decimals
--   en_oh                   "oh" in 9:05 and 1905
--   en_and                  between dollars and cents
--   en_star, en_pound       * and # in say.digits
--   en_ord_1 … en_ord_31    first … thirty-first (dates)
--   en_month_1 … en_month_12   January … December
--   en_wday_1 … en_wday_7   Monday … Sunday
--   en_am, en_pm
--   en_<cur>, en_<cur>_1    the currency's unit, plural and singular
--                           (en_usd "dollars", en_usd_1 "dollar")
--   en_<cur>_minor, en_<cur>_minor_1   its hundredth (en_usd_minor "cents")
-- Numbers are read the American way: 105 is "one hundred five", 21 is
-- en_20 en_1; 2026 as a year is "twenty twenty-six", 2005 "two thousand
-- five". 12-hour times: 9:05 → en_9 en_oh en_5 en_am; 9:00 → en_9 en_am.
-- 24-hour: 14:00 → en_14 en_hundred; 14:30 → en_14 en_30.
--
-- Chinese ("zh_"):
--   zh_0 … zh_9             零 一 二 三 四 五 六 七 八 九
--   zh_liang, zh_yao        两, 幺
--   zh_shi, zh_bai, zh_qian, zh_wan, zh_yi    十 百 千 万 亿
--   zh_fu, zh_dian          负, 点 (decimal point and o'clock)
--   zh_xing, zh_jing        星 (*), 井 (#) in say.digits
--   zh_nian, zh_yue, zh_ri  年 月 日
--   zh_wday_1 … zh_wday_7   星期一 … 星期日
--   zh_lingchen, zh_shangwu, zh_zhongwu, zh_xiawu, zh_wanshang
--                           凌晨 (0–5 h), 上午 (6–11), 中午 (12), 下午
--                           (13–17), 晚上 (18–23), before 12-hour times
--   zh_fen                  分 (minutes, and the CNY fen)
--   zh_yuan, zh_jiao        元 角 (CNY)
--   zh_<cur>, zh_<cur>_minor   other currencies' units (zh_usd 美元,
--                           zh_usd_minor 美分)
-- Numbers follow the usual rules: 4-digit groups under 万 and 亿; one 零
-- for any run of zeros inside a number and before a group under 1000
-- (10005 一万零五, 100100000 一亿零一十万); 十 alone at the start (15
-- 十五, 150000 十五万) and 一十 elsewhere (110 一百一十). With liang, 2
-- is 两 before 千, before 百 at the start of a group, alone before 万 and
-- 亿, and as a whole amount before a measure word (两元, 两点); never in
-- the tens or the units of a longer number (二十二, 十二). Years are read
-- digit by digit (二零二六年). Money is 元角分: 12.04 十二元零四分.

local U = require "ivr._util"

local say = {}

local LIMIT = 999999999999 -- the largest whole number read

local function offset_check(v)
  if type(v) ~= "number" or v < -14 or v > 14 then
    return "must be a number of hours within -14–14, not " .. U.describe(v)
  end
  return nil
end

local function prefix_check(v)
  if type(v) ~= "string" or not string.match(v, "^[%w_%-%.]*$") then
    return "must be letters, digits, '_', '-' or '.', not " .. U.describe(v)
  end
  return nil
end

local function currency_check(v)
  if type(v) ~= "string" or not string.match(v, "^%a%a%a$") then
    return 'must be a three-letter currency code like "USD", not ' .. U.describe(v)
  end
  return nil
end

local fields = U.spec("say.options", {
  language = { U.oneof("en", "zh") },
  prefix = { prefix_check },
  utc_offset = { offset_check },
  currency = { currency_check },
  liang = { U.boolean },
  yao = { U.boolean },
  hour24 = { U.boolean },
  weekday = { U.boolean },
  year = { U.boolean },
})

-- The settings of this call (each call has its own Lua state, so its own
-- copy of this module).
local settings = {
  language = "en",
  utc_offset = 0,
  liang = true,
  yao = false,
  hour24 = false,
  weekday = false,
  year = true,
}

-- resolve merges a function's own options over the call's settings.
local function resolve(fn, opts)
  local s = U.copy(settings)
  if opts ~= nil then
    U.check(fn, opts, fields)
    for k, v in pairs(opts) do
      s[k] = v
    end
  end
  local prefix = s.prefix
  if prefix == nil then
    prefix = s.language .. "_"
  end
  s.file = function(name)
    return prefix .. name
  end
  return s
end

-- configure changes the settings for the rest of the call.
function say.configure(opts)
  U.check("say.configure", opts, fields)
  for k, v in pairs(opts) do
    settings[k] = v
  end
end

-- set_language is say.configure{ language = lang }.
function say.set_language(lang)
  local err = fields.language[1](lang)
  if err then
    U.fail("say.set_language: the language %s", err)
  end
  settings.language = lang
end

-- English -------------------------------------------------------------

local en = {}

function en.below1000(n, out, s)
  local h, r = math.floor(n / 100), n % 100
  if h > 0 then
    out[#out + 1] = s.file(tostring(h))
    out[#out + 1] = s.file("hundred")
  end
  if r > 0 then
    if r < 20 then
      out[#out + 1] = s.file(tostring(r))
    else
      out[#out + 1] = s.file(tostring(r - r % 10))
      if r % 10 > 0 then
        out[#out + 1] = s.file(tostring(r % 10))
      end
    end
  end
end

local EN_GROUPS = {
  { 1000000000, "billion" },
  { 1000000, "million" },
  { 1000, "thousand" },
}

function en.int(n, out, s)
  if n == 0 then
    out[#out + 1] = s.file("0")
    return
  end
  for _, g in ipairs(EN_GROUPS) do
    local q = math.floor(n / g[1])
    if q > 0 then
      en.below1000(q, out, s)
      out[#out + 1] = s.file(g[2])
      n = n - q * g[1]
    end
  end
  if n > 0 then
    en.below1000(n, out, s)
  end
end

-- Chinese -------------------------------------------------------------

local zh = {}

local ZH_UNIT = { [3] = "qian", [2] = "bai", [1] = "shi" }

-- section reads 1…9999. leading: it is the first group of the number;
-- grouped: 万 or 亿 follows it.
function zh.section(n, out, s, leading, grouped)
  local digits = { math.floor(n / 1000), math.floor(n / 100) % 10, math.floor(n / 10) % 10, n % 10 }
  local zero, any = false, false
  for i = 1, 4 do
    local pos, d = 4 - i, digits[i]
    if d == 0 then
      zero = any
    else
      if zero then
        out[#out + 1] = s.file("0")
        zero = false
      end
      if pos == 1 and d == 1 and leading and not any then
        out[#out + 1] = s.file("shi") -- 十, not 一十, at the very start
      else
        local name = tostring(d)
        if d == 2 and s.liang and (pos == 3 or (pos == 2 and not any) or (pos == 0 and n == 2 and grouped)) then
          name = "liang"
        end
        out[#out + 1] = s.file(name)
        if pos > 0 then
          out[#out + 1] = s.file(ZH_UNIT[pos])
        end
      end
      any = true
    end
  end
end

-- int reads a whole number; measure: a measure word follows, so a lone 2
-- is 两.
function zh.int(n, out, s, measure)
  if n == 0 then
    out[#out + 1] = s.file("0")
    return
  end
  if n == 2 and measure and s.liang then
    out[#out + 1] = s.file("liang")
    return
  end
  local groups = {
    { math.floor(n / 100000000), "yi" },
    { math.floor(n / 10000) % 10000, "wan" },
    { n % 10000, nil },
  }
  local started, gap = false, false
  for _, g in ipairs(groups) do
    local v, unit = g[1], g[2]
    if v == 0 then
      gap = started
    else
      if started and (gap or v < 1000) then
        out[#out + 1] = s.file("0")
      end
      zh.section(v, out, s, not started, unit ~= nil)
      if unit then
        out[#out + 1] = s.file(unit)
      end
      started, gap = true, false
    end
  end
end

local function read_int(n, out, s, measure)
  if s.language == "zh" then
    zh.int(n, out, s, measure)
  else
    en.int(n, out, s)
  end
end

-- Numbers -------------------------------------------------------------

-- decimal splits a number, or a string like "-12.50", into its sign, its
-- whole part (a number) and its fraction digits (a string, trailing zeros
-- of a number dropped, those of a string kept). It returns nil and what
-- is wrong when v is no such thing.
local function decimal(v, max_fraction)
  local neg, whole, frac
  if type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      return nil, "is not a finite number"
    end
    neg = v < 0
    local a = math.abs(v)
    local text = string.format("%." .. max_fraction .. "f", a)
    whole, frac = string.match(text, "^(%d+)%.?(%d*)$")
    frac = string.gsub(frac, "0+$", "")
  elseif type(v) == "string" then
    local sign
    sign, whole, frac = string.match(v, "^(%-?)(%d+)%.?(%d*)$")
    if not whole or (frac == "" and string.sub(v, -1) == ".") then
      return nil, "is not a number"
    end
    neg = sign == "-"
    if #frac > max_fraction then
      return nil, string.format("has more than %d decimals", max_fraction)
    end
  else
    return nil, "is not a number"
  end
  if #whole > 15 or tonumber(whole) > LIMIT then
    return nil, "is too large (at most " .. LIMIT .. ")"
  end
  return neg, tonumber(whole), frac
end

-- number reads a number: whole, negative, or with decimals (a number's
-- are rounded to six; a string's are read as written).
function say.number(n, opts)
  local s = resolve("say.number", opts)
  local neg, whole, frac = decimal(n, 6)
  if neg == nil then
    U.fail("say.number: %s %s", U.describe(n), whole)
  end
  local out = {}
  if neg and (whole > 0 or string.find(frac, "[1-9]")) then
    out[#out + 1] = s.file(s.language == "zh" and "fu" or "minus")
  end
  read_int(whole, out, s, false)
  if frac ~= "" then
    out[#out + 1] = s.file(s.language == "zh" and "dian" or "point")
    for i = 1, #frac do
      out[#out + 1] = s.file(string.sub(frac, i, i))
    end
  end
  return out
end

-- digits reads a string of digits, * and # one by one (a phone number, a
-- room); a whole number is read the same way.
function say.digits(d, opts)
  local s = resolve("say.digits", opts)
  if type(d) == "number" and d >= 0 and d == math.floor(d) and d <= LIMIT then
    d = string.format("%d", d)
  end
  if type(d) ~= "string" or not string.match(d, "^[0-9*#]+$") then
    U.fail("say.digits: %s is not a string of digits, * and #", U.describe(d))
  end
  local out = {}
  local zhs = s.language == "zh"
  for i = 1, #d do
    local c = string.sub(d, i, i)
    if c == "*" then
      c = zhs and "xing" or "star"
    elseif c == "#" then
      c = zhs and "jing" or "pound"
    elseif c == "1" and zhs and s.yao then
      c = "yao"
    end
    out[#out + 1] = s.file(c)
  end
  return out
end

-- Money ---------------------------------------------------------------

-- money reads an amount of a currency (default: the setting, else USD in
-- English and CNY in Chinese), rounded to hundredths.
function say.money(amount, currency, opts)
  if type(currency) == "table" and opts == nil then
    -- say.money(amount, opts). (Not "currency, opts = nil, currency":
    -- gopher-lua assigns locals one by one, so a swap loses a value.)
    opts = currency
    currency = nil
  end
  local s = resolve("say.money", opts)
  if currency ~= nil then
    local err = currency_check(currency)
    if err then
      U.fail("say.money: the currency %s", err)
    end
  end
  local neg, whole, frac = decimal(amount, 2)
  if neg == nil then
    U.fail("say.money: %s %s", U.describe(amount), whole)
  end
  local minor = tonumber(string.sub(frac .. "00", 1, 2))
  local cur = string.lower(currency or s.currency or (s.language == "zh" and "CNY" or "USD"))
  local out = {}
  if neg and (whole > 0 or minor > 0) then
    out[#out + 1] = s.file(s.language == "zh" and "fu" or "minus")
  end
  if s.language == "zh" then
    if cur == "cny" then
      local jiao, fen = math.floor(minor / 10), minor % 10
      if whole > 0 or minor == 0 then
        zh.int(whole, out, s, true)
        out[#out + 1] = s.file("yuan")
      end
      if jiao > 0 then
        zh.int(jiao, out, s, true)
        out[#out + 1] = s.file("jiao")
      end
      if fen > 0 then
        if whole > 0 and jiao == 0 then
          out[#out + 1] = s.file("0")
        end
        zh.int(fen, out, s, true)
        out[#out + 1] = s.file("fen")
      end
    else
      if whole > 0 or minor == 0 then
        zh.int(whole, out, s, true)
        out[#out + 1] = s.file(cur)
      end
      if minor > 0 then
        zh.int(minor, out, s, true)
        out[#out + 1] = s.file(cur .. "_minor")
      end
    end
    return out
  end
  if whole > 0 or minor == 0 then
    en.int(whole, out, s)
    out[#out + 1] = s.file(whole == 1 and cur .. "_1" or cur)
  end
  if minor > 0 then
    if whole > 0 then
      out[#out + 1] = s.file("and")
    end
    en.int(minor, out, s)
    out[#out + 1] = s.file(minor == 1 and cur .. "_minor_1" or cur .. "_minor")
  end
  return out
end

-- Dates and times -------------------------------------------------------

-- civil turns days since 1970-01-01 into year, month, day (proleptic
-- Gregorian), counting in 400-year eras of 146097 days that start on
-- 1 March, so that the leap day falls at an era-year's end.
local function civil(days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then
    y = y + 1
  end
  return y, m, d
end

-- days_from_civil is civil's inverse.
local function days_from_civil(y, m, d)
  if m <= 2 then
    y = y - 1
  end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local MONTH_DAYS = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function whole_in(v, lo, hi)
  return type(v) == "number" and v == math.floor(v) and v >= lo and v <= hi
end

-- moment reads t — epoch seconds, as ivr.now() gives, shifted by
-- utc_offset; or a table { year, month, day, hour, min } — into its parts.
-- need says which parts a table must have: "date" or "time".
local function moment(fn, t, s, need)
  if type(t) == "number" then
    if t ~= t or t < 0 or t > 253402300799 then
      U.fail("%s: %s is not a time in seconds since 1970, as ivr.now() gives", fn, U.describe(t))
    end
    local secs = math.floor(t + s.utc_offset * 3600)
    local days = math.floor(secs / 86400)
    local rest = secs - days * 86400
    local y, m, d = civil(days)
    return { year = y, month = m, day = d, wday = (days + 3) % 7 + 1,
             hour = math.floor(rest / 3600), min = math.floor(rest % 3600 / 60) }
  end
  if type(t) ~= "table" then
    U.fail("%s: %s is neither epoch seconds nor a table like { year =, month =, day = } or { hour =, min = }",
      fn, U.describe(t))
  end
  for k in pairs(t) do
    if k ~= "year" and k ~= "month" and k ~= "day" and k ~= "hour" and k ~= "min" and k ~= "sec" then
      U.fail("%s: the time table has an unknown field %s", fn, U.describe(k))
    end
  end
  local p = {}
  if need == "date" then
    if not whole_in(t.year, 1, 9999) then
      U.fail("%s: year must be a whole number within 1–9999, not %s", fn, U.describe(t.year))
    end
    if not whole_in(t.month, 1, 12) then
      U.fail("%s: month must be a whole number within 1–12, not %s", fn, U.describe(t.month))
    end
    local leap = (t.year % 4 == 0 and t.year % 100 ~= 0) or t.year % 400 == 0
    local last = MONTH_DAYS[t.month]
    if t.month == 2 and not leap then
      last = 28
    end
    if not whole_in(t.day, 1, last) then
      U.fail("%s: day must be a whole number within 1–%d, not %s", fn, last, U.describe(t.day))
    end
    p.year, p.month, p.day = t.year, t.month, t.day
    p.wday = (days_from_civil(t.year, t.month, t.day) + 3) % 7 + 1
  else
    if not whole_in(t.hour, 0, 23) then
      U.fail("%s: hour must be a whole number within 0–23, not %s", fn, U.describe(t.hour))
    end
    if not whole_in(t.min or 0, 0, 59) then
      U.fail("%s: min must be a whole number within 0–59, not %s", fn, U.describe(t.min))
    end
    p.hour, p.min = t.hour, t.min or 0
  end
  return p
end

local function en_year(y, out, s)
  if (y >= 2000 and y <= 2009) or y < 1000 or y % 1000 == 0 then
    en.int(y, out, s)
    return
  end
  local hi, lo = math.floor(y / 100), y % 100
  en.int(hi, out, s)
  if lo == 0 then
    out[#out + 1] = s.file("hundred")
  else
    if lo < 10 then
      out[#out + 1] = s.file("oh")
    end
    en.int(lo, out, s)
  end
end

-- date reads a day: "Wednesday November twenty-fifth twenty twenty-six",
-- "二零二六年十一月二十五日星期三" (the weekday with weekday = true, the
-- year unless year = false).
function say.date(t, opts)
  local s = resolve("say.date", opts)
  local p = moment("say.date", t, s, "date")
  local out = {}
  if s.language == "zh" then
    if s.year then
      local y = tostring(p.year)
      for i = 1, #y do
        out[#out + 1] = s.file(string.sub(y, i, i))
      end
      out[#out + 1] = s.file("nian")
    end
    zh.int(p.month, out, s, false)
    out[#out + 1] = s.file("yue")
    zh.int(p.day, out, s, false)
    out[#out + 1] = s.file("ri")
    if s.weekday then
      out[#out + 1] = s.file("wday_" .. p.wday)
    end
    return out
  end
  if s.weekday then
    out[#out + 1] = s.file("wday_" .. p.wday)
  end
  out[#out + 1] = s.file("month_" .. p.month)
  out[#out + 1] = s.file("ord_" .. p.day)
  if s.year then
    en_year(p.year, out, s)
  end
  return out
end

local ZH_PERIOD = {}
for h = 0, 23 do
  if h <= 5 then
    ZH_PERIOD[h] = "lingchen"
  elseif h <= 11 then
    ZH_PERIOD[h] = "shangwu"
  elseif h == 12 then
    ZH_PERIOD[h] = "zhongwu"
  elseif h <= 17 then
    ZH_PERIOD[h] = "xiawu"
  else
    ZH_PERIOD[h] = "wanshang"
  end
end

-- time reads a time of day to the minute: "nine oh five a m", "上午九点
-- 零五分"; 24-hour with hour24 = true.
function say.time(t, opts)
  local s = resolve("say.time", opts)
  local p = moment("say.time", t, s, "time")
  local h, m = p.hour, p.min
  local out = {}
  if s.language == "zh" then
    if not s.hour24 then
      out[#out + 1] = s.file(ZH_PERIOD[h])
      if h > 12 then
        h = h - 12
      end
    end
    zh.int(h, out, s, true)
    out[#out + 1] = s.file("dian")
    if m > 0 then
      if m < 10 then
        out[#out + 1] = s.file("0")
      end
      zh.int(m, out, s, false)
      out[#out + 1] = s.file("fen")
    end
    return out
  end
  if s.hour24 then
    en.int(h, out, s)
    if m == 0 then
      out[#out + 1] = s.file("hundred")
    end
  else
    local h12 = h % 12
    if h12 == 0 then
      h12 = 12
    end
    en.int(h12, out, s)
  end
  if m > 0 then
    if m < 10 then
      out[#out + 1] = s.file("oh")
    end
    en.int(m, out, s)
  end
  if not s.hour24 then
    out[#out + 1] = s.file(h < 12 and "am" or "pm")
  end
  return out
end

-- Playing and listing -------------------------------------------------

-- play plays a list say made (or any prompt) and returns what call:play
-- returns.
function say.play(call, files)
  U.check_call("say.play", call)
  local err = U.prompt(files)
  if err then
    U.fail("say.play: the files %s", err)
  end
  return call:play(files)
end

-- files lists every voice file the module may play in a language (default
-- the setting), with the currency files of the default currency (or of
-- currency), so an operator knows what to record.
function say.files(language, currency)
  if language == nil then
    language = settings.language
  end
  local err = fields.language[1](language)
  if err then
    U.fail("say.files: the language %s", err)
  end
  if currency ~= nil then
    err = currency_check(currency)
    if err then
      U.fail("say.files: the currency %s", err)
    end
  end
  local s = resolve("say.files", { language = language })
  local names = {}
  local function add(n)
    names[#names + 1] = s.file(n)
  end
  if language == "zh" then
    for d = 0, 9 do
      add(tostring(d))
    end
    for _, n in ipairs({ "liang", "yao", "shi", "bai", "qian", "wan", "yi", "fu", "dian", "xing", "jing",
      "nian", "yue", "ri", "lingchen", "shangwu", "zhongwu", "xiawu", "wanshang", "fen" }) do
      add(n)
    end
    for d = 1, 7 do
      add("wday_" .. d)
    end
    local cur = string.lower(currency or settings.currency or "CNY")
    if cur == "cny" then
      add("yuan")
      add("jiao")
    else
      add(cur)
      add(cur .. "_minor")
    end
    return names
  end
  for n = 0, 19 do
    add(tostring(n))
  end
  for n = 20, 90, 10 do
    add(tostring(n))
  end
  for _, n in ipairs({ "hundred", "thousand", "million", "billion", "minus", "point", "oh", "and",
    "star", "pound", "am", "pm" }) do
    add(n)
  end
  for d = 1, 31 do
    add("ord_" .. d)
  end
  for m = 1, 12 do
    add("month_" .. m)
  end
  for d = 1, 7 do
    add("wday_" .. d)
  end
  local cur = string.lower(currency or settings.currency or "USD")
  for _, n in ipairs({ cur, cur .. "_1", cur .. "_minor", cur .. "_minor_1" }) do
    add(n)
  end
  return names
end

return say
