-- repl.lua: the Lua side of `spinal repl`: how results print, the :commands, tab completion.
--
-- The C host (lua/host/repl.c) reads lines and runs them; it calls
--   repl.show(...)              to print a line's results (tab-separated, tables pretty-printed)
--   repl.command(line)          for a line starting with ':' (true means quit)
--   repl.complete(word, line)   for the candidates that may replace the word before the cursor
-- and sets the global help(x) to repl.help: the docs/api entries for any spinal function,
-- module or object. Change these fields (or add to repl.commands / repl.completers) to extend the REPL.
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

-- ---- gains and references with their names ---------------------------------------------------

-- the blocks of a controller's gains and reference, from the blocks its class names
-- (ctrl.gain_blocks, ctrl.ref_blocks: name, size, kind): { name or { name, size or names } ... };
-- a per-state or per-action block gets the robot's state or action names, a matrix one row per
-- action. nil for a class that names no blocks.
local function layout(list, ctrl, x_names, u_names)
  if not list or #list == 0 then return nil end
  local out = {}
  for _, b in ipairs(list) do
    if b.kind == "matrix" then
      for i = 1, ctrl.nu do
        local row = ("%s[%s]"):format(b.name, u_names and u_names[i] or i)
        out[#out + 1] = { row, x_names or ctrl.nx }
      end
    elseif b.kind == "state" then
      out[#out + 1] = { b.name, x_names or b.size }
    elseif b.kind == "action" then
      out[#out + 1] = { b.name, u_names or b.size }
    elseif b.size == 1 then
      out[#out + 1] = b.name
    else
      out[#out + 1] = { b.name, b.size }
    end
  end
  return out
end

local function blocks(ctrl, x_names, u_names)
  local ok, gains = pcall(function() return ctrl.gain_blocks end)
  local _, refs = pcall(function() return ctrl.ref_blocks end)
  if not ok then return nil end
  return layout(gains, ctrl, x_names, u_names), layout(refs, ctrl, x_names, u_names)
end

-- "name = value" for every block of v (a list or array) laid out as spec says
local function name_blocks(v, spec)
  local out, k = {}, 0
  for _, b in ipairs(spec) do
    if type(b) == "string" then
      k = k + 1
      out[#out + 1] = ("%s = %s"):format(b, M.pretty(v[k]))
    else
      local names, n = b[2], type(b[2]) == "table" and #b[2] or b[2]
      local items = {}
      for i = 1, n do
        k = k + 1
        items[i] = (type(names) == "table" and names[i] .. " = " or "") .. M.pretty(v[k])
      end
      out[#out + 1] = ("%s = { %s }"):format(b[1], table.concat(items, ", "))
    end
  end
  return out
end

-- the lines that show a controller's gains K and reference r with their names (ctrl: a
-- spinal.ctrl; x_names, u_names: the robot's, may be nil); a class that names no gains prints
-- the vectors
function M.named_params(ctrl, K, r, x_names, u_names)
  local g, ref = blocks(ctrl, x_names, u_names)
  local lines = {}
  if not g then
    lines[1] = "gains " .. M.pretty(K)
    lines[2] = "reference " .. M.pretty(r)
    return lines
  end
  lines[#lines + 1] = ("gains (%s): %s"):format(ctrl.name, table.concat(name_blocks(K, g), ", "))
  if ctrl.nr > 0 and r then
    lines[#lines + 1] = ref and "reference: " .. table.concat(name_blocks(r, ref), ", ")
      or "reference " .. M.pretty(r)
  end
  return lines
end

-- ---- commands -----------------------------------------------------------------------------------

-- ---- help: docs/api is the reference ----------------------------------------------------------

-- one line for each module written in C (their sources are not installed)
M.summaries = {
  array = "n-dimensional double arrays: creation, views, arithmetic, NPY files.",
  cost = "differentiable costs and tasks' running and terminal costs.",
  ctrl = "differentiable feedback controllers (tracker, pd, lqr) and LQR design.",
  gn = "Method 1's Gauss-Newton optimiser, with a trust region on the change of actions.",
  grad = "policy-gradient estimators: feedback (method 1), BPTT, REINFORCE, ES.",
  hal = "plants (model, mujoco, replay, udp), lockstep rollouts, the UDP bridge.",
  host = "the spinal binary's services: Ctrl-C, clock, sleep, directories, CPUs.",
  linalg = "dense linear algebra on arrays: solve, eigh, Cholesky, Riccati.",
  loop = "the live real-time control loop over a plant, driven from Lua.",
  model = "dynamics models: step, Jacobians, the model registry.",
  motion = "reference motion clips: derivatives, interpolation, windows, mocap files.",
  nn = "multilayer perceptrons with forward and backward passes.",
  policy = "policies: a controller corrected by a network, with parameters theta.",
  ppo = "PPO and batched MuJoCo quadrupeds, the model-free baseline of method 2.",
  mpi_core = "the MPI primitives under spinal.mpi (use spinal.mpi: docs/api/mpi.md).",
  rbd = "rigid-body dynamics: trees, RNEA, ABA, their derivatives, MJCF import.",
  renderer = "offscreen pictures of an MJCF model in given poses (MuJoCo's renderer, EGL).",
  rng = "seeded random number generators (uniform, normal).",
  task = "tasks: reference trajectories and the costs an experiment optimises.",
  wm = "method 2's world model, its replay buffer and the VAE policy trained through it.",
}

-- the first sentence of a Lua module's header comment, whole (it may span lines)
local function module_summary(name)
  if M.summaries[name] then return M.summaries[name] end
  local path = package.searchpath("spinal." .. name, package.path)
  local f = path and io.open(path)
  if not f then return "(see docs/api)" end
  local text = {}
  for line in f:lines() do
    local c = line:match "^%-%-%s?(.*)$"
    if not c or c == "" then break end
    text[#text + 1] = c
  end
  f:close()
  local all = table.concat(text, " "):gsub("^[%w_.]+%.lua:%s*", "")
  return all:match "^(.-%.)%s" or all:match "^(.-%.)$" or all
end

-- prefix .. text wrapped to width columns, later lines indented by indent spaces
local function wrap(prefix, text, width, indent)
  local lines, line = {}, prefix
  for word in text:gmatch "%S+" do
    if #line > #prefix and #line + 1 + #word > width then
      lines[#lines + 1] = line
      line = (" "):rep(indent) .. word
    else
      line = #line > #prefix and line .. " " .. word or line .. word
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

-- where docs/api is, from the Lua library's place: the source tree's docs/api (lua/../docs/api),
-- or <prefix>/share/spinal/docs/api when installed (the library in <prefix>/share/lua/5.4);
-- M.docs_dir overrides
local function docs_dir()
  if M.docs_dir then return M.docs_dir end
  local path = package.searchpath("spinal.repl", package.path)
  local dir = path and path:match "^(.*)/spinal/repl%.lua$"
  if not dir then return nil end
  for _, d in ipairs { dir .. "/../docs/api", dir .. "/../../spinal/docs/api" } do
    local f = io.open(d .. "/hal.md")
    if f then
      f:close()
      return d
    end
  end
  return nil
end

local doc_cache
-- every docs/api/*.md, then docs/*.md (robot files, the command line, ...), as { name, lines }
local function docs()
  if doc_cache then return doc_cache end
  local dir = docs_dir()
  local ok, host = pcall(require, "spinal.host")
  doc_cache = {}
  for _, sub in ipairs { { dir, "docs/api/" }, { dir and dir .. "/..", "docs/" } } do
    local names = sub[1] and ok and host.listdir(sub[1]) or {}
    table.sort(names)
    for _, n in ipairs(names) do
      local f = n:match "%.md$" and io.open(sub[1] .. "/" .. n)
      if f then
        local lines = {}
        for line in f:lines() do lines[#lines + 1] = line end
        f:close()
        doc_cache[#doc_cache + 1] = { name = sub[2] .. n, lines = lines,
                                      api = sub[2] == "docs/api/" }
      end
    end
  end
  return doc_cache
end

-- the methods of a userdata type: its __index table, or the table a C __index closure looks in
local function methods_of(mt)
  local idx = type(mt) == "table" and rawget(mt, "__index")
  if type(idx) == "table" then return idx end
  if type(idx) == "function" then
    local _, up = debug.getupvalue(idx, 1)
    if type(up) == "table" then return up end
  end
  return nil
end

-- what v is called: { { module = m, key = k }, { type = "spinal.loop", key = k }, ... }
local function names_of(v)
  local out = {}
  local spinal = package.loaded.spinal
  if v == spinal then return { { module = "spinal" } } end
  for _, m in ipairs(spinal and spinal.modules() or {}) do
    local mod = package.loaded["spinal." .. m]
    if mod ~= nil and mod == v then out[#out + 1] = { module = m } end
    if type(mod) == "table" then
      for k, x in pairs(mod) do
        if x == v and type(k) == "string" then out[#out + 1] = { module = m, key = k } end
        -- a class written in Lua (spinal.robot's Robot, spinal.run's Run): its methods
        local cname = type(x) == "table" and rawget(x, "__name")
        if type(cname) == "string" and cname:match "^spinal%." then
          for mk, mx in pairs(x) do
            if mx == v and type(mk) == "string" and not mk:match "^__" then
              out[#out + 1] = { type = cname, key = mk }
            end
          end
        end
      end
    end
  end
  for name, mt in pairs(debug.getregistry()) do
    if type(name) == "string" and name:match "^spinal%." and type(mt) == "table" then
      for _, t in ipairs { mt, methods_of(mt) or {} } do
        if type(t) == "table" then
          for k, x in pairs(t) do
            if x == v and type(k) == "string" and not k:match "^__" then
              out[#out + 1] = { type = name, key = k }
            end
          end
        end
      end
    end
  end
  local mt = getmetatable(v)
  local tname = type(mt) == "table" and rawget(mt, "__name")
  if #out == 0 and type(tname) == "string" and tname:match "^spinal%." then
    out[#out + 1] = { type = tname }
  end
  return out
end

-- the paragraph (or table row) around line i
local function passage(lines, i)
  if lines[i]:match "^|" then return { lines[i] } end
  local a, b = i, i
  while a > 1 and lines[a - 1]:match "%S" and not lines[a - 1]:match "^[#|]" do a = a - 1 end
  while b < #lines and lines[b + 1]:match "%S" and not lines[b + 1]:match "^[#|]" do b = b + 1 end
  if b - a > 7 then a, b = math.max(a, i - 3), math.min(b, i + 4) end
  local out = {}
  for k = a, b do out[#out + 1] = lines[k] end
  return out
end

-- objects whose docs no heading names by their type: the phrase that introduces them
M.doc_topics = {
  ["spinal.traj"] = "The trajectory holds",
  ["spinal.hal.plant"] = "Fields: `plant.nx",
  ["spinal.rbd.tree"] = "spinal.rbd",
}

-- the passages of the docs that contain phrase
local function find_phrase(phrase)
  local hits = {}
  for _, d in ipairs(docs()) do
    for i, line in ipairs(d.lines) do
      if line:find(phrase, 1, true) then
        hits[#hits + 1] = { where = d.name .. ":" .. i, text = passage(d.lines, i) }
        break
      end
    end
  end
  return hits
end

-- lines of docs/api mentioning a function key (as `x.key(`, `x:key(` or `key(` in code) or,
-- without a key, the sections whose heading names spinal.<module>
local function find(module, key, other)
  local hits = {}
  for _, d in ipairs(docs()) do
    if (d.api and true or false) == (other and true or false) then goto next_doc end
    local seen = {}
    for i, line in ipairs(d.lines) do
      local found = false
      if key then
        for code in line:gmatch "`([^`]+)`" do
          local k = code:match "[%.:]([%w_]+)%s*[%({]" or code:match "^([%w_]+)%s*%(" or
            code:match "[%.:]([%w_]+)$"
          if k == key and (not module or code:find(module, 1, true) or
              not code:find "^[%w_]+[%.:]") then
            found = true
          end
        end
      elseif line:match "^#" and line:find("spinal." .. module, 1, true) then
        found = true
      end
      if found and not seen[i] then
        local p = passage(d.lines, i)
        if line:match "^#" then
          local j = i + 1
          while d.lines[j] and not d.lines[j]:match "%S" do j = j + 1 end
          p = d.lines[j] and { line, table.unpack(passage(d.lines, j)) } or { line }
        end
        for k = i, i + #p do seen[k] = true end
        hits[#hits + 1] = { where = d.name .. ":" .. i, text = p }
      end
    end
    ::next_doc::
  end
  return hits
end

local function sorted_keys(t, pred)
  local out = {}
  for k, x in pairs(t) do
    if type(k) == "string" and not k:match "^__" and (not pred or pred(x)) then out[#out + 1] = k end
  end
  table.sort(out)
  return out
end

-- help(x): what docs/api says about x (a spinal function, module or object), with file:line
function M.help(...)
  local out = {}
  if select("#", ...) == 0 then
    M.commands.help[2]()
    return
  end
  local v = ...
  local names = names_of(v)
  if #names == 0 then
    out[#out + 1] = ("help: %s is not a spinal function, module or object (try help(sp.hal) or "
      .. ":help)"):format(type(v) == "string" and quote(v) or safe_tostring(v))
  end
  local limit = 6
  for _, n in ipairs(names) do
    local module = n.module or (n.type and n.type:match "^spinal%.([%w_]+)")
    local title = n.module and n.key and ("spinal.%s.%s"):format(n.module, n.key)
      or n.type and n.key and ("%s:%s"):format(n.type, n.key)
      or n.module and ("spinal." .. n.module) or n.type
    out[#out + 1] = title .. (type(v) == "function" and " (function)" or "")
    -- docs/api first; the other docs (robot files, the command line) when it has nothing
    local hits
    for _, other in ipairs { false, true } do
      hits = find(n.key and (n.module and n.module or nil) or module, n.key, other)
      if n.key and #hits == 0 and n.module then hits = find(nil, n.key, other) end
      if #hits > 0 then break end
    end
    local topic = not n.key and n.type and M.doc_topics[n.type]
    if topic then
      local extra = find_phrase(topic)
      for i = #extra, 1, -1 do table.insert(hits, 1, extra[i]) end
    end
    for i, h in ipairs(hits) do
      if i > limit then
        out[#out + 1] = ("  ... %d more in docs/api"):format(#hits - limit)
        break
      end
      out[#out + 1] = "  " .. h.where
      for _, l in ipairs(h.text) do out[#out + 1] = "    " .. l end
    end
    if #hits == 0 then out[#out + 1] = "  (no entry in docs)" end
    -- what a module or an object offers
    local t = n.key == nil and (n.type and methods_of(getmetatable(v)) or type(v) == "table" and v)
    if type(t) == "table" then
      local fs = sorted_keys(t, function(x) return type(x) == "function" end)
      if #fs > 0 then
        out[#out + 1] = wrap(n.type and "  methods: " or "  functions: ", table.concat(fs, " "),
          100, 4)
      end
    end
  end
  io.stdout:write(table.concat(out, "\n"), "\n")
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
        out[#out + 1] = wrap(("  %-12s "):format(name), module_summary(name), 100, 15)
      end
      out[#out + 1] = "help(x) prints what docs/api says about a spinal function, module or object,"
      out[#out + 1] = "  e.g. help(sp.grad.feedback), help(sp.hal), help(loop.stats)."
      out[#out + 1] = "Expressions print their values (long tables cut; :show EXPR prints them whole);"
      out[#out + 1] = "a chunk left open continues on '>>'."
      out[#out + 1] = "Tab completes names and fields; Ctrl-C clears the line; Ctrl-D quits."
      io.stdout:write(table.concat(out, "\n"), "\n")
    end,
  },
  quit = { "leave the REPL (Ctrl-D does the same)", function() return true end },
  show = {
    "print the value of EXPR whole: every item, every level (e.g. :show loop:stats())",
    function(expr)
      local f, err = load("return " .. expr, "=show", "t")
      if not f then
        io.stderr:write(err, "\n")
        return
      end
      local out = {}
      local vals = table.pack(pcall(f))
      if not vals[1] then
        io.stderr:write(tostring(vals[2]), "\n")
        return
      end
      for i = 2, vals.n do
        out[#out + 1] = M.pretty(vals[i], { depth = math.huge, items = math.huge })
      end
      io.stdout:write(table.concat(out, "\t"), "\n")
    end,
  },
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
