-- rsyslog.lua (SandboxDecoder): parses lines rsyslog wrote with a string
-- template (modules/rsyslog_template.lua) into a message the way Heka's
-- rsyslog decoder did:
--   Timestamp  %TIMESTAMP% / %timereported% / %timegenerated%
--   Severity   %PRI% % 8, else %syslogseverity% / %syslogpriority% (or -text)
--   Hostname   %HOSTNAME% or %source% (unless hostname_keep)
--   Pid        the [pid] of %syslogtag% (else a numeric %procid%)
--   Payload    %msg%
--   Fields     programname (from %syslogtag%), syslogfacility (from %PRI%),
--              and every other property under its lower-cased name
--
-- Config ([name.config]):
--   template       rsyslog template string (default RSYSLOG_TraditionalFileFormat,
--                  '%TIMESTAMP% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\n')
--   type           message Type (default: the input's)
--   tz             zone of timestamps written without one (RFC 3164's):
--                  "UTC" (default) or a fixed offset like "+01:00"
--   hostname_keep  keep the input's Hostname; the parsed host name is then
--                  a `hostname` field (default false)
--
-- A line that does not fit the template fails (-1) with the reason.
-- Needs module_directory to hold rsyslog_template.lua and timestamps.lua.

local rsyslog = require "rsyslog_template"
local timestamps = require "timestamps"

local TRADITIONAL =
    "%TIMESTAMP% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\n"

local msg_type = read_config("type")
local hostname_keep = read_config("hostname_keep") or false
local offset, err = timestamps.offset(read_config("tz") or "UTC")
if not offset then error("tz: " .. err, 0) end

local parse = rsyslog.build(read_config("template") or TRADITIONAL, offset)

local function take(props, ...)
    for i = 1, select("#", ...) do
        local name = select(i, ...)
        local v = props[name]
        props[name] = nil
        if v ~= nil then
            -- Drop the synonyms too.
            for j = i + 1, select("#", ...) do props[select(j, ...)] = nil end
            return v
        end
    end
end

function process_message()
    local props, perr = parse(read_message("Payload"))
    if not props then
        return -1, "rsyslog: " .. perr
    end
    local msg = {Type = msg_type, Fields = props}
    msg.Timestamp = take(props, "timestamp", "timereported", "timegenerated")

    local pri = props.pri
    props.pri = nil
    if pri then
        msg.Severity = pri.severity
        props.syslogfacility = pri.facility
    end
    local severity = take(props, "syslogseverity", "syslogseverity-text",
        "syslogpriority", "syslogpriority-text")
    msg.Severity = msg.Severity or severity

    local tag = props.syslogtag
    props.syslogtag = nil
    if tag then
        props.programname = tag.programname
        msg.Pid = tag.pid
    end
    local procid = tonumber(props.procid)
    if procid and not msg.Pid then
        msg.Pid = procid
        props.procid = nil
    end

    if not hostname_keep then
        msg.Hostname = take(props, "hostname", "source")
    end
    -- Without %msg% the line itself stays the Payload.
    msg.Payload = props.msg
    props.msg = nil

    inject_message(msg)
    return 0
end
