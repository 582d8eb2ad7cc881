-- http_status.lua (SandboxFilter): counts HTTP responses by status class
-- (1xx to 5xx, plus anything else as HTTP_UNKNOWN) per interval of message
-- time, in a circular buffer, and injects the buffer as a "cbuf" payload
-- named "HTTP Status" on every timer_event (Heka's dashboard graph).
--
-- Reads Fields[status] (a number, as nginx_access.lua writes it) and the
-- message Timestamp. A message without a numeric status fails (-1).
--
-- Config ([name.config]):
--   sec_per_row           seconds per buffer row (default 60)
--   rows                  rows kept (default 1440: a day of minutes)
--   preservation_version  bump to discard preserved data after changing
--                         rows or sec_per_row (default 0)
--
--   [http_status]
--   type = "SandboxFilter"
--   filename = "filters/http_status.lua"
--   message_matcher = "Type == 'nginx.access'"
--   ticker_interval = 60
--   preserve_data = true

require "circular_buffer"

local sec_per_row = read_config("sec_per_row") or 60
local rows = read_config("rows") or 1440
_PRESERVATION_VERSION = read_config("preservation_version") or 0

local UNKNOWN = 6
local HEADERS = {"HTTP_100", "HTTP_200", "HTTP_300", "HTTP_400", "HTTP_500", "HTTP_UNKNOWN"}

status = circular_buffer.new(rows, #HEADERS, sec_per_row)
for column, name in ipairs(HEADERS) do
    status:set_header(column, name)
end

function process_message()
    -- A number from the nginx decoders, text from PayloadRegexDecoder.
    local code = tonumber(read_message("Fields[status]"))
    if not code then
        return -1, "http_status: no numeric Fields[status]"
    end
    local column = math.floor(code / 100)
    if column < 1 or column > 5 then column = UNKNOWN end
    -- Times older than the buffer's window are not counted (add returns nil).
    status:add(read_message("Timestamp"), column, 1)
    return 0
end

function timer_event(ns)
    inject_payload("cbuf", "HTTP Status", status)
end
