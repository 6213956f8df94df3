-- run.lua: the directory an experiment writes (spinal.run): settings, metrics, trajectories,
-- plots and the headline summary, as docs/api/run.md describes.
--
--   local run = sp.run.start { name = "car_figure8", settings = cfg }
--     -- runs/car_figure8/YYYYmmdd-HHMMSS/ (UTC), or cfg.out when it is a non-empty string
--   run:log { iter = 1, cost = 149.5 }       -- appends a row to metrics.csv (header: first row)
--   run:save_traj("nominal", traj)            -- nominal_X.npy, nominal_U.npy, nominal_t.npy
--   run:plot { file = "cost.png", ... }       -- spinal.plot.png, file relative to the run
--   run:summary { iters = 15, costs = {...} } -- summary.json (flat keys and lists)
--   run:path "cost.png"                       -- the file's path inside the run
--   sp.run.resolve "robots/rc_car.lua"        -- from the working directory or the project
--
-- metrics.csv is flushed after every row, so an interrupted run keeps what it measured. A missing
-- gnuplot is reported once on stderr and the plots are skipped; nothing else about the run
-- changes.
local json = require "spinal.json"
local plot = require "spinal.plot"

local M = {}
local Run = {}
Run.__index = Run

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function mkdir(path, parents)
  local ok = os.execute(("mkdir %s%s 2>/dev/null"):format(parents and "-p " or "",
    shell_quote(path)))
  return ok == true or ok == 0
end

local function write_file(path, text)
  local f, err = io.open(path, "w")
  if not f then error(("run: cannot write %s (%s)"):format(path, err), 0) end
  f:write(text)
  f:close()
end

-- a data file named relative to the working directory, or failing that to the project the
-- running script belongs to (the parent of its directory: experiments/x.lua -> robots/y.lua)
function M.resolve(path)
  local f = io.open(path, "r")
  if f then
    f:close()
    return path
  end
  local script = arg and arg[0]
  local dir = type(script) == "string" and script:match "^(.*)/[^/]*$"
  if dir and path:sub(1, 1) ~= "/" then
    local candidate = dir .. "/../" .. path
    f = io.open(candidate, "r")
    if f then
      f:close()
      return candidate
    end
  end
  return path
end

-- start a run: opts.name (required), opts.settings (written to settings.json; its `out`, when a
-- non-empty string, is the directory), opts.out, opts.root (default "runs")
function M.start(opts)
  assert(type(opts) == "table" and type(opts.name) == "string",
    "run.start: expected a table with name = a string")
  local settings = opts.settings or {}
  local out = opts.out or settings.out
  local dir
  if type(out) == "string" and out ~= "" then
    dir = out
    if not mkdir(dir, true) then error(("run: cannot create %s"):format(dir), 0) end
  else
    local parent = (opts.root or "runs") .. "/" .. opts.name
    if not mkdir(parent, true) then error(("run: cannot create %s"):format(parent), 0) end
    local stamp = os.date "!%Y%m%d-%H%M%S"
    dir = parent .. "/" .. stamp
    local i = 1
    while not mkdir(dir, false) do  -- two runs in the same second get -2, -3, ...
      i = i + 1
      if i > 100 then error(("run: cannot create %s"):format(dir), 0) end
      dir = ("%s/%s-%d"):format(parent, stamp, i)
    end
  end
  local self = setmetatable({ name = opts.name, dir = dir, settings = settings }, Run)
  write_file(self:path "settings.json", json.encode(settings, { indent = 2 }) .. "\n")
  return self
end

function Run:path(file)
  return self.dir .. "/" .. file
end

local function cell(v)
  if v == nil then return "" end
  if type(v) == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return ("%.10g"):format(v)
  end
  local s = tostring(v)
  if s:find '[,"\n]' then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

-- append one row to metrics.csv; the first row fixes the columns (sorted, iter/step first)
function Run:log(row)
  if not self.metrics then
    local cols = {}
    for k in pairs(row) do cols[#cols + 1] = k end
    local first = { iter = 1, step = 2, seed = 3 }
    table.sort(cols, function(a, b)
      local fa, fb = first[a] or 99, first[b] or 99
      if fa ~= fb then return fa < fb end
      return a < b
    end)
    local f, err = io.open(self:path "metrics.csv", "w")
    if not f then error(("run: cannot write metrics.csv (%s)"):format(err), 0) end
    f:write(table.concat(cols, ","), "\n")
    self.metrics, self.columns = f, cols
  end
  local known = {}
  for _, c in ipairs(self.columns) do known[c] = true end
  for k in pairs(row) do
    if not known[k] then
      error(("run:log: column '%s' is not in metrics.csv (its first row fixed: %s)")
        :format(k, table.concat(self.columns, ", ")), 2)
    end
  end
  local cells = {}
  for i, c in ipairs(self.columns) do cells[i] = cell(row[c]) end
  self.metrics:write(table.concat(cells, ","), "\n")
  self.metrics:flush()
end

-- save a trajectory's arrays (X, U, t, and flags when present) as NAME_<field>.npy
function Run:save_traj(name, traj)
  for _, field in ipairs { "X", "U", "t", "flags" } do
    local a = traj[field]
    if a then assert(a:save(self:path(("%s_%s.npy"):format(name, field)))) end
  end
end

-- write summary.json (sorted keys, indented) and return its path
function Run:summary(t)
  self.summary_table = t
  write_file(self:path "summary.json", json.encode(t, { indent = 2 }) .. "\n")
  return self:path "summary.json"
end

-- a PNG inside the run (spec as spinal.plot.png, file relative to the run): its path, or nil
function Run:plot(spec)
  local copy = {}
  for k, v in pairs(spec) do copy[k] = v end
  copy.file = self:path(spec.file)
  local ok, err = plot.png(copy)
  if ok then
    self.plots = self.plots or {}
    self.plots[#self.plots + 1] = copy.file
    return copy.file
  end
  if not M.warned then
    M.warned = true
    io.stderr:write("spinal.run: ", err, "\n")
  end
  return nil, err
end

function Run:close()
  if self.metrics then
    self.metrics:close()
    self.metrics = nil
  end
end
Run.__close = Run.close
Run.__gc = Run.close

function Run:__tostring()
  return "run " .. self.name .. " in " .. self.dir
end

return M
