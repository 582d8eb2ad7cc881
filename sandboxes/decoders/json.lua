-- json.lua (SandboxDecoder): turns a payload holding one JSON object into
-- message fields. Nested objects and arrays become dotted names
-- ("req.path", "tags.1") down to maximum_depth; deeper values are kept as
-- JSON text. Numbers become double fields, booleans bool fields.
--
-- Config ([name.config]):
--   type          message Type of the decoded message (default "json")
--   payload_keep  keep the JSON text as the payload (default false)
--   separator     joins nested names (default ".")
--   maximum_depth levels flattened before values are kept as JSON (default 5)
--   map_fields    move top-level JSON keys into message headers (default
--                 false); each header takes the key named by its own config
--                 entry: Payload, Type, Logger, Hostname, EnvVersion (text),
--                 Severity, Pid (numbers), Uuid (36-character text) and
--                 Timestamp. A value of the wrong type stays a field; a
--                 mapped Type or Payload wins over type and payload_keep.
--   timestamp_format  strftime-like format of a text Timestamp (see
--                 modules/timestamps.lua); without it text is read as
--                 RFC 3339 and a number as nanoseconds since the epoch
--
-- A payload that is not a JSON object, or a mapped Timestamp that cannot
-- be read, fails the record (-1), which the input counts and logs (or
-- routes tagged, with send_decode_failures). Mapping a Timestamp needs
-- module_directory to hold timestamps.lua.
--
--   [json.config]
--   map_fields = true
--   Timestamp = "time"
--   timestamp_format = "%Y-%m-%d %H:%M:%S"
--   Severity = "level"

require "cjson"

local msg_type = read_config("type") or "json"
local payload_keep = read_config("payload_keep") or false
local separator = read_config("separator") or "."
local maximum_depth = read_config("maximum_depth") or 5

local TEXT, NUMBER = "text", "number"
local HEADERS = {
    Payload = TEXT, Type = TEXT, Logger = TEXT, Hostname = TEXT, EnvVersion = TEXT,
    Severity = NUMBER, Pid = NUMBER, Uuid = "uuid", Timestamp = "time",
}
local mapping = {}
if read_config("map_fields") then
    for header in pairs(HEADERS) do
        mapping[header] = read_config(header)
    end
end

local read_time
if mapping.Timestamp then
    local timestamps = require "timestamps"
    local format = read_config("timestamp_format")
    read_time = format and timestamps.parser(format) or timestamps.rfc3339
end

local function uuid_bytes(text)
    local hex = text:match("^(%x%x%x%x%x%x%x%x)%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$")
    if not hex then return nil end
    return (text:gsub("%-", ""):gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

-- The header value for a JSON value, nil if it does not fit; text
-- Timestamps that do not parse are an error.
local function header_value(kind, v)
    if kind == TEXT then
        if type(v) == "string" or type(v) == "number" then return tostring(v) end
    elseif kind == NUMBER then
        return tonumber(v)
    elseif kind == "uuid" then
        return type(v) == "string" and uuid_bytes(v) or nil
    elseif type(v) == "number" then
        return v
    elseif type(v) == "string" then
        local ns = read_time(v)
        if not ns then error("Timestamp '" .. v:sub(1, 40) .. "' does not match the format", 0) end
        return ns
    end
end

local function flatten(prefix, value, depth, fields)
    if type(value) ~= "table" then
        fields[prefix] = value
    elseif depth >= maximum_depth then
        fields[prefix] = cjson.encode(value)
    else
        for k, v in pairs(value) do
            local name = tostring(k)
            if prefix then name = prefix .. separator .. name end
            flatten(name, v, depth + 1, fields)
        end
    end
end

function process_message()
    local payload = read_message("Payload")
    local ok, doc = pcall(cjson.decode, payload)
    if not ok or type(doc) ~= "table" then
        return -1, "payload is not a JSON object"
    end
    local msg = {Type = msg_type, Payload = payload_keep and payload or ""}
    for header, key in pairs(mapping) do
        local v = doc[key]
        if v ~= nil then
            local hok, value = pcall(header_value, HEADERS[header], v)
            if not hok then return -1, "json: " .. value end
            if value ~= nil then
                msg[header] = value
                doc[key] = nil
            end
        end
    end
    local fields = {}
    flatten(nil, doc, 0, fields)
    msg.Fields = fields
    inject_message(msg)
    return 0
end
