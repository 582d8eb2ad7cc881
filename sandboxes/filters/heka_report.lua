-- heka_report.lua (SandboxFilter): self-monitoring in the spirit of Heka's
-- heka_memstat. Reads hekad's heka.all-report message (a JSON Payload with
-- one list per category, each plugin {"Name": ..., "<Metric>": {"value":
-- v, "representation": r}}) and injects a tab-separated table, one row per
-- plugin, as a "tsv" payload:
--
--   Category  Plugin  <metric columns...>  Rate
--
-- A metric the plugin does not report prints "-". Rate is the plugin's
-- ProcessMessageCount per second since the previous report ("-" on the
-- first one, or after the count went down: a restart).
--
-- Config ([name.config]):
--   metrics       comma-separated metric names to show (default
--                 "ProcessMessageCount,ProcessMessageFailures,DroppedMessageCount,InChanLength,ProcessMessageAvgDuration";
--                 sandbox figures such as Memory or MaxMemory can be added)
--   payload_name  name of the injected payload (default "heka_report")
--
--   [heka_report]
--   type = "SandboxFilter"
--   filename = "filters/heka_report.lua"
--   message_matcher = "Type == 'heka.all-report'"

require "cjson"

local CATEGORIES = {"globals", "inputs", "splitters", "decoders", "filters", "outputs", "encoders"}
local DEFAULT_METRICS = "ProcessMessageCount,ProcessMessageFailures,DroppedMessageCount,"
    .. "InChanLength,ProcessMessageAvgDuration"

local payload_name = read_config("payload_name") or "heka_report"
local metrics = {}
for name in (read_config("metrics") or DEFAULT_METRICS):gmatch("[^,%s]+") do
    metrics[#metrics + 1] = name
end

-- ProcessMessageCount of each plugin at the previous report, and its time.
local previous, previous_ns = {}, nil

local function value_of(plugin, metric)
    local m = plugin[metric]
    if type(m) == "table" and type(m.value) == "number" then return m.value end
    return nil
end

local function rate(key, count, elapsed)
    local before = previous[key]
    previous[key] = count
    if not (before and count and elapsed and elapsed > 0 and count >= before) then
        return "-"
    end
    return string.format("%.2f", (count - before) / elapsed)
end

function process_message()
    local ok, report = pcall(cjson.decode, read_message("Payload"))
    if not ok or type(report) ~= "table" then
        return -1, "heka_report: the payload is not a heka.all-report JSON object"
    end
    local ns = read_message("Timestamp")
    local elapsed = previous_ns and (ns - previous_ns) / 1e9
    previous_ns = ns

    add_to_payload("Category\tPlugin\t", table.concat(metrics, "\t"), "\tRate\n")
    for _, category in ipairs(CATEGORIES) do
        local plugins = report[category]
        if type(plugins) == "table" then
            for _, plugin in ipairs(plugins) do
                local name = tostring(plugin.Name)
                add_to_payload(category, "\t", name)
                for _, metric in ipairs(metrics) do
                    local v = value_of(plugin, metric)
                    add_to_payload("\t", v == nil and "-" or v)
                end
                local count = value_of(plugin, "ProcessMessageCount")
                add_to_payload("\t", rate(category .. "/" .. name, count, elapsed), "\n")
            end
        end
    end
    inject_payload("tsv", payload_name)
    return 0
end
