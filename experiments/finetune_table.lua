-- finetune_table.lua: README's fine-tuning tables, measured again with one command
-- (docs/method2.md, "Measuring a table"): experiments/quadruped_finetune.lua on every robot of a
-- table and every seed, seed n fine-tuning seed n's h, `jobs` runs at a time, each its own process
-- and run directory; then the table as README prints it (table.md) and its figures (summary.json).
--
--   spinal experiments/finetune_table.lua [table=inside|ends|all|default|FILE] [seeds=1,2,3]
--       [jobs=1] [args="wm_recent=0.5 ..."] [pretrained=DIR_%d] [target_ratio=0.6] [quick=true]
--       [out=DIR]
--
-- table: inside (README's first table: the default robot, eight robots inside docs/quadruped.md's
-- ranges and the control, the unperturbed robot), ends (its second: the other end of each range),
-- all (both), default (the default robot alone), or a FILE with one robot a line: `default`, or
-- perturbations as quadruped_finetune takes them (`friction=0.7 latency=0.006`; the others are
-- the simulator's: robot=neutral), `none` for the unperturbed robot; `#` starts a comment.
-- args: settings given to every run (e.g. args="wm_recent=0.5" to measure a setting on the
-- whole table). pretrained: a directory per seed, `%d` standing for the seed (quadruped_command
-- runs, or earlier fine-tuning runs); without it each seed's first robot pre-trains h (about 4
-- minutes, quadruped_command's training bit for bit) and the seed's other robots start from it.
-- jobs=N runs N at a time, each with OPENBLAS_NUM_THREADS=1 unless the environment sets it (the
-- way to run side by side on a machine with N cores). quick=true: quick runs (seconds each) of
-- the default robot and the control, unless table= is given.
--
-- The run holds runs/<robot>_s<seed>/ (each fine-tuning run's directory), runs/<robot>_s<seed>.log
-- (its output) and .cmd (its command line), table.md and summary.json (flat: target_ratio,
-- seeds, robots, runs, runs_done, runs_failed, runs_at_target (ratio <= target_ratio),
-- ratio_median, ratio_min, ratio_max, falls_after, wall_minutes_mean; ratio_<robot>_s<seed> per
-- run). Started again with the same out=, it keeps every finished run (its summary.json) whose
-- command line is the same and redoes the others, so an interrupted table (Ctrl-C, a full disk,
-- a lost machine) loses at most the runs it was in. A run that fails is reported with its log's
-- last lines; the others go on, and the table marks it; the exit status is then 1.
local sp = require "spinal"
local json = require "spinal.json"
local host = require "spinal.host"
local who = "finetune_table"

local cfg = sp.settings {
  table = "inside",
  seeds = { 1, 2, 3 },
  jobs = 1,
  args = "",
  pretrained = "",
  target_ratio = 0.6,
  quick = false,
  out = "",
}

local TABLES = {
  inside = {
    "default",
    "damping=1.6 friction=0.7 latency=0.006 motor=0.9 noise=0.004 payload=2.2 payload_y=0.05 "
      .. "pd=1.15",
    "payload=2.2 payload_y=0.05", "friction=0.7", "motor=0.9", "pd=1.15", "latency=0.006",
    "noise=0.004", "damping=1.6", "none",
  },
  ends = {
    "noise=0.01", "latency=0.01",
    "damping=0.5 friction=1.5 frictionloss=0.3 motor=1.2 noise=0.01 pd=0.8",
  },
}
TABLES.all = {}
for _, t in ipairs { TABLES.inside, TABLES.ends } do
  for _, r in ipairs(t) do TABLES.all[#TABLES.all + 1] = r end
end
TABLES.default = { "default" }

local function fail(msg) error(who .. ": " .. msg, 0) end

-- the table's robots: a named table or a file
local function robots_of(name)
  if cfg.quick and not sp.args.table then return { "default", "none" } end
  if TABLES[name] then return TABLES[name] end
  local f = io.open(name, "r")
  if not f then
    fail(("table=%s is neither inside, ends, all nor default, nor a readable file"):format(name))
  end
  local list, at, n = {}, {}, 0
  for line in f:lines() do
    n = n + 1
    line = line:gsub("#.*$", ""):gsub("^%s+", ""):gsub("%s+$", "")
    if line ~= "" then
      for word in line:gmatch "%S+" do
        if word ~= "default" and word ~= "none" and not word:match "^[%a_]+=[^=]+$" then
          f:close()
          fail(("%s:%d: '%s' is not a perturbation (name=value), default or none"):format(
            name, n, word))
        end
      end
      if at[line] then
        f:close()
        fail(("%s:%d: the robot of line %d again"):format(name, n, at[line]))
      end
      list[#list + 1], at[line] = line, n
    end
  end
  f:close()
  if #list == 0 then fail(("%s has no robot (one a line)"):format(name)) end
  return list
end

local robots = robots_of(cfg.table)
local seeds = cfg.seeds
if type(seeds) ~= "table" or #seeds == 0 then fail "seeds= must list at least one seed" end
for _, s in ipairs(seeds) do
  if math.type(s) ~= "integer" then fail(("seeds=: %s is not an integer seed"):format(s)) end
end
for word in cfg.args:gmatch "%S+" do
  local name = word:match "^([%w_]+)="
  if not name then fail(("args=: '%s' is not a setting (name=value)"):format(word)) end
  local ours = { seed = true, robot = true, out = true, pretrained = true, quick = true }
  if ours[name] then
    fail(("args=: %s is the table's to set (seeds=, table=, out=, pretrained=, quick=)"):format(
      name))
  end
end
if math.type(cfg.jobs) ~= "integer" or cfg.jobs < 1 then fail "jobs= must be a positive integer" end
if cfg.pretrained ~= "" and not cfg.pretrained:find("%d", 1, true) and #seeds > 1 then
  fail(("pretrained=%s names one directory for %d seeds: put %%d where the seed goes"):format(
    cfg.pretrained, #seeds))
end

-- a robot's file-name key and its quadruped_finetune settings
local function key_of(robot)
  if robot == "default" or robot == "none" then return robot end
  return (robot:gsub("[^%w%.%-]+", "_"):gsub("=", ""))
end
local function robot_args(robot)
  if robot == "default" then return "robot=default" end
  if robot == "none" then return "robot=neutral" end
  return "robot=neutral " .. robot
end
local function label_of(robot, perturbations)
  if robot == "default" then
    return "the default robot" .. (perturbations and (" (`%s`)"):format(perturbations) or "")
  end
  if robot == "none" then return "none (the unperturbed robot)" end
  return "`" .. robot .. "`"
end

local shell_quote = sp.run.shell_quote

-- the spinal binary running this script (arg's lowest index, as Lua's own `lua` sets it)
local binary = arg[0]
for i = -1, -10, -1 do
  if arg[i] then binary = arg[i] else break end
end
local script = sp.run.resolve "experiments/quadruped_finetune.lua"

-- the run's directory: out=, whose kept runs are checked before anything is written, else a new one
local run = cfg.out == "" and sp.run.start { name = who, settings = cfg } or nil
local base = run and run.dir or cfg.out
local function rpath(key, ext) return base .. "/runs/" .. key .. (ext or "") end

-- the jobs: every robot x seed; a seed's first robot pre-trains h when pretrained= is not given
local jobs = {}
for _, seed in ipairs(seeds) do
  local first
  for _, robot in ipairs(robots) do
    local key = ("%s_s%d"):format(key_of(robot), seed)
    local pre = cfg.pretrained ~= "" and cfg.pretrained:gsub("%%d", tostring(seed)) or nil
    jobs[#jobs + 1] = { robot = robot, seed = seed, key = key, after = not pre and first or nil,
                        pretrained = pre or (first and rpath(first.key)) or nil }
    first = first or jobs[#jobs]
  end
end

local function command_of(job)
  local words = { shell_quote(binary), shell_quote(script), "seed=" .. job.seed,
                  robot_args(job.robot) }
  if job.pretrained then words[#words + 1] = "pretrained=" .. shell_quote(job.pretrained) end
  if cfg.quick then words[#words + 1] = "quick=true" end
  for word in cfg.args:gmatch "%S+" do words[#words + 1] = shell_quote(word) end
  words[#words + 1] = "out=" .. shell_quote(rpath(job.key))
  return table.concat(words, " ")
end

local function read_text(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local t = f:read "a"
  f:close()
  return t
end

-- a job finished before with the same command line keeps its result
local kept = 0
for _, job in ipairs(jobs) do
  job.cmd = command_of(job)
  local s = json.read(rpath(job.key, "/summary.json"))
  local before = read_text(rpath(job.key, ".cmd"))
  if s and before == job.cmd then
    job.summary, job.state, kept = s, "done", kept + 1
  elseif s and before and before ~= job.cmd then
    fail(("%s holds %s run with another command line (%s; now %s): give another out="):format(
      base, job.key, before, job.cmd))
  else
    job.state = "waiting"
  end
end

run = run or sp.run.start { name = who, settings = cfg }
host.mkdir(run:path "runs")

local env = ""
if cfg.jobs > 1 and not os.getenv "OPENBLAS_NUM_THREADS" then env = "OPENBLAS_NUM_THREADS=1 " end
io.stderr:write(("%s: %d robots x %d seeds = %d fine-tuning runs%s, %d at a time; in %s\n"):format(
  who, #robots, #seeds, #jobs, kept > 0 and (" (%d kept from before)"):format(kept) or "",
  cfg.jobs, run.dir))

local function tail(path, n)
  local lines = {}
  for line in (read_text(path) or ""):gmatch "[^\n]+" do lines[#lines + 1] = line end
  return table.concat(lines, "\n", math.max(1, #lines - n + 1))
end

local function ratio_text(s)
  return ("%.3f -> %.3f (%.2f)"):format(s.velocity_error_before_mps, s.velocity_error_after_mps,
    s.velocity_error_ratio)
end

-- the pool: jobs started through io.popen (in this process group, so Ctrl-C reaches them), each
-- writing its exit status to KEY.rc when it ends; polled once a second
local running, done_count, failed, succeeded = {}, kept, 0, kept > 0
local stopping, interrupted = false, false  -- no more runs started; Ctrl-C
local started_at = host.clock()
local function start(job)
  os.remove(rpath(job.key, ".rc"))
  local f = assert(io.open(rpath(job.key, ".cmd"), "w"))
  f:write(job.cmd)
  f:close()
  -- the shell waits for the run before its INT/TERM trap runs, so KEY.rc is written once the run
  -- has ended, however it ended
  local rc = shell_quote(rpath(job.key, ".rc"))
  local line = ("trap 'echo 130 > %s; exit 130' INT; trap 'echo 143 > %s; exit 143' TERM; "
    .. "%s%s > %s 2>&1; echo $? > %s"):format(rc, rc, env, job.cmd,
    shell_quote(rpath(job.key, ".log")), rc)
  job.pipe, job.state, job.t0 = io.popen(line, "r"), "running", host.clock()
  running[#running + 1] = job
end

local function finish(job, rc)
  if job.pipe then job.pipe:close() end
  done_count = done_count + 1
  local s = rc == 0 and json.read(rpath(job.key, "/summary.json"))
  local minutes = (host.clock() - job.t0) / 60
  if s then
    job.state, job.summary, succeeded = "done", s, true
    io.stderr:write(("%s: [%d/%d] seed %d %s: %s, %.1f min\n"):format(who, done_count, #jobs,
      job.seed, job.robot, ratio_text(s), minutes))
  elseif interrupted then
    job.state, done_count = "waiting", done_count - 1
    io.stderr:write(("%s: seed %d %s interrupted after %.1f min\n"):format(who, job.seed, job.robot,
      minutes))
  else
    job.state, failed = "failed", failed + 1
    -- a failure before any run succeeded is most likely the command line (a misspelt args=):
    -- stop starting runs rather than fail every one the same way
    if not succeeded then stopping = true end
    io.stderr:write(("%s: [%d/%d] seed %d %s FAILED (status %s) after %.1f min; %s:\n%s\n"):format(
      who, done_count, #jobs, job.seed, job.robot, tostring(rc), minutes, rpath(job.key, ".log"),
      tail(rpath(job.key, ".log"), 5)))
  end
end

local function ready(job)
  if job.state ~= "waiting" then return false end
  if not job.after then return true end
  if job.after.state == "failed" then
    job.state, failed, done_count = "failed", failed + 1, done_count + 1
    io.stderr:write(("%s: [%d/%d] seed %d %s not run: the seed's pre-training run failed\n"):format(
      who, done_count, #jobs, job.seed, job.robot))
    return false
  end
  return job.after.state == "done"
end

while true do
  -- Ctrl-C reached the runs too (one process group): stop starting, let them end, keep the table
  if host.interrupted() then
    host.clear_interrupt()
    if not interrupted then
      io.stderr:write(who .. ": interrupted: waiting for the runs to stop\n")
    end
    stopping, interrupted = true, true
  end
  if not stopping then
    for _, job in ipairs(jobs) do
      if #running >= cfg.jobs then break end
      if ready(job) then start(job) end
    end
  end
  if interrupted then
    -- wait for each run's shell (it waits for its run, or was stopped itself before its trap)
    for _, job in ipairs(running) do
      job.pipe:close()
      job.pipe = nil
      local rc = read_text(rpath(job.key, ".rc"))
      finish(job, rc and tonumber(rc:match "%d+") or 130)
    end
    running = {}
  end
  if #running == 0 then break end
  host.sleep(1)
  for i = #running, 1, -1 do
    local job = running[i]
    local rc = read_text(rpath(job.key, ".rc"))
    if rc and rc:match "%d" then
      table.remove(running, i)
      finish(job, tonumber(rc:match "%d+"))
    end
  end
end

-- the table: one row per robot, one column per seed, and the most the perturbation added to the
-- pre-trained h's error (before - floor) over the seeds
local head = { "| robot | " }
for i, seed in ipairs(seeds) do
  head[#head + 1] = (i == 1 and "seed %d: before -> after (ratio) | " or "seed %d | "):format(seed)
end
local lines = { table.concat(head) .. "most the perturbation added (before - floor) |",
                "|---|" .. ("---|"):rep(#seeds + 1) }
local summary = { target_ratio = cfg.target_ratio, seeds = seeds, robots = robots, runs = #jobs }
local ratios, falls, walls = {}, 0, {}
local by = {}
for _, job in ipairs(jobs) do by[job.key] = job end
for _, robot in ipairs(robots) do
  local cells, added, named = {}, nil, nil
  for _, seed in ipairs(seeds) do
    local job = by[("%s_s%d"):format(key_of(robot), seed)]
    local s = job.summary
    if job.state == "done" and s then
      cells[#cells + 1] = ratio_text(s)
        .. (s.falls_after > 0 and (", %d falls"):format(s.falls_after) or "")
      ratios[#ratios + 1] = s.velocity_error_ratio
      named = named or s.perturbations
      summary["ratio_" .. job.key] = s.velocity_error_ratio
      falls = falls + s.falls_after
      walls[#walls + 1] = s.wall_seconds / 60
      local f = s.velocity_error_floor_mps
      if f then added = math.max(added or -math.huge, s.velocity_error_before_mps - f) end
    else
      cells[#cells + 1] = job.state == "failed" and "failed" or "not run"
    end
  end
  lines[#lines + 1] = ("| %s | %s | %s |"):format(label_of(robot, named),
    table.concat(cells, " | "),
    added and ("%.3f m/s"):format(math.max(added, 0)) or "-")
end
table.sort(ratios)
local at = 0
for _, r in ipairs(ratios) do if r <= cfg.target_ratio then at = at + 1 end end
local function median(xs)
  if #xs == 0 then return nil end
  return #xs % 2 == 1 and xs[(#xs + 1) // 2] or (xs[#xs // 2] + xs[#xs // 2 + 1]) / 2
end
local wall_mean = #walls > 0 and (function()
  local m = 0
  for _, w in ipairs(walls) do m = m + w end
  return m / #walls
end)() or nil
summary.runs_done, summary.runs_failed = #ratios, failed
summary.runs_at_target, summary.ratio_median = at, median(ratios)
summary.ratio_min, summary.ratio_max = ratios[1], ratios[#ratios]
summary.falls_after, summary.wall_minutes_mean = falls, wall_mean
summary.args, summary.table = cfg.args, cfg.table
lines[#lines + 1] = ""
lines[#lines + 1] = #ratios == 0 and "No run finished" or
  ("%d of %d runs at or under %.2f of the error before (median %.2f, %.2f-%.2f), %d falls after; "
  .. "%.1f min of wall a run"):format(at, #ratios, cfg.target_ratio, median(ratios), ratios[1],
  ratios[#ratios], falls, wall_mean)
lines[#lines] = lines[#lines] .. (failed > 0 and ("; %d failed"):format(failed) or "")
  .. (#ratios + failed < #jobs and ("; %d not run"):format(#jobs - #ratios - failed) or "")
  .. (cfg.args ~= "" and ("; every run with `" .. cfg.args .. "`") or "") .. "."
local text = table.concat(lines, "\n") .. "\n"
assert(sp.run.write_atomic(run:path "table.md", text))
summary.wall_seconds = host.clock() - started_at
-- summary.json: the table is complete (every run done or failed)
if #ratios + failed == #jobs then run:summary(summary) end
io.stdout:write(text)
print(("table: %s"):format(run:path "table.md"))
if stopping then
  io.stderr:write(("%s: %s; run it again with out=%s to finish the table (the finished runs are "
    .. "kept)\n"):format(who, interrupted and "interrupted" or "stopped at a failure before any "
    .. "run finished", run.dir))
  os.exit(interrupted and 130 or 1)
end
if failed > 0 then os.exit(1) end
