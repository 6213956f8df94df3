-- run.lua: the directory an experiment writes (spinal.run): settings, metrics, trajectories,
-- plots and the headline summary, as docs/api/run.md describes.
--
--   local run = sp.run.start { name = "car_figure8", settings = cfg }
--     -- runs/car_figure8/YYYYmmdd-HHMMSS/ (UTC), or cfg.out when it is a non-empty string
--   run:log { iter = 1, cost = 149.5 }       -- appends a row to metrics.csv (header: first row)
--   run:save_traj("nominal", traj, names)     -- nominal_{X,U,t,flags}.npy, nominal.json
--                                             (and nominal_qpos.npy from a mujoco plant)
--   run:save_reference(xs, ys)                -- reference_path.npy: the path `spinal render` draws
--   run:save_policy("policy.ckpt", pol, opt)  -- the policy and its optimiser state
--   local rs = run:sweep(jobs, fn, opts)      -- fn(job) over the MPI ranks; resume= skips done ones
--   run:plot { file = "cost.png", ... }       -- spinal.plot.png, file relative to the run
--   run:summary { iters = 15, costs = {...} } -- summary.json (flat keys and lists)
--   run:path "cost.png"                       -- the file's path inside the run
--   sp.run.resolve "robots/rc_car.lua"        -- from the working directory or the project
--
-- Every file is written atomically: a temporary file in the same directory, a checked write and
-- close, then a rename over the target. A failure (a full disk, a read-only directory) raises
-- "run: cannot write DIR/FILE (reason)", so the script ends with a non-zero status naming the
-- file, and every file already written stays whole. metrics.csv is rewritten (atomically) after
-- every row, so an interrupted run keeps what it measured. A missing gnuplot is reported once on
-- stderr and the plots are skipped; nothing else about the run changes. The helpers below also
-- give experiments their plant (any HAL address), their robot check, fault counts and resume=.
local json = require "spinal.json"
local plot = require "spinal.plot"

local M = {}
local Run = {}
Run.__index = Run
Run.__name = "spinal.run"  -- help(run) finds its docs (docs/api/run.md)
M.Run = Run

-- the file operations every write goes through (tests replace them to inject failures)
M.fs = { open = io.open, rename = os.rename, remove = os.remove }

local tmp_counter = 0

-- an I/O error message without the temporary file's name io.open puts in front of it
local function reason(err, tmp)
  return (tostring(err):gsub("^" .. tmp:gsub("%p", "%%%0") .. ": ", ""))
end

-- write text (a string or a list of strings) to path atomically: true, or nil, message
function M.write_atomic(path, text)
  local fs = M.fs
  tmp_counter = tmp_counter + 1
  local tmp = ("%s.tmp.%d.%d"):format(path, tmp_counter, math.floor(os.clock() * 1e6) % 1000000)
  local f, err = fs.open(tmp, "wb")
  if not f then return nil, ("cannot write %s (%s)"):format(path, reason(err, tmp)) end
  local ok, werr = true, nil
  if type(text) == "table" then
    for _, chunk in ipairs(text) do
      ok, werr = f:write(chunk)
      if not ok then break end
    end
  else
    ok, werr = f:write(text)
  end
  local cok, cerr = f:close()
  if not ok or not cok then
    fs.remove(tmp)
    return nil, ("cannot write %s (%s)"):format(path, reason(werr or cerr, tmp))
  end
  local rok, rerr = fs.rename(tmp, path)
  if not rok then
    fs.remove(tmp)
    return nil, ("cannot write %s (%s)"):format(path, reason(rerr, tmp))
  end
  return true
end

-- s as one word for sh: in single quotes, each ' written '\''
local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.shell_quote = shell_quote

local function mkdir(path, parents)
  local ok = os.execute(("mkdir %s%s 2>/dev/null"):format(parents and "-p " or "",
    shell_quote(path)))
  return ok == true or ok == 0
end

-- write a run file atomically or raise "run: cannot write PATH (reason)"
local function write_file(path, text)
  local ok, err = M.write_atomic(path, text)
  if not ok then error("run: " .. err, 0) end
end
M.write_file = write_file

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

-- the spinal version and the git commit the binary was built from (null when unknown: a build
-- outside a git checkout, or the stock lua interpreter), and what computes its float32 products:
-- OpenBLAS's configuration (its kernel is picked by processor at run time; null outside the
-- spinal binary) and spinal.nn.gemm_kernel() (a run repeats bit for bit where both are the same)
function M.build_info()
  local ok, host = pcall(require, "spinal.host")
  local version = ok and host.version or nil
  if not version then
    local has, sp = pcall(require, "spinal")
    version = has and sp.version or nil
  end
  local commit = ok and host.commit or nil
  local has_nn, nn = pcall(require, "spinal.nn")
  return { version = version or json.null, commit = commit ~= "" and commit or json.null,
           blas = ok and host.blas or json.null,
           float32_gemm = has_nn and nn.gemm_kernel() or json.null }
end

-- check that a robot has what an experiment needs: needs.state and needs.action, lists of names
-- the robot's state and action vectors must start with, in that order (the experiment's cost and
-- policy read them by position). Raises "WHO: ROBOT-FILE is not a robot for WHO: ..." naming
-- what is missing and what the robot has.
function M.require_robot(robot, needs, who)
  local problems = {}
  for _, part in ipairs { "state", "action" } do
    local want, have = needs[part] or {}, robot[part] or {}
    local ok = #have >= #want
    for i = 1, #want do ok = ok and have[i] == want[i] end
    if not ok then
      local missing = {}
      local present = {}
      for _, n in ipairs(have) do present[n] = true end
      for _, n in ipairs(want) do
        if not present[n] then missing[#missing + 1] = n end
      end
      problems[#problems + 1] = ("its %s must start with %s (%s; it has %s)"):format(part,
        table.concat(want, ", "), #missing > 0 and "missing: " .. table.concat(missing, ", ")
          or "in that order", #have > 0 and table.concat(have, ", ") or "none")
    end
  end
  if #problems > 0 then
    error(("%s: %s is not a robot for %s: %s"):format(who, tostring(robot.file or robot.name), who,
      table.concat(problems, "; ")), 0)
  end
  return robot
end

-- open an experiment's plant: `where` is a plant section of the robot file ("model", "mujoco")
-- or a HAL address ("udp://127.0.0.1:9870", a robot behind `spinal bridge`); tweak(scheme, cfg),
-- when given, may change the configuration first (e.g. the MuJoCo perturbations). A robot over
-- udp runs in lockstep with each tick waiting up to 0.2 s for its reply. Raises
-- "WHO: plant=WHERE: reason" when the plant cannot be opened.
function M.open_plant(robot, where, who, tweak)
  local scheme, cfg = robot:plant_config(where)
  if not scheme then error(("%s: plant=%s: %s"):format(who, tostring(where), tostring(cfg)), 0) end
  if scheme == "udp" then cfg.wait = cfg.wait or 0.2 end
  if tweak then tweak(scheme, cfg) end
  local plant, err = require("spinal.hal").open(scheme, cfg)
  if not plant then error(("%s: plant=%s: %s"):format(who, tostring(where), tostring(err)), 0) end
  return plant
end

-- plant:rollout(policy, opts) for an experiment on any plant: a plant that cannot reset (a robot
-- over udp) is not sent opts.x0 (each rollout starts where the robot is), and a robot over udp
-- gets a new session first (its watchdog trips while the host computes between rollouts; the
-- session clears it), waiting up to 1 s for a state without the tripped-watchdog status
function M.rollout(plant, policy, opts)
  if plant.backend == "udp" then
    plant:rearm()
    local has_host, host = pcall(require, "spinal.host")  -- absent under the stock lua
    local t0 = has_host and host.clock() or 0
    while has_host and host.clock() - t0 < 1 do
      local st = plant:stats()
      if st and st.status & 1 == 0 then break end
      host.sleep(0.005)
    end
  end
  if opts.x0 and not plant.can_reset then
    local copy = {}
    for k, v in pairs(opts) do copy[k] = v end
    copy.x0 = nil
    opts = copy
  end
  return plant:rollout(policy, opts)
end

-- under an MPI launcher (docs/distributed.md): with opts.shared every rank calls run.start and
-- they share rank 0's directory (rank 0 makes it and writes settings.json, metrics and summary;
-- the others may write their own files into it, e.g. checkpoints); without it each rank that
-- starts a run gets its own, rank r > 0 in DIR-rankR. settings.json records them under "mpi".
local function mpi_plan(shared)
  local ok, core = pcall(require, "spinal.mpi_core")
  local rank, size
  if ok then rank, size = core.launched() end
  if not rank then return nil end
  if shared then
    local mpi = require "spinal.mpi"
    if mpi.size() == 1 then return nil end
    return { shared = true, mpi = mpi, rank = mpi.rank(), size = mpi.size() }
  end
  if (size or 2) > 1 then return { rank = rank, size = size } end
  return nil
end

-- start a run: opts.name (required), opts.settings (written to settings.json with the spinal
-- version and commit under "spinal"; its `out`, when a non-empty string, is the directory),
-- opts.out, opts.root (default "runs"). opts.resume = DIR reopens an existing run directory
-- instead (settings.json is kept as it is; see M.resume_settings). opts.shared: the ranks of an
-- MPI job share one directory (above; every rank must call run.start).
function M.start(opts)
  assert(type(opts) == "table" and type(opts.name) == "string",
    "run.start: expected a table with name = a string")
  local settings = opts.settings or {}
  if type(opts.resume) == "string" and opts.resume ~= "" then
    local dir = opts.resume
    if not io.open(dir .. "/settings.json", "r") then
      error(("run: cannot resume %s (no settings.json: not a run directory)"):format(dir), 0)
    end
    local self = setmetatable({ name = opts.name, dir = dir, settings = settings, resumed = true },
      Run)
    local plan = mpi_plan(opts.shared)
    if plan and plan.shared and plan.rank > 0 then self.rank = plan.rank end
    return self
  end
  local out = opts.out or settings.out
  local dir
  local plan = mpi_plan(opts.shared)
  local suffix = plan and not plan.shared and plan.rank > 0 and ("-rank%d"):format(plan.rank) or ""
  if plan and plan.shared and plan.rank > 0 then
    dir = plan.mpi.broadcast(nil)  -- rank 0's directory
  elseif type(out) == "string" and out ~= "" then
    out = out .. suffix
    dir = out
    if not mkdir(dir, true) then error(("run: cannot create %s"):format(dir), 0) end
    local earlier = io.open(dir .. "/summary.json", "r")
    if earlier then
      earlier:close()
      io.stderr:write(("run: %s holds an earlier finished run (summary.json): this run replaces "
        .. "its files\n"):format(dir))
    end
  else
    local parent = (opts.root or "runs") .. "/" .. opts.name
    if not mkdir(parent, true) then error(("run: cannot create %s"):format(parent), 0) end
    local stamp = os.date "!%Y%m%d-%H%M%S" .. suffix
    dir = parent .. "/" .. stamp
    local i = 1
    while not mkdir(dir, false) do  -- two runs in the same second get -2, -3, ...
      i = i + 1
      if i > 100 then error(("run: cannot create %s"):format(dir), 0) end
      dir = ("%s/%s-%d"):format(parent, stamp, i)
    end
  end
  local self = setmetatable({ name = opts.name, dir = dir, settings = settings }, Run)
  if plan and plan.shared then
    if plan.rank == 0 then plan.mpi.broadcast(dir) end
    if plan.rank > 0 then
      self.rank = plan.rank  -- a rank of a shared run: rank 0 writes the run's own files
      return self
    end
  end
  local record = {}
  for k, v in pairs(settings) do record[k] = v end
  record.spinal = M.build_info()
  if plan then
    local ranks = {}
    for r = plan.shared and 0 or plan.rank, plan.shared and plan.size - 1 or plan.rank do
      ranks[#ranks + 1] = r
    end
    record.mpi = { size = plan.size or json.null, ranks = ranks,
                   shared = plan.shared and true or false }
  end
  write_file(self:path "settings.json", json.encode(record, { indent = 2 }) .. "\n")
  return self
end

-- the settings of the run in dir (settings.json without its "spinal" record), checked against
-- cfg for every key in `given` (the overrides of the command line, e.g. spinal.args) but
-- `resume` and `out`: a resumed run continues with its own settings, so a different value is an
-- error naming the key. Returns the stored settings.
function M.resume_settings(dir, cfg, given)
  local stored, err = json.read(dir .. "/settings.json")
  if not stored then error(("run: cannot resume %s (%s)"):format(dir, tostring(err)), 0) end
  stored.spinal, stored.mpi = nil, nil
  for k in pairs(given or {}) do
    if k ~= "resume" and k ~= "out" and json.encode(cfg[k]) ~= json.encode(stored[k]) then
      error(("run: cannot resume %s with %s=%s: the run was started with %s=%s (a resumed run "
        .. "continues with its own settings)"):format(dir, k, json.encode(cfg[k]), k,
        json.encode(stored[k])), 0)
    end
  end
  return stored
end

-- cfg for a run that continues cfg.resume (a run directory): its stored settings over cfg,
-- after checking the command line's overrides against them (M.resume_settings); cfg itself when
-- cfg.resume is empty
function M.resumed_settings(cfg)
  if type(cfg.resume) ~= "string" or cfg.resume == "" then return cfg end
  local ok, sp = pcall(require, "spinal")
  local stored = M.resume_settings(cfg.resume, cfg, ok and sp.args or {})
  local merged = {}
  for k, v in pairs(cfg) do merged[k] = v end
  for k, v in pairs(stored) do
    if k ~= "resume" and k ~= "out" then merged[k] = v end
  end
  return merged
end

-- the progress note a learning loop saves with its checkpoint: a table with `next` (the first
-- iteration not yet done) and lists; as JSON
function M.progress_note(state)
  local t = {}
  for k, v in pairs(state) do
    if type(v) ~= "userdata" and k ~= "first" and k ~= "last" then t[k] = v end
  end
  return json.encode(t)
end

-- a resumed run's learning state from its checkpoint FILE (default policy.ckpt): loads the
-- policy and the optimiser's state, decodes the note (JSON nulls in lists back to NaN), refuses a
-- run whose `next` is past iters, reads the nominal trajectory back (NAME_X/U/t.npy, default
-- "nominal") as state.first, and drops the metrics rows of iterations >= next
function Run:resume_state(policy, opt, iters, file, nominal)
  local path = self:path(file or "policy.ckpt")
  local note, err = policy:load(path, opt)
  if not note then error(("run: cannot resume %s (%s)"):format(self.dir, err), 0) end
  local state = json.decode(note)
  if type(state) ~= "table" or math.type(state.next) ~= "integer" then
    error(("run: cannot resume %s (%s holds no progress note)"):format(self.dir, path), 0)
  end
  if state.next > iters then
    error(("run: %s is complete (%d iterations): nothing to resume"):format(self.dir, iters), 0)
  end
  for _, v in pairs(state) do
    if type(v) == "table" then
      for i, x in ipairs(v) do
        if x == json.null then v[i] = 0 / 0 end
      end
    end
  end
  local A = require "spinal.array"
  local first = {}
  for _, field in ipairs { "X", "U", "t" } do
    local a, aerr = A.load(self:path(("%s_%s.npy"):format(nominal or "nominal", field)))
    if not a then error(("run: cannot resume %s (%s)"):format(self.dir, aerr), 0) end
    first[field] = a
  end
  state.first = first
  self:trim_metrics(function(row) return (tonumber(row.iter) or math.huge) < state.next end)
  return state
end

-- a shared run's files other than the ranks' own belong to rank 0 (docs/distributed.md)
local function root_only(self, what)
  error(("run:%s on rank %d: in a run shared by the ranks of an MPI job only rank 0 writes %s "
    .. "(send the data to rank 0: spinal.mpi.map or spinal.mpi.gather)"):format(what, self.rank,
    what == "log" and "metrics.csv" or what == "summary" and "summary.json" or "the run's files"),
    3)
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

-- the metrics.csv lines of an existing run (header first), for resume
local function read_lines(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local lines = {}
  for line in f:lines() do lines[#lines + 1] = line .. "\n" end
  f:close()
  return lines
end

-- split a metrics.csv header line into column names
local function split_header(line)
  local cols = {}
  for c in line:gsub("\n$", ""):gmatch "[^,]+" do cols[#cols + 1] = c end
  return cols
end

-- append one row to metrics.csv; the first row fixes the columns (sorted, iter/step first). The
-- whole file is rewritten atomically, so it is always complete up to the last row logged.
function Run:log(row)
  if self.rank then root_only(self, "log") end
  if not self.columns then
    local cols = {}
    for k in pairs(row) do cols[#cols + 1] = k end
    local first = { iter = 1, step = 2, seed = 3 }
    table.sort(cols, function(a, b)
      local fa, fb = first[a] or 99, first[b] or 99
      if fa ~= fb then return fa < fb end
      return a < b
    end)
    self.columns, self.lines = cols, { table.concat(cols, ",") .. "\n" }
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
  self.lines[#self.lines + 1] = table.concat(cells, ",") .. "\n"
  local ok, err = M.write_atomic(self:path "metrics.csv", self.lines)
  if not ok then
    self.lines[#self.lines] = nil
    error("run: " .. err, 0)
  end
end

-- keep the metrics rows a resumed run has not redone: those for which keep(row) is true (row:
-- column name -> text of the cell); rewrites metrics.csv
function Run:trim_metrics(keep)
  local lines = read_lines(self:path "metrics.csv")
  if not lines or #lines == 0 then return end
  local cols = split_header(lines[1])
  local kept = { lines[1] }
  for i = 2, #lines do
    local row, j = {}, 0
    for c in (lines[i]:gsub("\n$", "") .. ","):gmatch "([^,]*)," do
      j = j + 1
      if cols[j] then row[cols[j]] = c end
    end
    if keep(row) then kept[#kept + 1] = lines[i] end
  end
  self.columns, self.lines = cols, kept
  write_file(self:path "metrics.csv", kept)
end

-- the bits of a trajectory's flags (hal/hal.h SP_FLAG_*), as the NPY sidecar names them
M.FLAGS = {
  { bit = 0, name = "clamped" }, { bit = 1, name = "rate_limited" }, { bit = 2, name = "nan" },
  { bit = 3, name = "watchdog" }, { bit = 4, name = "estop" }, { bit = 5, name = "policy_error" },
  { bit = 6, name = "safe" }, { bit = 8, name = "late" }, { bit = 9, name = "dropped" },
  { bit = 10, name = "held" }, { bit = 11, name = "write_error" },
  { bit = 16, name = "plant_watchdog" }, { bit = 17, name = "plant_safe_stop" },
  { bit = 18, name = "plant_estop" }, { bit = 19, name = "plant_fault" },
}

-- the flags that mean the policy did not drive the plant on that tick: a non-finite command or
-- state, a policy error, the safe command sent, or the robot's own safe stop, e-stop or fault
M.FAULT_MASK = (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 16) | (1 << 17)
  | (1 << 18) | (1 << 19)

-- the number of ticks of a trajectory whose flags include a fault (M.FAULT_MASK), and a count
-- per flag name over those ticks. The robot-reported bits (16 to 19) of the first tick, and of
-- the ticks after it that got no new state (dropped), predate the rollout's first command (a
-- robot over udp holds its safe command until a session's first command): they are not counted.
function M.faults(traj)
  local flags = traj and traj.flags
  if not flags then return 0, {} end
  local n, by = 0, {}
  local leading = true
  for k = 1, flags:numel() do
    local f = math.tointeger(flags[k]) or 0
    if k > 1 and f & (1 << 9) == 0 then leading = false end
    if leading then f = f & ~(0xf << 16) end
    if f & M.FAULT_MASK ~= 0 then
      n = n + 1
      for _, d in ipairs(M.FLAGS) do
        if f & (1 << d.bit) ~= 0 then by[d.name] = (by[d.name] or 0) + 1 end
      end
    end
  end
  return n, by
end

-- true when a legged robot fell during a trajectory: its trunk went below min_height (default
-- 0.15 m) or tilted beyond 1 rad. The trunk's height is a state named pz, z or height when the
-- robot reports one, else MuJoCo's configuration recorded with a rollout on a mujoco plant
-- (traj.qpos: the root free joint's z, qpos[3]); the tilt is a state named roll or pitch. A
-- trajectory with neither height nor tilt never counts as a fall.
function M.fell(traj, robot, min_height)
  local X = traj and traj.X
  if not X then return false end
  local height, tilt = nil, {}
  for i, name in ipairs(robot.state or {}) do
    if name == "pz" or name == "z" or name == "height" then height = i end
    if name == "roll" or name == "pitch" then tilt[#tilt + 1] = i end
  end
  local H, col = X, height
  if not height and traj.qpos and traj.qpos.shape[2] >= 7 then H, col = traj.qpos, 3 end
  min_height = min_height or 0.15
  for k = 1, col and H.shape[1] or 0 do
    if H[k][col] < min_height then return true end
  end
  for k = 1, X.shape[1] do
    for _, i in ipairs(tilt) do
      if math.abs(X[k][i]) > 1 then return true end
    end
  end
  return false
end

-- a 1-D array of 32-bit flags as an NPY file of little-endian uint32 ('<u4')
local function npy_u32(a)
  local n = a:numel()
  local dict = ("{'descr': '<u4', 'fortran_order': False, 'shape': (%d,), }"):format(n)
  local pad = (64 - (10 + #dict + 1) % 64) % 64
  local header = dict .. (" "):rep(pad) .. "\n"
  local out = { "\147NUMPY\1\0" .. string.pack("<I2", #header) .. header }
  local chunk = {}
  for k = 1, n do
    chunk[#chunk + 1] = string.pack("<I4", math.tointeger(a[k]) or 0)
    if #chunk == 4096 or k == n then
      out[#out + 1] = table.concat(chunk)
      chunk = {}
    end
  end
  return out
end

-- an array saved as NPY (float64) atomically: true, or nil, message
local function save_npy(path, a)
  tmp_counter = tmp_counter + 1
  local tmp = ("%s.tmp.%d"):format(path, tmp_counter)
  local ok, err = a:save(tmp)
  if ok then ok, err = M.fs.rename(tmp, path) end
  if not ok then
    M.fs.remove(tmp)
    return nil, ("cannot write %s (%s)"):format(path, reason(err, tmp))
  end
  return true
end

-- save a trajectory's arrays as NAME_<field>.npy (X, U, t as float64; flags as uint32) and a
-- sidecar NAME.json naming the columns: names = { states = {...}, actions = {...} } (e.g. the
-- robot file's state and action lists) and the flag bits ({ nan = 4, safe = 64, ... }: masks).
-- A rollout on a mujoco plant also brings MuJoCo's configuration (traj.qpos, traj.mjcf): saved as
-- NAME_qpos.npy and named in the sidecar's "mujoco" record, what `spinal render` draws.
function Run:save_traj(name, traj, names)
  if self.rank then root_only(self, "save_traj") end
  names = names or {}
  local side = { files = {}, flags = {} }
  for _, field in ipairs { "X", "U", "t", "flags", "qpos" } do
    local a = traj[field]
    if a then
      local file = ("%s_%s.npy"):format(name, field)
      local ok, err
      if field == "flags" then
        ok, err = M.write_atomic(self:path(file), npy_u32(a))
      else
        ok, err = save_npy(self:path(file), a)
      end
      if not ok then error("run: " .. err, 0) end
      side.files[field] = file
    end
  end
  local function check(list, n, what)
    if list and n and #list ~= n then
      error(("run:save_traj: %d %s names for %d columns"):format(#list, what, n), 2)
    end
    return list
  end
  side.states = check(names.states, traj.X and traj.X.shape[2], "state")
  side.actions = check(names.actions, traj.U and traj.U.shape[2], "action")
  for _, d in ipairs(M.FLAGS) do side.flags[d.name] = 1 << d.bit end
  side.columns = { X = side.states, U = side.actions, t = { "t" } }
  if traj.qpos and traj.mjcf then
    side.mujoco = { mjcf = traj.mjcf, qpos = side.files.qpos, nq = traj.qpos.shape[2],
                    robot = traj.robot }
  end
  write_file(self:path(name .. ".json"), json.encode(side, { indent = 2 }) .. "\n")
end

-- save the reference path of a tracking run as reference_path.npy ((n x 2): world x, y in m, on
-- the ground), which `spinal render` draws under the robot; xs and ys are lists of numbers
function Run:save_reference(xs, ys)
  if type(xs) ~= "table" or type(ys) ~= "table" or #xs ~= #ys or #xs < 2 then
    error("run:save_reference: expected two lists of the same length (at least 2 points)", 2)
  end
  local A = require "spinal.array"
  local a = A.zeros(#xs, 2)
  for i = 1, #xs do
    a[i][1], a[i][2] = xs[i], ys[i]
  end
  local ok, err = save_npy(self:path "reference_path.npy", a)
  if not ok then error("run: " .. err, 0) end
  return self:path "reference_path.npy"
end

-- save a policy (spinal.policy: network, optimiser state when opt is given, noise, rng) as FILE in
-- the run, atomically, with an optional note (a string); raises like every other run file
function Run:save_policy(file, policy, opt, note)
  local path = self:path(file)
  local ok, err = policy:save(path, opt, note)
  if not ok then
    error(("run: cannot write %s (%s)"):format(path, tostring(err):gsub("^" .. path:gsub("%p",
      "%%%0") .. ": ", "")), 0)
  end
  return path
end

-- write summary.json (sorted keys, indented) and return its path
function Run:summary(t)
  if self.rank then root_only(self, "summary") end
  self.summary_table = t
  write_file(self:path "summary.json", json.encode(t, { indent = 2 }) .. "\n")
  return self:path "summary.json"
end

-- a PNG inside the run (spec as spinal.plot.png, file relative to the run): its path, or nil,
-- message when gnuplot is missing or fails (reported once on stderr). A file that cannot be
-- written (a full disk) raises like every other run file.
function Run:plot(spec)
  if self.rank then root_only(self, "plot") end
  local copy = {}
  for k, v in pairs(spec) do copy[k] = v end
  copy.file = self:path(spec.file)
  copy.write = M.write_atomic
  copy.rename = M.fs.rename
  local ok, err, kind = plot.png(copy)
  if ok then
    self.plots = self.plots or {}
    self.plots[#self.plots + 1] = copy.file
    return copy.file
  end
  if kind == "io" then error("run: " .. err, 0) end
  if not M.warned then
    M.warned = true
    io.stderr:write("spinal.run: ", err, "\n")
  end
  return nil, err
end

-- ---- sweeps: runs split over the MPI ranks, resume= skips the ones finished ------------------

-- a sweep: fn(job, i) -> result (a table of numbers, strings, booleans, arrays and lists of them)
-- for every job of the list, split over the ranks of an MPI job (spinal.mpi.map; one process runs
-- them all). Each result is kept in DIR/runs/<key>.result as soon as it is made (key =
-- opts.key(job, i), default the index as %04d), so resume= reruns only the jobs cut short: a
-- resumed run drops its metrics rows, since the caller logs every result's rows again in order.
-- opts.label names the progress line (rank 0 shows its own share); opts.show(result) -> a table
-- of figures for it. Returns the results in job order on rank 0, nil on the other ranks. A run
-- whose summary.json exists is complete: resuming it is an error. Every rank must call it (the
-- run started with shared = true).
function Run:sweep(jobs, fn, opts)
  opts = opts or {}
  local mpi = require "spinal.mpi"
  local rank = mpi.rank()
  local finished = self.resumed and io.open(self:path "summary.json", "r")  -- every rank sees it
  if finished then
    finished:close()
    error(("run: %s is complete: nothing to resume"):format(self.dir), 0)
  end
  if rank == 0 and not mkdir(self:path "runs", true) then
    error(("run: cannot create %s"):format(self:path "runs"), 0)
  end
  mpi.barrier()
  local mine, done = 0, 0
  for i = 1, #jobs do if mpi.owner(i) == rank then mine = mine + 1 end end
  local label = opts.label or self.name
  local progress = rank == 0 and require("spinal.progress") {
    total = mine,
    label = mpi.size() > 1 and ("%s (rank 0: %d of %d runs)"):format(label, mine, #jobs) or label }
  local results = mpi.map(jobs, fn, {
    dir = self:path "runs",
    key = opts.key,
    on_result = function(_, r)
      done = done + 1
      if progress then progress:update(done, opts.show and opts.show(r) or nil) end
    end,
  })
  if progress then progress:done() end
  if rank ~= 0 then return nil end
  if self.resumed then self:trim_metrics(function() return false end) end
  return results
end

function Run:close()
  self.closed = true
end
Run.__close = Run.close
Run.__gc = Run.close

function Run:__tostring()
  return "run " .. self.name .. " in " .. self.dir
end

return M
