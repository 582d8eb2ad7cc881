-- user_agent.lua (module): a coarse reading of an HTTP User-Agent header,
-- enough to count browsers and systems (Heka's user_agent_transform).
--
--   local ua = require "user_agent"
--   local browser, version, os = ua.normalize(text)
--
-- browser: "Edge", "Opera", "Chrome", "Firefox", "MSIE", "Safari" or nil;
-- version: the browser's major version as a number, or nil;
-- os: "Windows 10", "Windows 7", ..., "Android", "iPhone", "iPad", "iPod",
-- "Chrome OS", "Macintosh", "Linux", "FirefoxOS", "BlackBerry" or nil.
-- Unknown agents (robots, curl, ...) give nil browser.

local find, match = string.find, string.match
local tonumber = tonumber

local M = {}

-- Checked in order, first hit wins: phones and tablets before the desktop
-- systems whose names their agents also carry ("Linux; Android",
-- "like Mac OS X").
local SYSTEMS = {
    {"Windows Phone", "Windows Phone"},
    {"Android", "Android"},
    {"iPhone", "iPhone"},
    {"iPad", "iPad"},
    {"iPod", "iPod"},
    {"BlackBerry", "BlackBerry"},
    {"CrOS", "Chrome OS"},
    {"Windows NT 10.0", "Windows 10"},
    {"Windows NT 6.3", "Windows 8.1"},
    {"Windows NT 6.2", "Windows 8"},
    {"Windows NT 6.1", "Windows 7"},
    {"Windows NT 6.0", "Windows Vista"},
    {"Windows NT 5.1", "Windows XP"},
    {"Windows NT 5.0", "Windows 2000"},
    {"Windows", "Windows"},
    {"Macintosh", "Macintosh"},
    {"Mozilla/5.0 (Mobile;", "FirefoxOS"},
    {"Linux", "Linux"},
}

-- Browser marker, name, and where its version is written. Agents pile up
-- the names of the engines they are compatible with, so the most specific
-- marker comes first (Edge says Chrome and Safari, Chrome says Safari).
local BROWSERS = {
    {"Edg/", "Edge"},
    {"Edge/", "Edge"},
    {"OPR/", "Opera"},
    {"Opera", "Opera", "Version/"},
    {"Chrome/", "Chrome"},
    {"CriOS/", "Chrome"},
    {"FxiOS/", "Firefox"},
    {"Firefox/", "Firefox"},
    {"MSIE ", "MSIE"},
    {"Trident/", "MSIE", "rv:"},
    {"Safari/", "Safari", "Version/"},
}

local function major_after(text, marker)
    local s, e = find(text, marker, 1, true)
    if not s then return nil end
    return tonumber(match(text, "^(%d+)", e + 1))
end

function M.normalize(text)
    if type(text) ~= "string" or text == "" or text == "-" then return nil end
    local system
    for _, rule in ipairs(SYSTEMS) do
        if find(text, rule[1], 1, true) then
            system = rule[2]
            break
        end
    end
    for _, rule in ipairs(BROWSERS) do
        if find(text, rule[1], 1, true) then
            local version = rule[3] and major_after(text, rule[3]) or major_after(text, rule[1])
            if rule[2] == "Opera" and not version then
                version = major_after(text, "Opera/")
            end
            return rule[2], version, system
        end
    end
    return nil, nil, system
end

return M
