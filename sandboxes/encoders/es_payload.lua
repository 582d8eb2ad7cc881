-- es_payload.lua (SandboxEncoder): ElasticSearch bulk API lines for a
-- message whose Payload already is the JSON document (for instance one a
-- decoder kept with payload_keep): the action line, then the payload,
-- each ending in a newline:
--
--   {"index":{"_index":"heka-2023.10.10","_type":"message","_id":"..."}}
--   {"the":"payload"}
--
-- Config ([name.config]), all interpolated with modules/interpolate.lua
-- ("%{Hostname}", "%{some_field}", "%{%Y.%m.%d}"):
--   index                    default "heka-%{%Y.%m.%d}"
--   type_name                default "message"
--   id                       default none (no "_id": ElasticSearch picks one)
--   es_index_from_timestamp  strftime placeholders use the message
--                            Timestamp instead of the current time
--                            (default false)
--
-- A message with an empty Payload is skipped (-2: nothing to index).

require "cjson"
local interpolate = require "interpolate"

local index = interpolate.build(read_config("index") or "heka-%{%Y.%m.%d}")
local type_name = interpolate.build(read_config("type_name") or "message")
local id_config = read_config("id")
local id = id_config and interpolate.build(id_config)
local from_timestamp = read_config("es_index_from_timestamp") or false

function process_message()
    local payload = read_message("Payload")
    if payload == nil or payload == "" then return -2 end
    local ns
    if from_timestamp then
        ns = read_message("Timestamp")
    else
        ns = os.time() * 1e9
    end
    add_to_payload('{"index":{"_index":', cjson.encode(index(ns)),
        ',"_type":', cjson.encode(type_name(ns)))
    if id then
        add_to_payload(',"_id":', cjson.encode(id(ns)))
    end
    add_to_payload("}}\n", payload)
    if payload:sub(-1) ~= "\n" then add_to_payload("\n") end
    inject_payload()
    return 0
end
