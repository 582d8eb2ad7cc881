-- rsyslog_template.lua (module): builds a parser for lines rsyslog wrote
-- with a string template, e.g. RSYSLOG_TraditionalFileFormat:
--   %TIMESTAMP% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\n
--
--   local rsyslog = require "rsyslog_template"
--   local parse = rsyslog.build(template [, offset_s])  -- raises on a bad template
--   local props = parse(line)                          -- or nil, error text
--
-- `props` maps lower-cased property names to values:
-- - timestamp, timereported, timegenerated: ns, read per the property's
--   date option (default and date-rfc3164 "Oct  9 13:55:36", date-rfc3339,
--   date-mysql, date-pgsql, date-unixtimestamp); times without a zone are
--   at `offset_s` seconds east of UTC (default 0).
-- - syslogtag: {programname = ..., pid = number or nil, text = "cron[42]:"}
-- - pri: {severity = 0..7, facility = 0..23}; syslogfacility,
--   syslogseverity, syslogpriority, protocol-version: numbers;
--   syslogseverity-text and syslogpriority-text: the severity number.
-- - anything else (msg, hostname, programname, $-properties, ...): text.
-- Text runs to the character that follows the property in the template,
-- or to the end of the line. A trailing newline in the template or the
-- line is optional. A property with sp-if-no-1st-sp stands for the space
-- rsyslog writes before it (as rsyslog prints it). Properties cut with
-- fromChar/toChar are plain text unless the cut starts at the first
-- character.

local ts = require "timestamps"

local find, sub, lower, gsub = string.find, string.sub, string.lower, string.gsub
local tonumber = tonumber

local M = {}

local SEVERITIES = {
    emerg = 0, panic = 0, alert = 1, crit = 2, err = 3, error = 3,
    warning = 4, warn = 4, notice = 5, info = 6, debug = 7,
}

local function syslogtag(text)
    local name, rest = text:match("^([^%[:]+)(.*)$")
    if not name then return nil end
    local pid = rest:match("^%[(%d+)%]")
    return {programname = name, pid = tonumber(pid), text = text}
end

local function pri(text)
    local n = tonumber(text)
    if not n or n > 191 then return nil end
    return {severity = n % 8, facility = (n - n % 8) / 8}
end

-- Date options: the pattern that scans the value, and its parser.
local DATES = {
    ["date-rfc3164"] = {"^%a%a%a +%d%d? %d%d:%d%d:%d%d", "rfc3164"},
    ["date-rfc3339"] = {"^%d%d%d%d%-%d%d%-%d%dT[%d:%.]+[Zz%+%-]?[%d:]*", "rfc3339"},
    ["date-pgsql"] = {"^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d", "rfc3339"},
    ["date-mysql"] = {"^%d%d%d%d%d%d%d%d%d%d%d%d%d%d", "mysql"},
    ["date-unixtimestamp"] = {"^%d+", "unix"},
}
local DATE_PROPERTIES = {timestamp = true, timereported = true, timegenerated = true}

local function date_reader(option, offset)
    local d = DATES[option or "date-rfc3164"]
    if not d then error("template: unsupported date option " .. option, 0) end
    local kind, convert = d[2], nil
    if kind == "rfc3164" then
        convert = function(t) return ts.rfc3164(t, offset) end
    elseif kind == "rfc3339" then
        convert = function(t) return ts.rfc3339(t, offset) end
    elseif kind == "mysql" then
        local parse = ts.parser("%Y%m%d%H%M%S")
        convert = function(t)
            local ns = parse(t)
            return ns and ns - offset * 1e9
        end
    else
        convert = function(t) return tonumber(t) * 1e9 end
    end
    return {d[1], convert}
end

-- The scanner and converter of a property, or nil for plain text.
local function reader(name, options, offset)
    if DATE_PROPERTIES[name] then
        local date
        for _, o in ipairs(options) do
            if DATES[o] or (o:find("^date%-")) then date = o end
        end
        return date_reader(date, offset)
    end
    if name == "syslogtag" then return {"^%S+", syslogtag} end
    if name == "pri" then return {"^%d+", pri} end
    if name == "syslogfacility" or name == "syslogseverity" or name == "syslogpriority"
        or name == "protocol-version" then
        return {"^%d+", tonumber}
    end
    if name == "syslogseverity-text" or name == "syslogpriority-text" then
        return {"^%a+", function(t) return SEVERITIES[lower(t)] end}
    end
    if name == "programname" then return {"^[^%s%[:]+", function(t) return t end} end
    if name == "hostname" or name == "source" or name == "fromhost"
        or name == "fromhost-ip" then
        return {"^%S+", function(t) return t end}
    end
    return nil
end

local ESCAPES = {n = "\n", t = "\t", r = "\r", ["\\"] = "\\", ["%"] = "%", ['"'] = '"'}

-- The template as tokens: {literal = text} or {name = ..., options = {...}}.
local function tokenize(template, offset)
    local tokens, literal, pos = {}, {}, 1
    local function flush()
        if #literal > 0 then
            tokens[#tokens + 1] = {literal = table.concat(literal)}
            literal = {}
        end
    end
    while pos <= #template do
        local c = sub(template, pos, pos)
        if c == "\\" and pos < #template then
            local e = sub(template, pos + 1, pos + 1)
            literal[#literal + 1] = ESCAPES[e] or e
            pos = pos + 2
        elseif c == "%" then
            local close = find(template, "%", pos + 1, true)
            if not close then error("template: unclosed property at byte " .. pos, 0) end
            flush()
            local spec = sub(template, pos + 1, close - 1)
            local name, from, to, opts = spec:match("^([^:]*):?([^:]*):?([^:]*):?(.*)$")
            name = lower(name)
            if name == "" then error("template: empty property name at byte " .. pos, 0) end
            local options = {}
            for o in opts:gmatch("[^,]+") do options[#options + 1] = lower(o) end
            local t = {name = name, options = options}
            for _, o in ipairs(options) do
                if o == "sp-if-no-1st-sp" then t.optional_space = true end
            end
            -- A cut from the first character (%syslogtag:1:32%) reads
            -- like the whole property; other cuts are plain text.
            if from == "" or from == "1" then t.read = reader(name, options, offset) end
            tokens[#tokens + 1] = t
            pos = close + 1
        else
            literal[#literal + 1] = c
            pos = pos + 1
        end
    end
    flush()
    -- A final newline is optional: splitters may have dropped it.
    local last = tokens[#tokens]
    if last and last.literal then
        last.literal = gsub(last.literal, "\n$", "")
        if last.literal == "" then tokens[#tokens] = nil end
    end
    return tokens
end

local function snippet(line, pos)
    local s = sub(line, pos, pos + 29)
    return s == "" and "end of line" or "'" .. s .. "'"
end

function M.build(template, offset)
    if type(template) ~= "string" or template == "" then
        error("template must be a non-empty string", 0)
    end
    offset = offset or 0
    local tokens = tokenize(template, offset)
    for i, t in ipairs(tokens) do
        local nxt = tokens[i + 1]
        if t.name and not t.read and not t.optional_space and nxt then
            if nxt.literal then
                t.stop = sub(nxt.literal, 1, 1)
            elseif nxt.optional_space then
                t.stop = " "
            else
                error("template: %" .. t.name .. "% is followed by %" .. nxt.name ..
                    "% with nothing between them to tell where it ends", 0)
            end
        end
    end

    return function(line)
        line = gsub(line, "\r?\n$", "")
        local props, pos = {}, 1
        for _, t in ipairs(tokens) do
            if t.literal then
                if sub(line, pos, pos + #t.literal - 1) ~= t.literal then
                    return nil, "expected '" .. gsub(t.literal, "\n", "\\n") .. "' at byte " ..
                        pos .. ", found " .. snippet(line, pos)
                end
                pos = pos + #t.literal
            elseif t.optional_space then
                -- Only a separator: the property itself follows.
                if sub(line, pos, pos) == " " then pos = pos + 1 end
            else
                local s, e, value
                if t.read then
                    s, e = find(line, t.read[1], pos)
                    if not s then
                        return nil, "%" .. t.name .. "%: no value at byte " .. pos ..
                            ", found " .. snippet(line, pos)
                    end
                    value = t.read[2](sub(line, s, e))
                    if value == nil then
                        return nil, "%" .. t.name .. "%: invalid value '" .. sub(line, s, e) .. "'"
                    end
                else
                    e = #line
                    if t.stop then
                        local stop = find(line, t.stop, pos, true)
                        if not stop then
                            return nil, "%" .. t.name .. "%: no '" .. t.stop ..
                                "' after byte " .. pos
                        end
                        e = stop - 1
                    end
                    value = sub(line, pos, e)
                end
                props[t.name] = value
                pos = e + 1
            end
        end
        return props
    end
end

return M
