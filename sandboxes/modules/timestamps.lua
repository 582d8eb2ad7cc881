-- timestamps.lua (module): date and time texts found in logs turned into
-- a message Timestamp, nanoseconds since the Unix epoch. Pure arithmetic:
-- it never asks the host for its time zone (sandboxes have no tz database),
-- so zones are fixed UTC offsets.
--
--   local ts = require "timestamps"
--   ts.from_parts(y, mon, d, h, min, s [, frac_ns [, offset_s]]) -> ns or nil
--   ts.offset(text)       "UTC", "Z", "+02:00", "-0700" -> seconds east of UTC,
--                         or nil, error
--   ts.clf(text)          "10/Oct/2000:13:55:36 -0700" (nginx $time_local)
--   ts.rfc3339(text [, default_offset_s])
--                         "2000-10-10T13:55:36.25-07:00"; "T" or a space
--                         between date and time; no zone: default_offset_s
--   ts.rfc3164(text, offset_s [, now_s])
--                         "Oct  9 13:55:36" (syslog, no year): the year that
--                         puts the time at most 7 days after now_s
--   ts.parser(format)     strftime-like format -> function(text) -> ns or nil
--                         (%Y %y %m %d %e %H %I %p %M %S %b %h %B %a %A %j
--                         %z %Z %T %F %R %D %s %f %%; %S and %s take an
--                         optional fraction). Raises on unknown directives.
--
-- All parsers return nil for text that is not a valid time.

local floor, tonumber = math.floor, tonumber
local find, sub, lower, byte = string.find, string.sub, string.lower, string.byte

local M = {}

local MONTHS = {
    jan = 1, feb = 2, mar = 3, apr = 4, may = 5, jun = 6,
    jul = 7, aug = 8, sep = 9, oct = 10, nov = 11, dec = 12,
}
local MONTH_NAMES = {
    january = 1, february = 2, march = 3, april = 4, june = 6, july = 7,
    august = 8, september = 9, october = 10, november = 11, december = 12,
}
local MONTH_DAYS = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

-- Month number from "Oct", "oct" or "October".
function M.month(name)
    local n = lower(name)
    return MONTHS[n] or MONTH_NAMES[n]
end

local function leap(y)
    return y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)
end

-- Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar:
-- count from a year that starts in March so the leap day is the last day.
local function days(y, m, d)
    if m <= 2 then y = y - 1 end
    local cycle = floor(y / 400)
    local year_in_cycle = y - cycle * 400
    local day_in_year = floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
    local day_in_cycle = year_in_cycle * 365 + floor(year_in_cycle / 4)
        - floor(year_in_cycle / 100) + day_in_year
    return cycle * 146097 + day_in_cycle - 719468
end
M.days = days

-- Nanoseconds for a civil time at a UTC offset; nil if a part is out of
-- range (60 seconds is accepted for a leap second).
function M.from_parts(y, mon, d, h, min, s, frac_ns, offset)
    if not (y and mon and d and h and min and s) then return nil end
    if mon < 1 or mon > 12 or d < 1 or d > MONTH_DAYS[mon] then return nil end
    if mon == 2 and d == 29 and not leap(y) then return nil end
    if h > 23 or min > 59 or s > 60 then return nil end
    local secs = days(y, mon, d) * 86400 + h * 3600 + min * 60 + s - (offset or 0)
    return secs * 1e9 + (frac_ns or 0)
end

-- "123" after a decimal point -> nanoseconds.
local function fraction(digits)
    if not digits or digits == "" then return 0 end
    return floor(tonumber("0." .. digits) * 1e9 + 0.5)
end
M.fraction = fraction

function M.offset(text)
    if type(text) ~= "string" then return nil, "time zone must be a string" end
    if text == "Z" or text == "z" or text == "UTC" or text == "GMT" then return 0 end
    local sign, hh, mm = text:match("^([%+%-])(%d%d):?(%d%d)$")
    if not sign then
        return nil, "time zone '" .. text .. "' is not UTC or a fixed offset like +02:00"
    end
    local secs = tonumber(hh) * 3600 + tonumber(mm) * 60
    if tonumber(hh) > 23 or tonumber(mm) > 59 then
        return nil, "time zone offset '" .. text .. "' is out of range"
    end
    if sign == "-" then secs = -secs end
    return secs
end

function M.clf(text)
    local d, mon, y, h, mi, s, zone =
        text:match("^(%d%d?)/(%a+)/(%d%d%d%d):(%d%d):(%d%d):(%d%d) ([%+%-]%d%d%d%d)$")
    if not d then return nil end
    local offset = M.offset(zone)
    local m = M.month(mon)
    if not (offset and m) then return nil end
    return M.from_parts(tonumber(y), m, tonumber(d), tonumber(h), tonumber(mi),
        tonumber(s), 0, offset)
end

function M.rfc3339(text, default_offset)
    local y, mon, d, h, mi, s, rest =
        text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$")
    if not y then return nil end
    local frac, zone = rest:match("^%.(%d+)(.*)$")
    if not frac then zone = rest end
    local offset = default_offset or 0
    if zone ~= "" then
        offset = M.offset(zone)
        if not offset then return nil end
    end
    return M.from_parts(tonumber(y), tonumber(mon), tonumber(d), tonumber(h),
        tonumber(mi), tonumber(s), fraction(frac), offset)
end

function M.rfc3164(text, offset, now)
    local mon, d, h, mi, s, frac =
        text:match("^(%a%a%a) +(%d%d?) (%d%d):(%d%d):(%d%d)%.?(%d*)$")
    local m = mon and M.month(mon)
    if not m then return nil end
    offset = offset or 0
    now = now or os.time()
    local year = tonumber(os.date("!%Y", now + offset))
    local args = {m, tonumber(d), tonumber(h), tonumber(mi), tonumber(s), fraction(frac), offset}
    local ns = M.from_parts(year, unpack(args))
    -- Dated more than a week ahead: it was logged last year (a December
    -- line read in January). Feb 29 may only exist in the other year.
    if not ns or ns > (now + 7 * 86400) * 1e9 then
        ns = M.from_parts(year - 1, unpack(args))
    end
    return ns
end

-- strftime-like parsing: each directive is a Lua pattern (captures) and a
-- function storing what it captured into the parts table.
local function number_into(key)
    return function(p, v) p[key] = tonumber(v) end
end

local function seconds_into(p, s, frac)
    p.sec = tonumber(s)
    p.frac = fraction(frac)
end

local DIRECTIVES = {
    Y = {"^([%+%-]?%d%d%d%d)", number_into("year")},
    y = {"^(%d%d)", function(p, v)
        local n = tonumber(v)
        p.year = n < 69 and 2000 + n or 1900 + n
    end},
    m = {"^(%d%d?)", number_into("month")},
    d = {"^(%d%d?)", number_into("day")},
    e = {"^ ?(%d%d?)", number_into("day")},
    j = {"^(%d%d?%d?)", number_into("yday")},
    H = {"^(%d%d?)", number_into("hour")},
    I = {"^(%d%d?)", number_into("hour12")},
    p = {"^([AaPp][Mm])", function(p, v) p.pm = lower(v) == "pm" end},
    M = {"^(%d%d?)", number_into("min")},
    S = {"^(%d%d?)[%.,]?(%d*)", seconds_into},
    f = {"^(%d+)", function(p, v) p.frac = fraction(v) end},
    b = {"^(%a%a%a)", function(p, v) p.month = M.month(v) or -1 end},
    B = {"^(%a+)", function(p, v) p.month = M.month(v) or -1 end},
    a = {"^%a%a%a", function() end},
    A = {"^%a+", function() end},
    z = {"^([%+%-]%d%d:?%d%d)", function(p, v) p.offset = M.offset(v) or false end},
    Z = {"^(%a+)", function(p, v) p.offset = M.offset(v) or false end},
    s = {"^(%-?%d+)%.?(%d*)", function(p, s, frac) p.epoch, p.frac = tonumber(s), fraction(frac) end},
}
DIRECTIVES.h = DIRECTIVES.b
local EXPANSIONS = {T = "%H:%M:%S", F = "%Y-%m-%d", R = "%H:%M", D = "%m/%d/%y"}

local function compile(format)
    format = format:gsub("%%([TFRD])", EXPANSIONS)
    local steps, i = {}, 1
    while i <= #format do
        local c = sub(format, i, i)
        if c == "%" then
            local k = sub(format, i + 1, i + 1)
            if k == "%" then
                steps[#steps + 1] = {literal = "%"}
            elseif DIRECTIVES[k] then
                steps[#steps + 1] = DIRECTIVES[k]
            else
                error("timestamp format: unsupported directive %" .. k, 0)
            end
            i = i + 2
        else
            steps[#steps + 1] = {literal = c}
            i = i + 1
        end
    end
    return steps
end

local function finish(p)
    if p.offset == false then return nil end
    if p.epoch then return (p.epoch - (p.offset or 0)) * 1e9 + p.frac end
    if p.hour12 then
        if p.hour12 < 1 or p.hour12 > 12 then return nil end
        p.hour = p.hour12 % 12 + (p.pm and 12 or 0)
    end
    local y = p.year or 1970
    if p.yday and not p.month then
        -- Day of the year: count from January 1st.
        local ns = M.from_parts(y, 1, 1, p.hour or 0, p.min or 0, p.sec or 0, p.frac, p.offset)
        return ns and ns + (p.yday - 1) * 86400e9
    end
    return M.from_parts(y, p.month or 1, p.day or 1, p.hour or 0, p.min or 0,
        p.sec or 0, p.frac, p.offset)
end

function M.parser(format)
    local steps = compile(format)
    return function(text)
        if type(text) ~= "string" then return nil end
        local pos, p = 1, {frac = 0}
        for _, step in ipairs(steps) do
            if step.literal then
                if step.literal == " " then
                    -- One space in the format matches any run of blanks.
                    local _, e = find(text, "^%s+", pos)
                    if not e then return nil end
                    pos = e + 1
                elseif byte(text, pos) == byte(step.literal) then
                    pos = pos + 1
                else
                    return nil
                end
            else
                local caps = {find(text, step[1], pos)}
                if not caps[1] then return nil end
                step[2](p, unpack(caps, 3))
                pos = caps[2] + 1
            end
        end
        if pos <= #text then return nil end
        return finish(p)
    end
end

return M
