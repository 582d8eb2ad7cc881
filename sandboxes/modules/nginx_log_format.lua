-- nginx_log_format.lua (module): builds a parser for access log lines from
-- nginx's `log_format` string, e.g. the "combined" format
--   $remote_addr - $remote_user [$time_local] "$request" $status
--   $body_bytes_sent "$http_referer" "$http_user_agent"
--
--   local nginx = require "nginx_log_format"
--   local parse = nginx.build(log_format)     -- raises on a bad format
--   local fields, ns = parse(line)            -- or nil, error text
--
-- `fields` is a Fields table for inject_message, named after the variables.
-- Typed as Heka's nginx decoder did:
-- - numbers: $status, $connection, $connection_requests, $pid,
--   $remote_port, $server_port; with representation "B": $body_bytes_sent,
--   $bytes_sent, $request_length, $content_length; with "s": $request_time.
-- - $upstream_response_time, $upstream_connect_time, $upstream_header_time
--   ("s"), $upstream_response_length ("B") and $upstream_status: one number,
--   or an array when several upstreams were tried ("-" entries count 0).
-- - $remote_addr, $server_addr, $realip_remote_addr, $proxy_protocol_addr,
--   $host, $hostname, $server_name: text with representation "ipv4",
--   "ipv6" or "hostname".
-- - $time_local, $time_iso8601, $msec: no field, returned as `ns`.
-- - $request: kept as `request`, and also split into `request_method`,
--   `request_uri` and `server_protocol` (nginx's names for the parts) when
--   it is a well-formed request line.
-- - anything else: the text as logged ("-" included), up to the character
--   that follows the variable in the format; between double quotes a
--   backslash-escaped quote does not end the value.
-- A typed variable logged as "-" (nginx's empty value) gives no field.
-- Text after the end of the format is ignored, as Heka's grammar did.

local ts = require "timestamps"

local find, sub, gsub, byte = string.find, string.sub, string.gsub, string.byte
local tonumber = tonumber

local M = {}

local function integer(text)
    local n = text:match("^%-?%d+$")
    return n and tonumber(n)
end

local function decimal(text)
    local n = text:match("^%d+%.?%d*$")
    return n and tonumber(n)
end

-- A list of values as nginx joins them for several upstreams:
-- "a, b : c". "-" entries become 0 so positions line up with
-- $upstream_addr; all "-" means no value.
local function list_of(convert)
    return function(text)
        local out, seen = {}, false
        for item in (text .. ", "):gmatch("(.-)%s*[,:]%s*") do
            if item == "-" then
                out[#out + 1] = 0
            else
                local n = convert(item)
                if not n then return nil end
                out[#out + 1] = n
                seen = true
            end
        end
        if not seen then return nil end
        if #out == 1 then return out[1] end
        return out
    end
end

local function ipv4(text)
    local a, b, c, d = text:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    if not a then return false end
    for _, part in ipairs({a, b, c, d}) do
        if #part > 3 or tonumber(part) > 255 then return false end
    end
    return true
end

-- Heka's representation of an address.
function M.address_representation(text)
    if ipv4(text) then return "ipv4" end
    if text:find(":", 1, true) and text:match("^[%x:%.]+$") then return "ipv6" end
    return "hostname"
end

local function address(text)
    return {value = text, representation = M.address_representation(text)}
end

local function with_unit(convert, unit)
    return function(text)
        local v = convert(text)
        if v == nil then return nil end
        return {value = v, representation = unit}
    end
end

-- How each typed variable is scanned (a Lua pattern anchored at the
-- value, so a value may contain the character that follows it) and
-- converted (nil: the text is not a valid value).
local NUMBER = "^%-?[%d%.]+"
-- A list: items joined by ", " (upstreams of one group) or " : " (groups).
local function LIST(line, pos)
    local s, e = find(line, "^[%d%.%-]+", pos)
    if not s then return nil end
    while true do
        local _, next_e = find(line, "^, [%d%.%-]+", e + 1)
        if not next_e then _, next_e = find(line, "^ : [%d%.%-]+", e + 1) end
        if not next_e then return s, e end
        e = next_e
    end
end
local TYPED = {
    status = {"^%d%d%d", tonumber},
    connection = {NUMBER, integer},
    connection_requests = {NUMBER, integer},
    pid = {NUMBER, integer},
    remote_port = {NUMBER, integer},
    server_port = {NUMBER, integer},
    body_bytes_sent = {NUMBER, with_unit(integer, "B")},
    bytes_sent = {NUMBER, with_unit(integer, "B")},
    request_length = {NUMBER, with_unit(integer, "B")},
    content_length = {NUMBER, with_unit(integer, "B")},
    request_time = {NUMBER, with_unit(decimal, "s")},
    upstream_response_time = {LIST, with_unit(list_of(decimal), "s")},
    upstream_connect_time = {LIST, with_unit(list_of(decimal), "s")},
    upstream_header_time = {LIST, with_unit(list_of(decimal), "s")},
    upstream_response_length = {LIST, with_unit(list_of(integer), "B")},
    upstream_status = {LIST, list_of(integer)},
    time_local = {"^%d%d?/%a+/%d%d%d%d:%d%d:%d%d:%d%d [%+%-]%d%d%d%d", ts.clf, time = true},
    time_iso8601 = {"^[%dT:%.%-%+Zz]+", ts.rfc3339, time = true},
    msec = {"^%d+%.%d+", function(t) return tonumber(t) * 1e9 end, time = true},
}
-- Addresses are scanned like text, then given a representation.
local ADDRESSES = {
    remote_addr = true, server_addr = true, realip_remote_addr = true,
    proxy_protocol_addr = true, host = true, hostname = true, server_name = true,
}

-- "GET /a?b HTTP/1.1" -> its three parts.
local function split_request(fields, request)
    local method, uri, protocol = request:match("^(%u+) (%S+) (HTTP/%d[%.%d]*)$")
    if method then
        fields.request_method = method
        fields.request_uri = uri
        fields.server_protocol = protocol
    end
end

-- The format as a list of tokens: {literal = text}, {space = true} or
-- {var = name}.
local function tokenize(format)
    local tokens, pos = {}, 1
    while pos <= #format do
        local s, e, name = find(format, "^%$([%w_]+)", pos)
        if not s then s, e, name = find(format, "^%${([%w_]+)}", pos) end
        if s then
            tokens[#tokens + 1] = {var = name}
        else
            s, e = find(format, "^%s+", pos)
            if s then
                tokens[#tokens + 1] = {space = true}
            else
                s, e = find(format, "^[^%$%s]+", pos)
                if not s then
                    error("log_format: a '$' without a variable name at byte " .. pos, 0)
                end
                tokens[#tokens + 1] = {literal = sub(format, s, e)}
            end
        end
        pos = e + 1
    end
    return tokens
end

-- Finds where a text value starting at `pos` ends: before the `stop`
-- character (nil: any blank; "": the end of the line). `quoted` skips
-- backslash-escaped characters.
local function text_end(line, pos, stop, quoted)
    if stop == "" then return #line end
    if not stop then
        local s = find(line, "%s", pos)
        return (s or #line + 1) - 1
    end
    if not quoted then
        local s = find(line, stop, pos, true)
        return s and s - 1
    end
    local p = pos
    while true do
        local s = find(line, '[\\"]', p)
        if not s then return nil end
        if byte(line, s) == 92 then
            p = s + 2
        else
            return s - 1
        end
    end
end

local function snippet(line, pos)
    local s = sub(line, pos, pos + 29)
    return s == "" and "end of line" or "'" .. s .. "'"
end

function M.build(format)
    if type(format) ~= "string" or format == "" then
        error("log_format must be a non-empty string", 0)
    end
    local tokens = tokenize(format)
    for i, t in ipairs(tokens) do
        if t.var and not TYPED[t.var] then
            local prev, nxt = tokens[i - 1], tokens[i + 1]
            if nxt and nxt.var then
                error("log_format: $" .. t.var .. " and $" .. nxt.var ..
                    " have nothing between them to tell where one ends", 0)
            end
            if nxt == nil then
                t.stop = ""
            elseif nxt.literal then
                t.stop = sub(nxt.literal, 1, 1)
            end
            t.quoted = t.stop == '"' and prev ~= nil and prev.literal ~= nil
                and sub(prev.literal, -1) == '"'
        end
    end

    return function(line)
        line = gsub(line, "\r?\n$", "")
        local fields, time, pos = {}, nil, 1
        for _, t in ipairs(tokens) do
            if t.literal then
                if sub(line, pos, pos + #t.literal - 1) ~= t.literal then
                    return nil, "expected '" .. t.literal .. "' at byte " .. pos ..
                        ", found " .. snippet(line, pos)
                end
                pos = pos + #t.literal
            elseif t.space then
                local _, e = find(line, "^%s+", pos)
                if not e then
                    return nil, "expected a space at byte " .. pos .. ", found " .. snippet(line, pos)
                end
                pos = e + 1
            else
                local typed, value = TYPED[t.var], nil
                local s, e
                if typed then
                    if type(typed[1]) == "function" then
                        s, e = typed[1](line, pos)
                    else
                        s, e = find(line, typed[1], pos)
                    end
                    if not s and sub(line, pos, pos) == "-" then
                        e = pos
                    end
                    local text = e and sub(line, pos, e)
                    if text and text ~= "-" then -- nginx's "-": no value, no field
                        value = typed[2](text)
                        if value == nil then
                            return nil, "$" .. t.var .. ": invalid value '" .. text .. "'"
                        end
                    end
                else
                    e = text_end(line, pos, t.stop, t.quoted)
                    if e then
                        value = sub(line, pos, e)
                        if ADDRESSES[t.var] then value = address(value) end
                    end
                end
                if not e then
                    return nil, "$" .. t.var .. ": no value at byte " .. pos .. ", found " ..
                        snippet(line, pos)
                end
                if value ~= nil then
                    if typed and typed.time then
                        time = value
                    else
                        fields[t.var] = value
                        if t.var == "request" then split_request(fields, value) end
                    end
                end
                pos = e + 1
            end
        end
        return fields, time
    end
end

return M
