-- interpolate.lua (module): fills "%{name}" placeholders in a string from
-- the current message, as Heka's ElasticSearch encoders did for index,
-- type and id names.
--
--   local interpolate = require "interpolate"
--   local render = interpolate.build("%{Logger}-%{%Y.%m.%d}")
--   local text = render(ns)   -- ns: the time for strftime placeholders
--
-- A name is, in order: a header (Type, Logger, Hostname, Payload,
-- EnvVersion, Pid, Severity, Uuid or UUID), else a message field
-- (Fields[name], first value), else a strftime format applied to `ns`
-- (UTC; "%{%Y.%m.%d}"). A field that is missing renders as the name
-- itself run through strftime, which leaves names without "%" unchanged.

local floor, tostring = math.floor, tostring

local M = {}

local HEADERS = {
    Type = "Type", Logger = "Logger", Hostname = "Hostname", Payload = "Payload",
    EnvVersion = "EnvVersion", Pid = "Pid", Severity = "Severity",
    Uuid = "Uuid", UUID = "Uuid",
}

local function text_of(v)
    if type(v) == "number" and v == floor(v) then
        return string.format("%d", v)
    end
    return tostring(v)
end

local function lookup(name, secs)
    local header = HEADERS[name]
    local v
    if header then
        v = read_message(header)
    else
        v = read_message("Fields[" .. name .. "]")
    end
    if v ~= nil then return text_of(v) end
    return os.date("!" .. name, secs)
end

function M.build(template)
    if not template:find("%{", 1, true) then
        return function() return template end
    end
    return function(ns)
        local secs = floor((ns or 0) / 1e9)
        return (template:gsub("%%{(.-)}", function(name) return lookup(name, secs) end))
    end
end

return M
