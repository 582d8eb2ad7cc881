-- nginx_access.lua (SandboxDecoder): parses nginx access log lines with the
-- log_format nginx wrote them with; each variable becomes a field (see
-- modules/nginx_log_format.lua for names and types) and $time_local,
-- $time_iso8601 or $msec becomes the message Timestamp.
--
-- Config ([name.config]):
--   log_format              nginx's log_format string (required)
--   type                    message Type (default: the input's)
--   user_agent_transform    add user_agent_browser, user_agent_version and
--                           user_agent_os read from $http_user_agent
--                           (default false); the raw agent is then dropped
--   user_agent_keep         keep http_user_agent anyway (default false)
--   user_agent_conditional  keep it only when no browser was recognised
--                           (default false)
--   payload_keep            keep the log line as the Payload (default
--                           false: the Payload is emptied)
--
-- A line that does not fit the format fails (-1) with the reason.
-- Needs module_directory to hold nginx_log_format.lua, timestamps.lua and
-- user_agent.lua (sandboxes/modules).
--
--   [nginx]
--   type = "SandboxDecoder"
--   filename = "decoders/nginx_access.lua"
--   module_directory = "modules"
--   [nginx.config]
--   type = "nginx.access"
--   log_format = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'

local nginx = require "nginx_log_format"
local user_agent = require "user_agent"

local msg_type = read_config("type")
local transform = read_config("user_agent_transform") or false
local ua_keep = read_config("user_agent_keep") or false
local ua_conditional = read_config("user_agent_conditional") or false
local payload_keep = read_config("payload_keep") or false

local parse = nginx.build(read_config("log_format"))

function process_message()
    local line = read_message("Payload")
    local fields, ns = parse(line)
    if not fields then
        return -1, "nginx_access: " .. ns
    end
    local agent = fields.http_user_agent
    if transform and agent then
        local browser, version, system = user_agent.normalize(agent)
        fields.user_agent_browser = browser
        fields.user_agent_version = version
        fields.user_agent_os = system
        if not (ua_keep or (ua_conditional and not browser)) then
            fields.http_user_agent = nil
        end
    end
    inject_message({
        Type = msg_type,
        Timestamp = ns,
        Payload = payload_keep and line or "",
        Fields = fields,
    })
    return 0
end
