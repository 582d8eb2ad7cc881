-- message_json.lua (SandboxEncoder): the whole message as one line of JSON,
-- headers under Heka's names and the fields in one object:
--
--   {"Uuid":"...","Timestamp":"2023-10-10T20:55:36.000000Z","Type":"...",
--    "Logger":"...","Hostname":"...","Severity":7,"Pid":0,"EnvVersion":"",
--    "Payload":"...","Fields":{"status":200,"tags":["a","b"]}}
--
-- Uuid is the 36-character text form; Timestamp is RFC 3339 in UTC with
-- microseconds. A field with one value is a scalar, several make an array;
-- BYTES fields are base64 text. A field name used twice keeps the first.
--
-- Config: none.

require "cjson"

local encode, format, floor, byte = cjson.encode, string.format, math.floor, string.byte

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
    local out = {}
    for i = 1, #s, 3 do
        local a, b, c = byte(s, i, i + 2)
        local n = a * 65536 + (b or 0) * 256 + (c or 0)
        local chars = {}
        for k = 3, 0, -1 do
            local v = floor(n / 64 ^ k) % 64
            chars[#chars + 1] = B64:sub(v + 1, v + 1)
        end
        if not b then chars[3] = "=" end
        if not c then chars[4] = "=" end
        out[#out + 1] = table.concat(chars)
    end
    return table.concat(out)
end

-- Rounded to the microsecond: a Lua number holds today's nanosecond
-- timestamps only to a few hundred ns.
local function rfc3339(ns)
    local micros = floor(ns / 1e3 + 0.5)
    local secs = floor(micros / 1e6)
    return os.date("!%Y-%m-%dT%H:%M:%S", secs) .. format(".%06dZ", micros - secs * 1e6)
end

local function field_value(f)
    local values = f.value
    if f.value_type == 1 then
        for i, v in ipairs(values) do values[i] = base64(v) end
    end
    if #values == 1 then return values[1] end
    return values
end

local HEADERS = {"Type", "Logger", "Hostname", "Severity", "Pid", "EnvVersion", "Payload"}

function process_message()
    local raw = read_message("raw")
    if not raw then return -1, "message_json: the message has no bytes" end
    local msg = decode_message(raw)
    local out = {'{"Uuid":', encode(read_message("Uuid") or ""),
        ',"Timestamp":', encode(rfc3339(msg.Timestamp))}
    for _, h in ipairs(HEADERS) do
        if msg[h] ~= nil then
            out[#out + 1] = format(',"%s":%s', h, encode(msg[h]))
        end
    end
    local seen, sep = {}, ""
    out[#out + 1] = ',"Fields":{'
    for _, f in ipairs(msg.Fields) do
        if not seen[f.name] then
            seen[f.name] = true
            out[#out + 1] = sep .. encode(f.name) .. ":" .. encode(field_value(f))
            sep = ","
        end
    end
    out[#out + 1] = "}}\n"
    inject_payload("json", "", table.concat(out))
    return 0
end
