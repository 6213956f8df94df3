-- json.lua: a small JSON encoder and decoder (RFC 8259) for run settings and summaries.
--
--   local json = require "spinal.json"
--   json.encode { gamma = 0.5, costs = { 149.5, 80.2 }, best = json.null }
--     --> '{"best":null,"costs":[149.5,80.2],"gamma":0.5}'   (keys sorted: stable files)
--   json.encode(v, { indent = 2 })   -- pretty, one key per line
--   json.decode '{"a":[1,2,null]}'   --> { a = { 1, 2, json.null } }   (or nil, message)
--
-- Tables with keys 1..n (or empty) are arrays, others objects (keys become strings). NaN and
-- infinities, which JSON cannot hold, become null. Integers stay integers; other numbers are
-- written with 17 significant digits trimmed to the shortest form that reads back the same.
local M = {}

M.null = setmetatable({}, { __tostring = function() return "null" end })

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

local function number(x)
  if x ~= x or x == math.huge or x == -math.huge then return "null" end
  if math.type(x) == "integer" then return tostring(x) end
  for digits = 15, 17 do
    local s = ("%." .. digits .. "g"):format(x)
    if tonumber(s) == x then return s end
  end
  return ("%.17g"):format(x)
end

local function is_array(t)
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

local function encode(v, indent, depth, seen, out)
  local kind = type(v)
  if v == nil or v == M.null then
    out[#out + 1] = "null"
  elseif kind == "boolean" then
    out[#out + 1] = tostring(v)
  elseif kind == "number" then
    out[#out + 1] = number(v)
  elseif kind == "string" then
    out[#out + 1] = quote(v)
  elseif kind == "table" then
    if seen[v] then error("json.encode: a table contains itself", 0) end
    seen[v] = true
    local nl = indent and "\n" .. (" "):rep(indent * (depth + 1)) or ""
    local close = indent and "\n" .. (" "):rep(indent * depth) or ""
    if is_array(v) then
      if #v == 0 and next(v) == nil then
        out[#out + 1] = "[]"
      else
        out[#out + 1] = "["
        for i = 1, #v do
          if i > 1 then out[#out + 1] = "," end
          -- arrays of numbers stay on one line
          if type(v[i]) == "table" then out[#out + 1] = nl end
          encode(v[i], indent, depth + 1, seen, out)
        end
        if type(v[1]) == "table" then out[#out + 1] = close end
        out[#out + 1] = "]"
      end
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        local x = v[k]
        if x == nil then x = v[tonumber(k)] end
        out[#out + 1] = (i > 1 and "," or "") .. nl .. quote(k) .. (indent and ": " or ":")
        encode(x, indent, depth + 1, seen, out)
      end
      out[#out + 1] = (#keys > 0 and close or "") .. "}"
    end
    seen[v] = nil
  elseif kind == "userdata" and v.totable then
    encode(v:totable(), indent, depth, seen, out)
  else
    error("json.encode: cannot encode a " .. kind, 0)
  end
end

-- the JSON text of v; opts.indent (spaces) pretty-prints
function M.encode(v, opts)
  local out = {}
  encode(v, opts and opts.indent, 0, {}, out)
  return table.concat(out)
end

-- ---- decoding -----------------------------------------------------------------------------------

local function fail(s, i, what)
  local line = select(2, s:sub(1, i):gsub("\n", "")) + 1
  error(("json.decode: %s at line %d (byte %d)"):format(what, line, i), 0)
end

local function skip(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local value

local function string_at(s, i)
  local out, j = {}, i + 1
  while true do
    local c = s:sub(j, j)
    if c == "" then fail(s, i, "unterminated string") end
    if c == '"' then return table.concat(out), j + 1 end
    if c == "\\" then
      local e = s:sub(j + 1, j + 1)
      local map = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"',
                    ["\\"] = "\\", ["/"] = "/" }
      if map[e] then
        out[#out + 1], j = map[e], j + 2
      elseif e == "u" then
        local hex = s:sub(j + 2, j + 5)
        if not hex:match "^%x%x%x%x$" then fail(s, j, "bad \\u escape") end
        local code = tonumber(hex, 16)
        j = j + 6
        if code >= 0xD800 and code < 0xDC00 and s:sub(j, j + 1) == "\\u" then
          local low = tonumber(s:sub(j + 2, j + 5), 16)
          if low and low >= 0xDC00 and low < 0xE000 then
            code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
            j = j + 6
          end
        end
        out[#out + 1] = utf8.char(code)
      else
        fail(s, j, "bad escape")
      end
    else
      out[#out + 1], j = c, j + 1
    end
  end
end

function value(s, i)
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local t = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "}" then return t, i + 1 end
    while true do
      if s:sub(i, i) ~= '"' then fail(s, i, "expected a key") end
      local k
      k, i = string_at(s, i)
      i = skip(s, i)
      if s:sub(i, i) ~= ":" then fail(s, i, "expected ':'") end
      t[k], i = value(s, i + 1)
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "}" then return t, i + 1 end
      if d ~= "," then fail(s, i, "expected ',' or '}'") end
      i = skip(s, i + 1)
    end
  elseif c == "[" then
    local t = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "]" then return t, i + 1 end
    while true do
      t[#t + 1], i = value(s, i)
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "]" then return t, i + 1 end
      if d ~= "," then fail(s, i, "expected ',' or ']'") end
      i = i + 1
    end
  elseif c == '"' then
    return string_at(s, i)
  elseif s:sub(i, i + 3) == "true" then
    return true, i + 4
  elseif s:sub(i, i + 4) == "false" then
    return false, i + 5
  elseif s:sub(i, i + 3) == "null" then
    return M.null, i + 4
  end
  local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
  if not num or num == "" or num == "-" then fail(s, i, "unexpected character") end
  local n = math.tointeger(tonumber(num)) or tonumber(num)
  if n == nil then fail(s, i, "bad number") end
  return n, i + #num
end

-- the value of JSON text s, or nil, message
function M.decode(s)
  if type(s) ~= "string" then return nil, "json.decode: expected a string, got " .. type(s) end
  local ok, v, i = pcall(value, s, 1)
  if not ok then return nil, v end
  if skip(s, i) <= #s then return nil, ("json.decode: trailing text at byte %d"):format(i) end
  return v
end

-- read and decode a file: the value, or nil, message
function M.read(path)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local text = f:read "a"
  f:close()
  return M.decode(text)
end

return M
