-- counter.lua (SandboxFilter): counts the messages its message_matcher lets
-- through and, on every timer_event, injects the running total and the rate
-- since the previous report as a heka.sandbox-output payload named "counter".
--
-- Config: none. With preserve_data = true the total survives restarts.
--
--   [counter]
--   type = "SandboxFilter"
--   filename = "filters/counter.lua"
--   message_matcher = "Type != 'heka.sandbox-output'"
--   ticker_interval = 5
--   preserve_data = true

_PRESERVATION_VERSION = 1

total = 0

local reported_total = 0
local reported_ns = nil

function process_message()
    total = total + 1
    return 0
end

function timer_event(ns)
    local rate = 0
    if reported_ns then
        local seconds = (ns - reported_ns) / 1e9
        if seconds > 0 then
            rate = (total - reported_total) / seconds
        end
    end
    reported_total, reported_ns = total, ns
    add_to_payload(string.format("%d messages, %.2f msg/sec", total, rate))
    inject_payload("txt", "counter")
end
