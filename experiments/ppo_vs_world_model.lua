-- ppo_vs_world_model.lua: the sample-efficiency comparison of method 2's claim (docs/ppo.md,
-- ../shared/METHODS.md): method 2 (a world model learned from the robot's transitions, a VAE policy
-- trained through it: spinal.imitate, experiments/quadruped_imitate.lua's loop and settings) and
-- PPO (engine/rl, spinal.ppo, task "imitate") learn to imitate the gait library's training clips on
-- the same joint-level quadruped, with the same seeds; both are evaluated the same way on the
-- held-out clips: each clip played from its first frame for eval_seconds on the simulator, the
-- policy's mean, the mean absolute joint-angle error over joints and ticks until the end or a
-- fall (method 2's held-out progress evaluation, quadruped_imitate's heldout_joint_error).
--
-- The target error is the worst of method 2's seeds' final errors (every seed of method 2 reaches
-- it); each method's samples to the target is, per seed, the simulator transitions consumed at the
-- first evaluation at or under it, averaged over the seeds. PPO's budget is ppo_factor times method
-- 2's, capped by ppo_minutes of wall time per seed; when a PPO seed does not reach the target, its
-- samples so far stand in for its samples to the target and the ratio is a lower bound.
--
--   spinal experiments/ppo_vs_world_model.lua [seeds=1,2,3] [method=both|wm|ppo]
--       [wm_samples=60000] [ppo_factor=10] [ppo_minutes=40] [eval_seconds=4]
--       [combine=DIR1,DIR2,...] [wm_runs=DIR1,DIR2,...] [quick=true] [out=DIR]
--
-- method=wm or ppo runs one side only; combine= summarises earlier runs together (e.g. one process
-- per seed run in parallel: their curves.json are merged, the last one's settings name the budget).
-- wm_runs= takes method 2's curves from experiments/quadruped_imitate.lua run directories (their
-- metrics.csv's heldout_joint_error, the same evaluation when its eval_progress_seconds equals
-- eval_seconds here; the seed from settings.json) instead of training method 2 again.
-- The run holds curves.json (every evaluation of every seed), metrics.csv (one row per
-- evaluation), samples_vs_error.png and summary.json (flat): target_error, wm_samples_to_target,
-- ppo_samples_to_target (null when a PPO seed fell short), ppo_budget_samples (the fewest any PPO
-- seed consumed), sample_ratio or sample_ratio_lower_bound, seeds, and per-method details; and
-- the other way round, ppo_reached_error (the worst PPO seed's best error), the samples each
-- method needed to reach it (wm_samples_to_ppo_error: method 2's first evaluation at or under
-- it, so at most those) and their ratio sample_ratio_at_ppo_error.
local sp = require "spinal"
local ppo = require "spinal.ppo"
local imitate = require "spinal.imitate"
local gaitlib = require "spinal.gaitlib"
local json = require "spinal.json"
local has_host, host = pcall(require, "spinal.host")
local function now() return has_host and host.clock() or os.time() end
local t_start = now()

local cfg = sp.settings({
  seeds = "1,2,3",
  method = "both",      -- "wm", "ppo" or "both"
  wm_samples = 60000,   -- method 2's budget (quadruped_imitate's default)
  wm_eval_every = 5,    -- method 2 iterations (of 2000 transitions) between evaluations
  ppo_factor = 10,      -- PPO's budget: this many times wm_samples ...
  ppo_minutes = 40,     -- ... capped by this much wall time per seed (0: no cap)
  ppo_eval_every = 10,  -- PPO iterations (of nenvs x nsteps transitions) between evaluations
  nenvs = 64, nsteps = 24, threads = 1,
  -- PPO's settings (docs/ppo.md "Tuning"): METHODS.md's networks, clip, lambda, advantage and
  -- observation normalisation; for these small batches a constant learning rate and more
  -- optimisation per sample (10 epochs of 8 minibatches), DeepMimic's discount for imitation,
  -- no entropy bonus, and an initial sigma of 0.5 (0.125 rad on the PD targets)
  hidden = "512,256,128", init_std = 0.5, entropy_coef = 0, lr = 3e-4, desired_kl = 0,
  kl_per_update = false, epochs = 10, minibatches = 8, gamma = 0.95, lambda = 0.95,
  eval_seconds = 4,     -- of each held-out clip from its first frame
  library = "",         -- a gait library directory (default: gaitlib.ensure's)
  combine = "",
  wm_runs = "",         -- method 2's curves from quadruped_imitate run directories instead

  quick = false,
  out = "",
}, { ranges = { gamma = { min = 0, max = 1 }, lambda = { min = 0, max = 1 } } })
if cfg.quick then
  sp.settings.fill(cfg, { wm_samples = 2400, wm_eval_every = 1, ppo_factor = 1,
                          ppo_eval_every = 5, nenvs = 8, nsteps = 8, hidden = "64,64",
                          eval_seconds = 1, seeds = "1,2" })
end
if cfg.method ~= "both" and cfg.method ~= "wm" and cfg.method ~= "ppo" then
  error(("ppo_vs_world_model: method=%s: expected both, wm or ppo"):format(tostring(cfg.method)), 0)
end
local integers = require("spinal.settings").integers
local seeds = integers("ppo_vs_world_model", "seeds", cfg.seeds, 0)
local hidden = integers("ppo_vs_world_model", "hidden", cfg.hidden, 1)

-- a quadruped_imitate run of wm_runs: its settings and its open metrics.csv, or an error naming it
local function wm_run(dir)
  local st = json.read(dir .. "/settings.json")
  local f = io.open(dir .. "/metrics.csv")
  if type(st) ~= "table" or not f then
    error("ppo_vs_world_model: wm_runs: " .. dir .. " is not a quadruped_imitate run", 0)
  end
  if (st.eval_progress_seconds or 4) ~= cfg.eval_seconds then
    f:close()
    error(("ppo_vs_world_model: wm_runs: %s evaluated %g s of each clip, eval_seconds is %g")
      :format(dir, st.eval_progress_seconds or 4, cfg.eval_seconds), 0)
  end
  return st, f
end
-- the runs named are checked before anything is trained
for dir in cfg.wm_runs:gmatch "[^,]+" do
  local _, f = wm_run(dir)
  f:close()
end
for dir in cfg.combine:gmatch "[^,]+" do
  if type(json.read(dir .. "/curves.json")) ~= "table" then
    error("ppo_vs_world_model: combine: no curves.json in " .. dir, 0)
  end
end

local run = sp.run.start { name = "ppo_vs_world_model", settings = cfg }
-- every evaluation of every seed: curves.wm[seed] = { samples = {...}, error = {...} }, likewise
-- curves.ppo; curves.ppo_samples[seed]: transitions PPO consumed in all; curves.wall[...]
local curves = { wm = {}, ppo = {}, ppo_samples = {}, wall = {} }
local function key(seed) return tostring(seed) end
-- curves.json after every evaluation: a run stopped early can still be combined
local function save_curves()
  local tmp = run:path "curves.json.tmp"
  local f = assert(io.open(tmp, "w"))
  f:write(json.encode(curves, { indent = 1 }), "\n")
  f:close()
  assert(os.rename(tmp, run:path "curves.json"))
end
local function note(method, seed, samples, err, wall)
  local c = curves[method][key(seed)]
  c.samples[#c.samples + 1], c.error[#c.error + 1] = samples, err
  run:log { iter = #c.samples, method = method, seed = seed, samples = samples,
            heldout_joint_error = err, wall_seconds = wall }
  print(("  %s seed %d: %d samples, held-out joint error %.4f rad (%.0f s)"):format(
    method == "wm" and "method 2" or "PPO", seed, samples, err, wall))
  save_curves()
end

local function train_and_measure()
  local lib, lerr
  if cfg.library ~= "" then lib, lerr = gaitlib.load(cfg.library)
  else lib, lerr = gaitlib.ensure(nil, { quick = cfg.quick }) end
  if not lib then error("ppo_vs_world_model: " .. tostring(lerr), 0) end
  local train, test = gaitlib.named(lib, "train"), gaitlib.named(lib, "test")
  print(("ppo_vs_world_model: %d training clips, %d held out (%s); seeds %s"):format(#train,
    #test, lib.dir, table.concat(seeds, ",")))
  local mjcf = sp.run.resolve "robots/quadruped.xml"

  -- method 2: quadruped_imitate's loop and settings (imitate.defaults; quick: its quick ones)
  local function run_wm(seed)
    local robot = sp.run.require_robot(sp.robot.load(sp.run.resolve "robots/quadruped_joint.lua"),
      { action = { "FR_abd" } }, "ppo_vs_world_model")
    local plant = sp.run.open_plant(robot, "mujoco", "ppo_vs_world_model")
    plant:activate()
    local lcfg = { plant = plant, robot = robot, clips = train, seed = seed }
    if cfg.quick then
      for k, v in pairs { wm_hidden = 64, wm_layers = 2, pol_hidden = 64, lat = 16, wm_batch = 32,
                          pol_batch = 32, wm_iters = 30, pol_iters = 4, horizon = 8, collect = 600,
                          episode_steps = 100 } do lcfg[k] = v end
    end
    local L = imitate.new(lcfg)
    local refs = {}
    for i, c in ipairs(test) do refs[i] = imitate.reference(c.clip, L.cfg.dt, L.cfg.offsets, c.name) end
    curves.wm[key(seed)] = { samples = {}, error = {} }
    local t0 = now()
    local iters = math.ceil(cfg.wm_samples / L.cfg.collect)
    while L.iter < iters do
      local r = L:iterate()
      if r.iter % cfg.wm_eval_every == 0 or r.iter == iters then
        local je = 0
        for _, ref in ipairs(refs) do je = je + L:evaluate(ref, { seconds = cfg.eval_seconds }).joint_error end
        note("wm", seed, r.samples, je / #refs, now() - t0)
      end
    end
    curves.wall["wm_" .. key(seed)] = now() - t0
    if plant.close then plant:close() end
  end

  -- PPO: the held-out evaluation plays test clip i in environment i from its first frame (no
  -- reset noise), the episode ending only by a fall; the joint error is read from the
  -- observation's joint angles against the clip's next frame, every step until the clip's end,
  -- eval_seconds or a fall (the falling step itself is not counted: its observation is already
  -- the next episode's)
  local test_frames, ref_joints, eval_len = {}, {}, {}
  local dt = 0.02
  local max_len = 0
  for i, c in ipairs(test) do
    local f = c.clip:frames()
    test_frames[i] = f
    local n = f.shape[1]
    eval_len[i] = math.min(n - 1, math.floor(cfg.eval_seconds / dt + 0.5))
    max_len = math.max(max_len, eval_len[i])
    ref_joints[i] = {}
    for k = 1, eval_len[i] + 1 do
      local row = {}
      for j = 1, 12 do row[j] = f[k][7 + j] end
      ref_joints[i][k] = row
    end
  end
  local function run_ppo(seed)
    local train_frames = {}
    for i, c in ipairs(train) do train_frames[i] = c.clip:frames() end
    local env = assert(ppo.quadruped { mjcf = mjcf, nenvs = cfg.nenvs, threads = cfg.threads,
                                       seed = seed, task = "imitate", clips = train_frames })
    local eval_env = assert(ppo.quadruped { mjcf = mjcf, nenvs = #test, threads = cfg.threads,
                                            seed = 7, task = "imitate", clips = test_frames,
                                            from_start = true, track_fail = 1e9,
                                            episode_steps = max_len + 1 })
    local agent = ppo.new { env = env, nsteps = cfg.nsteps, seed = seed, hidden = hidden,
                            lr = cfg.lr, desired_kl = cfg.desired_kl, init_std = cfg.init_std,
                            entropy_coef = cfg.entropy_coef, kl_per_update = cfg.kl_per_update,
                            epochs = cfg.epochs, minibatches = cfg.minibatches,
                            gamma = cfg.gamma, lambda = cfg.lambda }
    local function evaluate()
      local obs = eval_env:reset(7)
      local sum, cnt, alive = {}, {}, {}
      for i = 1, #test do sum[i], cnt[i], alive[i] = 0, 0, true end
      for k = 1, max_len do
        local o, _, done = eval_env:step(agent:act(obs))
        for i = 1, #test do
          if alive[i] and k <= eval_len[i] then
            if done[i] ~= 0 then alive[i] = false
            else
              local e, ref, row = 0, ref_joints[i][k + 1], o[i]
              for j = 1, 12 do e = e + math.abs(row[10 + j] - ref[j]) end
              sum[i], cnt[i] = sum[i] + e / 12, cnt[i] + 1
            end
          end
        end
        obs = o
      end
      local je = 0
      for i = 1, #test do je = je + sum[i] / math.max(cnt[i], 1) end
      return je / #test
    end
    curves.ppo[key(seed)] = { samples = {}, error = {} }
    local budget = cfg.ppo_factor * cfg.wm_samples
    local per_iter = cfg.nenvs * cfg.nsteps
    local iters = math.max(1, math.ceil(budget / per_iter))
    local t0 = now()
    local samples = 0
    for it = 1, iters do
      local s = agent:iterate(env)
      samples = samples + s.samples
      local out_of_time = cfg.ppo_minutes > 0 and now() - t0 >= 60 * cfg.ppo_minutes
      if it % cfg.ppo_eval_every == 0 or it == iters or out_of_time then
        note("ppo", seed, samples, evaluate(), now() - t0)
      end
      if out_of_time then
        print(("  PPO seed %d: stopped by the wall-time cap (%g min) at %d of %d samples"):format(
          seed, cfg.ppo_minutes, samples, iters * per_iter))
        break
      end
    end
    curves.ppo_samples[key(seed)] = samples
    curves.wall["ppo_" .. key(seed)] = now() - t0
    agent:close()
    env:close()
    eval_env:close()
  end

  for _, seed in ipairs(seeds) do
    if cfg.method ~= "ppo" and cfg.wm_runs == "" then run_wm(seed) end
    if cfg.method ~= "wm" then run_ppo(seed) end
  end
end

-- method 2's curves from quadruped_imitate runs: metrics.csv rows with a held-out evaluation
local function read_wm_runs(list)
  local n = 0
  for dir in list:gmatch "[^,]+" do
    local st, f = wm_run(dir)
    local cols, c = nil, { samples = {}, error = {}, run = dir }
    for line in f:lines() do
      local cells = {}
      for x in (line .. ","):gmatch "([^,]*)," do cells[#cells + 1] = x end
      if not cols then
        cols = {}
        for i, name in ipairs(cells) do cols[name] = i end
      else
        local e = tonumber(cells[cols.heldout_joint_error])
        if e and e == e then
          c.samples[#c.samples + 1], c.error[#c.error + 1] = tonumber(cells[cols.samples]), e
        end
      end
    end
    f:close()
    n = n + 1
    local k = tostring(st.seed)
    if curves.wm[k] then k = k .. "_" .. n end
    curves.wm[k] = c
  end
end

if cfg.combine ~= "" then
  for dir in cfg.combine:gmatch "[^,]+" do
    local c = json.read(dir .. "/curves.json")
    if type(c) ~= "table" then error("ppo_vs_world_model: combine: no curves.json in " .. dir, 0) end
    for _, part in ipairs { "wm", "ppo", "ppo_samples", "wall" } do
      for k, v in pairs(c[part] or {}) do curves[part][k] = v end
    end
  end
else
  train_and_measure()
end
if cfg.wm_runs ~= "" then
  curves.wm = {}
  for k in pairs(curves.wall) do
    if k:match "^wm_" then curves.wall[k] = nil end
  end
  read_wm_runs(cfg.wm_runs)
end
save_curves()

-- the comparison
local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end
local function first_at(c, target)
  for i, e in ipairs(c.error) do
    if e <= target then return c.samples[i] end
  end
  return nil
end
local summary = { wall_seconds = now() - t_start, eval_seconds = cfg.eval_seconds,
                  wm_budget_samples = cfg.wm_samples, ppo_factor = cfg.ppo_factor,
                  ppo_minutes = cfg.ppo_minutes, ppo_planned_samples = cfg.ppo_factor * cfg.wm_samples,
                  wm_runs = cfg.wm_runs ~= "" and cfg.wm_runs or json.null }
local wm_keys, ppo_keys = sorted_keys(curves.wm), sorted_keys(curves.ppo)
local all = {}
for _, k in ipairs(wm_keys) do all[k] = true end
for _, k in ipairs(ppo_keys) do all[k] = true end
local seed_list = {}
local seen = {}
for k in pairs(all) do
  local s = tonumber(k:match "^%d+")
  if not seen[s] then seen[s], seed_list[#seed_list + 1] = true, s end
end
table.sort(seed_list)
summary.seeds = seed_list
local target
for _, k in ipairs(wm_keys) do
  local c = curves.wm[k]
  summary["wm_final_error_seed" .. k] = c.error[#c.error]
  target = math.max(target or -math.huge, c.error[#c.error])
end
summary.target_error = target or json.null
if target then
  local sum = 0
  for _, k in ipairs(wm_keys) do
    local s = first_at(curves.wm[k], target)
    summary["wm_samples_to_target_seed" .. k] = s
    sum = sum + s
  end
  summary.wm_samples_to_target = sum / #wm_keys
end
if #ppo_keys > 0 then
  local budget, best = math.huge, math.huge
  local sum, short = 0, false
  for _, k in ipairs(ppo_keys) do
    local c = curves.ppo[k]
    local used = curves.ppo_samples[k] or c.samples[#c.samples]
    budget = math.min(budget, used)
    summary["ppo_samples_seed" .. k] = used
    summary["ppo_final_error_seed" .. k] = c.error[#c.error]
    for _, e in ipairs(c.error) do best = math.min(best, e) end
    local s = target and first_at(c, target)
    summary["ppo_samples_to_target_seed" .. k] = s or json.null
    if not s then short = true end
    sum = sum + (s or used)
  end
  summary.ppo_budget_samples = budget
  summary.ppo_best_error = best
  if target then
    local mean = sum / #ppo_keys
    if short then
      summary.ppo_samples_to_target = json.null
      summary.sample_ratio_lower_bound = mean / summary.wm_samples_to_target
    else
      summary.ppo_samples_to_target = mean
      summary.sample_ratio = mean / summary.wm_samples_to_target
    end
  end
end
-- the other way round: the error every PPO seed reaches (its worst seed's best), and the samples
-- each method needs to reach it (a ratio both sides attain, whichever way the main one came out)
if #ppo_keys > 0 and #wm_keys > 0 then
  local reach = -math.huge
  for _, k in ipairs(ppo_keys) do
    local b = math.huge
    for _, e in ipairs(curves.ppo[k].error) do b = math.min(b, e) end
    reach = math.max(reach, b)
  end
  local function mean_to(list, part)
    local sum, n = 0, 0
    for _, k in ipairs(list) do
      local s = first_at(curves[part][k], reach)
      if not s then return nil end
      sum, n = sum + s, n + 1
    end
    return sum / n
  end
  local w, p = mean_to(wm_keys, "wm"), mean_to(ppo_keys, "ppo")
  summary.ppo_reached_error = reach
  summary.wm_samples_to_ppo_error = w or json.null
  summary.ppo_samples_to_ppo_error = p
  summary.sample_ratio_at_ppo_error = (w and p) and p / w or json.null
end
for k, v in pairs(curves.wall) do summary["wall_seconds_" .. k] = v end

local series = {}
for _, k in ipairs(wm_keys) do
  series[#series + 1] = { x = curves.wm[k].samples, y = curves.wm[k].error,
                          label = "method 2 (world model), seed " .. k:gsub("_.*", "")
                            .. (curves.wm[k].run and " (" .. curves.wm[k].run:gsub("/+$", ""):gsub("^.*/", "") .. ")" or "") }
end
for _, k in ipairs(ppo_keys) do
  series[#series + 1] = { x = curves.ppo[k].samples, y = curves.ppo[k].error,
                          label = "PPO, seed " .. k }
end
if target then
  local lo, hi = math.huge, 0
  for _, s in ipairs(series) do
    for _, x in ipairs(s.x) do lo, hi = math.min(lo, x), math.max(hi, x) end
  end
  series[#series + 1] = { x = { lo, hi }, y = { target, target },
                          label = ("target %.4f rad (method 2's worst seed)"):format(target) }
end
local plot = run:plot { file = "samples_vs_error.png", logx = true, key = "bottom right",
  title = "imitating the gait library: held-out joint error against simulator samples",
  xlabel = "simulator transitions used for training (50 Hz)",
  ylabel = "held-out joint-angle error (rad)", series = series }
run:summary(summary)
print(("ppo_vs_world_model: target %s rad; method 2 %s samples; PPO %s (budget %s); %s %s; %s")
  :format(tostring(summary.target_error), tostring(summary.wm_samples_to_target),
    tostring(summary.ppo_samples_to_target), tostring(summary.ppo_budget_samples),
    summary.sample_ratio and "sample_ratio" or "sample_ratio_lower_bound",
    tostring(summary.sample_ratio or summary.sample_ratio_lower_bound), run.dir))
if plot then print("plot: " .. tostring(plot)) end
run:close()
