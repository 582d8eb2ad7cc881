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
--
-- A payload that is not a JSON object fails the record (-1), which the
-- input counts and logs (or routes tagged, with send_decode_failures).

require "cjson"

local msg_type = read_config("type") or "json"
local payload_keep = read_config("payload_keep") or false
local separator = read_config("separator") or "."
local maximum_depth = read_config("maximum_depth") or 5

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
    local fields = {}
    flatten(nil, doc, 0, fields)
    local msg = {Type = msg_type, Fields = fields}
    if payload_keep then
        msg.Payload = payload
    else
        msg.Payload = ""
    end
    inject_message(msg)
    return 0
end
