-- repl.lua: the Lua side of `spinal repl`: how results print, the :commands, tab completion.
--
-- The C host (lua/host/repl.c) reads lines and runs them; it calls
--   repl.show(...)              to print a line's results (tab-separated, tables pretty-printed)
--   repl.command(line)          for a line starting with ':' (true means quit)
--   repl.complete(word, line)   for the candidates that may replace the word before the cursor
-- Change these fields (or add to repl.commands / repl.completers) to extend the REPL.
local M = {}

-- ---- pretty printer -----------------------------------------------------------------------------

M.options = { depth = 3, items = 12, width = 80 }

local keywords = {}
for word in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch "%a+" do keywords[word] = true end
M.keywords = keywords

local function is_identifier(s)
  return type(s) == "string" and s:match "^[%a_][%w_]*$" ~= nil and not keywords[s]
end

local function safe_tostring(v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == "string" then return s end
  return ("<%s: __tostring failed: %s>"):format(type(v), tostring(s))
end

local function quote(s)
  return (("%q"):format(s):gsub("\\\n", "\\n"))
end

local type_order = { number = 1, string = 2, boolean = 3 }
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (type_order[ta] or 9) < (type_order[tb] or 9) or
    ((type_order[ta] or 9) == (type_order[tb] or 9) and ta < tb) end
  if ta == "number" or ta == "string" then return a < b end
  return safe_tostring(a) < safe_tostring(b)
end

local render

local function count(n)
  return n == 1 and "1 item" or ("%d items"):format(n)
end

local function render_table(t, opts, depth, path)
  local mt = getmetatable(t)
  if type(mt) == "table" and rawget(mt, "__tostring") then return safe_tostring(t) end
  if path[t] then return "<cycle: " .. safe_tostring(t):gsub("^table: ", "") .. ">" end
  -- count entries; the array part is 1..n without holes
  local total, n = 0, 0
  for _ in next, t do total = total + 1 end
  while rawget(t, n + 1) ~= nil do n = n + 1 end
  if total == 0 then return "{}" end
  if depth >= opts.depth then return ("{ ... (%s) }"):format(count(total)) end
  path[t] = true
  local items = {}
  for i = 1, math.min(n, opts.items) do
    items[#items + 1] = render(rawget(t, i), opts, depth + 1, path)
  end
  if #items < opts.items then
    local keys = {}
    for k in next, t do
      if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
    end
    table.sort(keys, key_less)
    for _, k in ipairs(keys) do
      if #items >= opts.items then break end
      local name = is_identifier(k) and k or "[" .. render(k, opts, opts.depth, path) .. "]"
      items[#items + 1] = name .. " = " .. render(rawget(t, k), opts, depth + 1, path)
    end
  end
  path[t] = nil
  if total > #items then items[#items + 1] = ("... (%s)"):format(count(total)) end
  -- one line when it fits, otherwise one item per line
  local line = "{ " .. table.concat(items, ", ") .. " }"
  if #line + 2 * depth <= opts.width and not line:find "\n" then return line end
  local pad = ("  "):rep(depth + 1)
  for i, item in ipairs(items) do items[i] = pad .. item:gsub("\n", "\n  ") end
  return "{\n" .. table.concat(items, ",\n") .. "\n" .. ("  "):rep(depth) .. "}"
end

function render(v, opts, depth, path)
  local kind = type(v)
  if kind == "string" then return quote(v) end
  if kind == "table" then return render_table(v, opts, depth, path) end
  return safe_tostring(v)
end

-- v as text: strings quoted, tables nested up to opts.depth with opts.items entries each
-- (longer ones end "... (N items)"), cycles marked, __tostring used where defined
function M.pretty(v, opts)
  opts = setmetatable(opts or {}, { __index = M.options })
  return render(v, opts, 0, {})
end

-- print values tab-separated; strings print as they are, everything else through M.pretty
function M.show(...)
  local n = select("#", ...)
  local out = {}
  for i = 1, n do
    local v = select(i, ...)
    out[i] = type(v) == "string" and v or M.pretty(v)
  end
  io.stdout:write(table.concat(out, "\t"), "\n")
end

-- ---- commands -----------------------------------------------------------------------------------

-- C modules have no first comment line to read; those with a summary here list it instead
local c_summaries = {
  gn = "Method 1's Gauss-Newton optimiser, with a trust region on the change of actions.",
}

local function module_summary(name)
  local path = package.searchpath("spinal." .. name, package.path)
  local f = path and io.open(path)
  if not f then
    if not package.preload["spinal." .. name] then return "" end
    return c_summaries[name] or "(C module)"
  end
  local first = f:read "l" or ""
  f:close()
  return first:match "^%-%-%s*[%w_.]+%.lua:%s*(.*)$" or first:match "^%-%-%s*(.*)$" or ""
end

M.commands = {
  help = {
    "list the REPL commands and the spinal modules",
    function()
      local out = { "commands:" }
      local names = {}
      for name in pairs(M.commands) do names[#names + 1] = name end
      table.sort(names)
      for _, name in ipairs(names) do
        out[#out + 1] = ("  :%-10s %s"):format(name, M.commands[name][1])
      end
      out[#out + 1] = "modules (spinal.<name>, also as sp.<name>):"
      local spinal = require "spinal"
      for _, name in ipairs(spinal.modules()) do
        out[#out + 1] = ("  %-12s %s"):format(name, module_summary(name))
      end
      out[#out + 1] = "Expressions print their values; a chunk left open continues on '>>'."
      out[#out + 1] = "Tab completes names and fields; Ctrl-C clears the line; Ctrl-D quits."
      io.stdout:write(table.concat(out, "\n"), "\n")
    end,
  },
  quit = { "leave the REPL (Ctrl-D does the same)", function() return true end },
}

-- run ":name args"; returns true to quit
function M.command(line)
  local name, rest = line:match "^:(%S*)%s*(.-)%s*$"
  local entry = M.commands[name]
  if not entry then
    local known = {}
    for k in pairs(M.commands) do known[#known + 1] = ":" .. k end
    table.sort(known)
    io.stderr:write(("unknown command ':%s' (known: %s)\n"):format(name, table.concat(known, ", ")))
    return false
  end
  return entry[2](rest) == true
end

-- ---- completion ---------------------------------------------------------------------------------

-- the names of fields reachable from v with '.' (or ':' when methods_only), following
-- table-valued __index chains (so userdata methods complete too)
local function fields(v, methods_only, out, seen)
  seen = seen or {}
  if seen[v] then return out end
  seen[v] = true
  if type(v) == "table" then
    for k, x in next, v do
      if is_identifier(k) and (not methods_only or type(x) == "function") then out[k] = true end
    end
  end
  local mt = getmetatable(v)
  local index = type(mt) == "table" and rawget(mt, "__index")
  if type(index) == "table" then fields(index, methods_only, out, seen) end
  return out
end

-- extra candidates for a value: functions (value, names_table) adding names; the spinal table
-- lists its not yet loaded modules this way
M.completers = {
  function(v, names)
    if v == package.loaded.spinal then
      for _, name in ipairs(v.modules()) do names[name] = true end
    end
  end,
}

local function lookup(expr)
  local v = _G
  for name in expr:gmatch "[^.:]+" do
    if type(v) ~= "table" and type(v) ~= "userdata" and type(v) ~= "string" then return nil end
    local ok, x = pcall(function() return v[name] end)
    if not ok then return nil end
    v = x
  end
  return v
end

-- candidates (sorted, full words) that may replace word; line is the text up to the cursor
function M.complete(word, line)
  local out = {}
  if line and line:match "^:" and not line:find "%s" then
    for name in pairs(M.commands) do
      if (":" .. name):sub(1, #word) == word then out[#out + 1] = ":" .. name end
    end
    table.sort(out)
    return out
  end
  local base, sep, partial = word:match "^(.*)([.:])([%w_]*)$"
  local names = {}
  if base then
    if not base:match "^[%a_][%w_]*[%w_.:]*$" or base:find "[.:][.:]" then return out end
    local v = lookup(base)
    if v == nil then return out end
    if type(v) == "string" then v = string end
    fields(v, sep == ":", names)
    for _, extra in ipairs(M.completers) do pcall(extra, v, names) end
  else
    partial = word
    base, sep = "", ""
    fields(_G, false, names)
    for k in pairs(keywords) do names[k] = true end
  end
  for name in pairs(names) do
    if name:sub(1, #partial) == partial then out[#out + 1] = base .. sep .. name end
  end
  table.sort(out)
  return out
end

return M
