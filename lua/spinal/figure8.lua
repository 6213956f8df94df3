-- figure8.lua: method 1 on the figure-eight (docs/methods.md, "Car" and "Quadruped"), shared by
-- the car experiments and the quadruped's (spinal.figure8).
--
-- A variant says what differs between robots; the rest (rollouts on the plant through the HAL,
-- the feedback estimator, the learning loop, checkpoints, the run directory, the report) is one
-- code path:
--   car        robots/rc_car.lua: its `model` plant (car_drag with the car's true parameters,
--              RK4, 4 substeps) or its `mujoco` plant (rc_car.xml) is the "real" car; the
--              approximate model is car_drag with every parameter scaled by gamma (explicit
--              Euler, the reference implementation's discrete model); the cost is the car cost
--              summed after the first lap.
--   quadruped  robots/quadruped.lua at its velocity-command level (the robot's walking
--              controller inside the plant); the approximate model is the velocity-input
--              unicycle (unicycle_vel, k_v = 1, b_w = 0, Euler: the paper's model); the cost is
--              the car cost with the speed term on the commanded speed (the unicycle's v is its
--              input), summed after the first quarter lap (the reference implementation drops
--              its first 10 of 40 segments per lap); period = 4 pi R / speed.
-- Either way the robot file's tracker (gains and clamps) is the embedded low-level controller.
--
--   local F = require "spinal.figure8"
--   local car = F.setup { gamma = 0.5, radius = 1.5, period = 5.5, seconds = 21.5, seed = 1,
--                         hidden = { 64, 64 } }            -- variant = "car" by default
--   local quad = F.setup { variant = "quadruped", speed = 0.5, radius = 1.5, laps = 1.6 }
--   local traj = car:rollout()                      -- the policy on the plant (HAL, lockstep)
--   local g, J = car:gradient(traj)                 -- the feedback estimate
--   car:radial_error(traj)                          -- mean |distance to the active centre - R|
--   car:fell(traj)                                  -- true when the robot fell (legged robots)
--   F.learn(car, { iters = 15, lr = 3e-3, on_iter = function(it, row) ... end })
--   F.experiment("car_figure8", cfg)   -- the whole experiment: run directory, plots, table
--
-- cfg.plant is the robot file's plant section ("model", "mujoco") or any HAL address
-- ("udp://127.0.0.1:9870": a robot behind `spinal bridge`). A plant that cannot reset (udp) is
-- not sent x0: each rollout starts where the robot is. cfg.perturb (quadruped) is copied into the
-- plant configuration's `perturb` table (the MuJoCo robot's "real" variants).
local M = {}

local robot_lib = require "spinal.robot"
local model_lib = require "spinal.model"
local T = require "spinal.task"
local C = require "spinal.cost"
local P = require "spinal.policy"
local G = require "spinal.grad"
local nn = require "spinal.nn"
local run_lib = require "spinal.run"
local json = require "spinal.json"

-- what the car experiments read from the robot file, by position
M.needs = { state = { "px", "py", "v", "phi" }, action = { "throttle", "steer" } }

-- docs/methods.md's simulated car: dv/dt = 11.25 u1 - 0.55 v|v|, dphi/dt = (6.5 u2 + 0.1) v
M.car = { k_a = 11.25, c_d = 0.55, k_s = 6.5, b_s = 0.1 }

M.defaults = {
  variant = "car",
  robot = "robots/rc_car.lua",
  gamma = 0.5,      -- approximate model = gamma x every true parameter
  radius = 1.5,     -- m, each circle of the figure-eight
  period = 5.5,     -- s, one lap
  seconds = 21.5,   -- s of plant data per rollout (about 4 laps)
  hidden = { 64, 64 },
  seed = 1,
  segment = 0,      -- feedback truncation in control steps (0: full horizon)
  plant = "model",  -- the plant to learn on: a robot plant section or a HAL address (udp://...)
  -- fit (gn): refit the approximate model's parameters to each rollout before its step (nil: the
  -- variant's choice)
}

-- the approximate model for a mismatch gamma at the robot's rate
function M.model(gamma, rate)
  local p = {}
  for k, v in pairs(M.car) do p[k] = gamma * v end
  return model_lib.new("car_drag", p, { dt = 1 / rate, integrator = "euler" })
end

local function round(x)
  return math.floor(x + 0.5)
end

-- what differs between the robots method 1 learns a figure-eight on
M.variants = {}

M.variants.car = {
  label = "car",
  needs = M.needs,
  derive = function(o) return o end,
  model = function(o, robot) return M.model(o.gamma, robot.rate) end,
  cost = function() return C.car { nx = 4, nu = 2 } end,
  policy = function() return {} end,
  skip = function(o, rate) return round(o.period * rate) end,     -- the first lap is not scored
  x0 = function(r0) return { r0[1], r0[2], 0, math.atan(r0[4], r0[3]) } end,
  -- gn refits the car model's parameters to each rollout (docs/api/policy_grad.md)
  fit = true,
  -- the table's header: the end of its first line and the start of its second
  mismatch = function(o)
    return "approximate model: every car", ("parameter x %g; "):format(o.gamma)
  end,
  title = function(o) return ("gamma = %g"):format(o.gamma) end,
  scored = "lap 1",
}

-- docs/methods.md's quadruped: the tracker's reference and gain corrections, scaled as the
-- reference implementation scales them (x, y set points by 1 m, velocity corrections off; the
-- gains kx, ky, kv, kphi, ka, kw by gain_scale)
M.variants.quadruped = {
  label = "quadruped",
  needs = { state = { "px", "py", "phi" }, action = { "v", "w" } },
  derive = function(o)
    o.period = 4 * math.pi * o.radius / o.speed
    o.seconds = o.laps * o.period
    o.perturb = o.perturb or require("spinal.perturb").used(o)
    return o
  end,
  model = function(_, robot)
    return model_lib.new("unicycle_vel", { k_v = 1, b_w = 0 },
      { dt = 1 / robot.rate, integrator = "euler" })
  end,
  -- the speed term reads the commanded speed (z index 4 = u[1]): the unicycle's v is its input
  cost = function() return C.car { nx = 3, nu = 2, x = 1, y = 2, v = 4, phi = 3 } end,
  policy = function(o)
    return { ref_scale = { 1, 1, 0, 0 }, gain_scale = o.gain_scale }
  end,
  skip = function(o, rate) return round(o.period / 4 * rate) end,
  x0 = function(r0) return { r0[1], r0[2], math.atan(r0[4], r0[3]) } end,
  legged = true,  -- count falls
  mismatch = function()
    return "approximate model: the velocity-input unicycle", ""
  end,
  title = function(o) return ("%g m/s"):format(o.speed) end,
  scored = "a quarter lap",
  -- speed, laps, the seconds per rollout, every perturbation's value and the names of those
  -- applied (perturbations, sorted; empty for the unperturbed robot)
  summary = function(o)
    local t = { speed = o.speed, laps = o.laps, seconds = o.seconds, perturbations = {} }
    for _, p in ipairs(require("spinal.perturb").list) do t[p.name] = o[p.name] end
    for name in pairs(o.perturb) do t.perturbations[#t.perturbations + 1] = name end
    table.sort(t.perturbations)
    return t
  end,
}

-- the variant a configuration names, or an error naming the valid ones
function M.variant(o)
  local v = M.variants[o.variant or "car"]
  if not v then
    local names = {}
    for k in pairs(M.variants) do names[#names + 1] = k end
    table.sort(names)
    error(("figure8: unknown variant '%s' (valid: %s)"):format(tostring(o.variant),
      table.concat(names, ", ")), 0)
  end
  return v
end

local Car = {}
Car.__index = Car

function M.setup(cfg)
  local o = {}
  for k, v in pairs(M.defaults) do o[k] = v end
  for k, v in pairs(cfg or {}) do o[k] = v end
  local variant = M.variant(o)
  o = variant.derive(o)
  local who = o.experiment or "figure8"
  local robot = robot_lib.load(run_lib.resolve(o.robot))
  run_lib.require_robot(robot, variant.needs, who)
  local plant = run_lib.open_plant(robot, o.plant, who,
    require("spinal.perturb").tweak(o.perturb, who, o.plant))
  local task = T.figure_eight { radius = o.radius, period = o.period }
  local rate = robot.rate
  local r0 = task:eval(0)
  local self = setmetatable({
    cfg = o,
    variant = variant,
    robot = robot,
    plant = plant,
    task = task,
    rate = rate,
    model = variant.model(o, robot),
    cost = variant.cost(o),
    steps = round(o.seconds * rate),
    skip = variant.skip(o, rate),
    -- start where the reference starts, at rest, facing along it
    x0 = variant.x0(r0),
  }, Car)
  self.policy = self:new_policy(o.seed)
  return self
end

-- whether gn fits the model's parameters to each rollout: cfg.fit when set, else the variant's
function Car:fit()
  if self.cfg.fit ~= nil then return self.cfg.fit == true end
  return self.variant.fit == true
end

-- a fresh policy: the robot's tracker under a network whose last layer is zero
function Car:new_policy(seed)
  local opts = self.variant.policy(self.cfg)
  opts.task, opts.controller = self.task, self.robot.controller
  opts.hidden, opts.seed = self.cfg.hidden, seed
  return P.tracking(opts)
end

-- true when the robot fell during a recorded trajectory (spinal.run's fall test)
function Car:fell(traj)
  return run_lib.fell(traj, self.robot, self.cfg.fall_height)
end

-- one rollout of the policy (default: the car's) on the plant through the HAL
function Car:rollout(pol, opts)
  opts = opts or {}
  return run_lib.rollout(self.plant, pol or self.policy, { steps = self.steps, x0 = self.x0,
                                                          seed = opts.seed or 0,
                                                          explore = opts.explore })
end

function Car:objective_opts()
  return { cost = self.cost, task = self.task, skip = self.skip }
end

-- the plant's cost of a recorded trajectory
function Car:objective(traj)
  return G.objective(traj, self:objective_opts())
end

-- the feedback estimate of dJ/dtheta from a recorded trajectory: g, J
function Car:gradient(traj, pol)
  local opts = self:objective_opts()
  opts.segment = self.cfg.segment
  return G.feedback(pol or self.policy, self.model, traj, opts)
end

-- mean absolute radial error (m) after the first lap: |distance to the active centre - R|
function Car:radial_error(traj)
  local X, t, task = traj.X, traj.t, self.task
  local s, n = 0, 0
  for k = self.skip + 1, traj.X.shape[1] - 1 do
    local ref = task:ref(t[k])
    local dx, dy = X[k][1] - ref[7], X[k][2] - ref[8]
    s, n = s + math.abs(math.sqrt(dx * dx + dy * dy) - ref[9]), n + 1
  end
  if n == 0 then return 0 / 0 end  -- a rollout no longer than the unscored first lap
  return s / n
end

-- the reference path over one lap, as two lists (for plots)
function Car:reference_path(n)
  n = n or 400
  local xs, ys = {}, {}
  for i = 0, n do
    local r = self.task:eval(self.cfg.period * i / n)
    xs[#xs + 1], ys[#ys + 1] = r[1], r[2]
  end
  return xs, ys
end

-- the scored part of a trajectory's path (after the first lap), as two lists
function Car:path(traj)
  local xs, ys = {}, {}
  for k = self.skip + 1, traj.X.shape[1] do
    xs[#xs + 1], ys[#ys + 1] = traj.X[k][1], traj.X[k][2]
  end
  return xs, ys
end

-- an optimiser over the policy's flat parameters: "adam" (default) or "sgd", or "gn" (the
-- Gauss-Newton trust-region step on car's policy and model, o = { radius =, radius_max = }); the
-- object whose state a checkpoint holds (pol:save/load)
function M.optimiser(kind, lr, car, o)
  if kind == "sgd" then return nn.sgd { lr = lr } end
  if kind == "adam" then return nn.adam { lr = lr } end
  if kind == "gn" and car then
    o = o or {}
    if o.fit == nil then o.fit = car:fit() end
    return require("spinal.optimiser").gn(car.policy, car.model, o)
  end
  error(("unknown optimiser '%s' (expected adam, sgd or gn)"):format(tostring(kind)), 0)
end

-- method 1: iters x (rollout on the plant, feedback gradient, optimiser step), then one
-- evaluation rollout. opts: iters, lr, optim ("adam", "sgd" or "gn"; or optimiser: one made
-- already, M.optimiser), radius, radius_max and subspace (gn), on_iter(it, row, traj) after each
-- rollout (it = 0 is the nominal controller), on_step(it, opt, out) after each rollout's
-- bookkeeping (checkpoints: opt is the optimiser whose state pol:save keeps), state (out of an
-- earlier call, to continue from state.next). The last update's step is told so (gn takes a
-- cautious one: no rollout will judge it). Returns { costs, errors, grad_norms, faults (iters + 1
-- each: the last is the evaluation; faults counts the ticks a fault flag was set), falls (legged
-- variants: 1 for each rollout in which the robot fell, else 0), first = nominal
-- trajectory, last = learned trajectory, data_seconds (learning only), next }. A step that would
-- make the parameters non-finite raises (spinal.nn).
function M.learn(car, opts)
  local objective = car:objective_opts()
  objective.segment = car.cfg.segment
  local kind = opts.optim or "adam"
  local step, opt = require("spinal.optimiser").new(kind, car.policy, car.model, objective,
    { lr = opts.lr or 3e-3, radius = opts.radius, radius_max = opts.radius_max, fit = car:fit(),
      subspace = opts.subspace, optimiser = opts.optimiser })
  local out = opts.state or { costs = {}, errors = {}, grad_norms = {}, faults = {},
                              data_seconds = 0, next = 0 }
  local legged = car.variant.legged
  if legged then out.falls = out.falls or {} end
  for it = out.next, opts.iters do
    local traj = car:rollout()
    local row = { iter = it, data_seconds = out.data_seconds, faults = run_lib.faults(traj) }
    if it < opts.iters then
      row.cost, row.grad_norm = step(traj, it == opts.iters - 1)
      out.data_seconds = out.data_seconds + traj.data_seconds
    else
      row.cost = car:objective(traj)
    end
    row.radial_error_m = car:radial_error(traj)
    if legged then
      row.fell = car:fell(traj) and 1 or 0
      out.falls[it + 1] = row.fell
    end
    out.costs[it + 1] = row.cost
    out.errors[it + 1] = row.radial_error_m
    out.grad_norms[it + 1] = row.grad_norm or json.null
    out.faults[it + 1] = row.faults
    if it == 0 then out.first = traj end
    out.last = traj
    out.next = it + 1
    if opts.on_iter then opts.on_iter(it, row, traj) end
    if opts.on_step then opts.on_step(it, opt, out) end
  end
  return out
end

-- the settings of a run to resume (cfg.resume = its directory), checked against the command line
function M.resume_settings(cfg)
  return run_lib.resumed_settings(cfg)
end

-- the whole experiment (car_figure8.lua, car_mujoco.lua, quadruped_figure8.lua): learn, write
-- the run directory (settings, metrics, policy checkpoint, summary, trajectories, plots), print
-- the before/after table; returns the run. cfg.resume = a run directory continues that run where
-- its checkpoint stopped. opts: variant ("car" by default, or "quadruped"), interrupted (tests: a
-- function for the progress line, spinal.progress).
function M.experiment(name, cfg, opts)
  local sp = require "spinal"
  local F = M
  opts = opts or {}
  local resume = type(cfg.resume) == "string" and cfg.resume ~= "" and cfg.resume or nil
  if resume then cfg = F.resume_settings(cfg) end
  local setup = {}
  for k, v in pairs(cfg) do setup[k] = v end
  setup.experiment = name
  setup.variant = opts.variant or cfg.variant
  local car = F.setup(setup)
  local run = sp.run.start { name = name, settings = cfg, resume = resume }
  local names = { states = car.robot.state, actions = car.robot.action }
  -- the optimiser whose state the checkpoint holds (adam's moments, gn's trust region)
  local optimiser = F.optimiser(cfg.optim or "adam", cfg.lr or 3e-3, car,
                                { radius = cfg.trust, radius_max = cfg.trust_max })

  -- a resumed run: the policy, optimiser, rng and progress from the checkpoint
  local state = resume and run:resume_state(car.policy, optimiser, cfg.iters) or nil

  local progress = sp.progress { total = cfg.iters, label = name, interrupted = opts.interrupted }
  if state then progress:update(state.next) end
  local result = F.learn(car, {
    iters = cfg.iters, optim = cfg.optim, lr = cfg.lr, optimiser = optimiser, state = state,
    radius = cfg.trust, radius_max = cfg.trust_max,
    on_iter = function(it, row, traj)
      run:log(row)
      if it == 0 then run:save_traj("nominal", traj, names) end
    end,
    on_step = function(it, opt, out)
      run:save_policy("policy.ckpt", car.policy, opt, run_lib.progress_note(out))
      -- iterations counted as updates done: the last rollout only evaluates them
      if it < cfg.iters then
        progress:update(it + 1, { cost = out.costs[it + 1], radial_m = out.errors[it + 1] })
      end
    end,
  })
  progress:done()
  F.report(name, cfg, car, run, result, names)
  run:close()
  return run
end

-- fault ticks over every rollout, of the nominal one and of the evaluation
local function fault_summary(result)
  local total = 0
  for _, n in ipairs(result.faults) do total = total + n end
  return total, result.faults[1] or 0, result.faults[#result.faults] or 0
end

-- falls over every rollout (legged variants), of the nominal one and of the evaluation
local function fall_summary(result)
  local falls = result.falls
  if not falls then return 0, 0, 0 end
  local total = 0
  for _, n in ipairs(falls) do total = total + n end
  return total, falls[1] or 0, falls[#falls] or 0
end

-- write the summary, trajectories and plots of a finished learning run and print the table
function M.report(name, cfg, car, run, result, names)
  local o, variant = car.cfg, car.variant
  local nominal, learned = result.errors[1], result.errors[#result.errors]
  local total, nominal_faults, learned_faults = fault_summary(result)
  local falls, nominal_fell, learned_fell = fall_summary(result)
  -- a rollout that faulted, or in which the robot fell, measured nothing worth comparing
  local nominal_valid = nominal_faults == 0 and nominal_fell == 0
  local learned_valid = learned_faults == 0 and learned_fell == 0
  run:save_traj("learned", result.last, names)
  run:save_reference(car:reference_path())  -- what `spinal render` draws under the car
  local summary = {
    plant = cfg.plant or "model",
    nominal_radial_error_m = nominal,
    learned_radial_error_m = learned,
    nominal_valid = nominal_valid,
    learned_valid = learned_valid,
    reduction = (nominal_valid and learned_valid) and nominal / learned or json.null,
    nominal_cost = result.costs[1],
    learned_cost = result.costs[#result.costs],
    nominal_faults = nominal_faults,
    learned_faults = learned_faults,
    faults = total,
    faults_per_iter = result.faults,
    data_seconds = result.data_seconds,
    eval_seconds = result.last.data_seconds,
    iters = cfg.iters,
    seed = cfg.seed,
    gamma = cfg.gamma,
    radius = cfg.radius,
    period = o.period,
    lr = cfg.lr,
    optim = cfg.optim,
    trust = cfg.trust,
    trust_max = cfg.trust_max,
    fit = cfg.optim == "gn" and car:fit() or json.null,
    costs = result.costs,
    radial_errors_m = result.errors,
    policy = "policy.ckpt",
  }
  if variant.legged then
    summary.falls, summary.falls_per_iter = falls, result.falls
    summary.nominal_fell, summary.learned_fell = nominal_fell == 1, learned_fell == 1
  end
  for k, v in pairs(variant.summary and variant.summary(o) or {}) do summary[k] = v end
  run:summary(summary)
  if total > 0 then
    io.stderr:write(("%s: warning: the policy faulted on %d ticks (NaN command or state, or the "
      .. "safety filter's safe command%s): metrics of faulted rollouts are marked invalid in "
      .. "summary.json\n"):format(name, total, learned_faults == 0 and "" or "; the learned "
      .. "policy's evaluation faulted"))
  end
  if falls > 0 then
    io.stderr:write(("%s: warning: the robot fell in %d of %d rollouts%s: metrics of those "
      .. "rollouts are marked invalid in summary.json\n"):format(name, falls, #result.falls,
      learned_fell == 1 and " (the learned policy's evaluation among them)" or ""))
  end

  -- plots (iteration 0 is the nominal tracker)
  local label, scored = variant.label, variant.scored
  local its = {}
  for i = 1, #result.costs do its[i] = i - 1 end
  local p1 = run:plot { file = "radial_error.png", title = ("%s figure-eight, %s: mean "
    .. "radial error"):format(label, variant.title(o)), xlabel = "iteration (0 = nominal tracker)",
    ylabel = ("mean |r - R| after %s (m)"):format(scored),
    series = { { x = its, y = result.errors, label = "learned policy" },
               { x = { 0, cfg.iters }, y = { nominal, nominal }, label = "nominal tracker",
                 style = "dashed" } } }
  local p2 = run:plot { file = "cost.png", title = label .. " figure-eight: cost per iteration",
    logy = true, xlabel = "iteration (0 = nominal tracker)", ylabel = "cost J (plant)",
    series = { { x = its, y = result.costs, label = "J" } } }
  local rx, ry = car:reference_path()
  local nx, ny = car:path(result.first)
  local lx, ly = car:path(result.last)
  local p3 = run:plot { file = "path.png", square = true, key = "below", height = 560,
    title = ("%s path after %s (R = %g m, T = %.3g s)"):format(label, scored, cfg.radius,
      o.period),
    xlabel = "x (m)", ylabel = "y (m)",
    series = { { x = rx, y = ry, label = "reference", style = "dashed" },
               { x = nx, y = ny, label = "nominal", style = "lines" },
               { x = lx, y = ly, label = ("learned (%d iterations)"):format(cfg.iters),
                 style = "lines" } } }

  -- the before/after table; a faulted rollout's metric is shown as invalid
  local function metric(v, valid, fmt, width)
    if valid then return (fmt):format(v) end
    return ("%" .. width .. "s"):format("invalid")
  end
  print()
  local line1, line2 = variant.mismatch(o)
  print(("%s figure-eight (R = %g m, T = %.4g s) on the %s plant; %s")
    :format(label, cfg.radius, o.period, cfg.plant or "model", line1))
  local how = cfg.optim == "gn" and ("gn trust %g..%g%s"):format(cfg.trust, cfg.trust_max,
                car:fit() and ", model refitted" or "")
              or ("%s lr %g"):format(cfg.optim, cfg.lr)
  print(("%s%d iterations x %.4g s = %.1f s of plant data; %s; seed %d")
    :format(line2, cfg.iters, o.seconds, result.data_seconds, how, cfg.seed))
  local fall_col = variant.legged and ("%6s"):format("fell") or ""
  local function fell_cell(n) return variant.legged and ("%6s"):format(n == 1 and "yes" or "no")
    or "" end
  print(("  %-22s %18s %12s %8s%s"):format("", "radial error (m)", "cost", "faults", fall_col))
  print(("  %-22s %s %s %8d%s"):format("nominal tracker",
    metric(nominal, nominal_valid, "%18.3f", 18),
    metric(result.costs[1], nominal_valid, "%12.1f", 12), nominal_faults, fell_cell(nominal_fell)))
  print(("  %-22s %s %s %8d%s"):format("learned policy",
    metric(learned, learned_valid, "%18.3f", 18),
    metric(result.costs[#result.costs], learned_valid, "%12.1f", 12), learned_faults,
    fell_cell(learned_fell)))
  if nominal_valid and learned_valid then
    print(("  %-22s %17.1fx %11.1fx"):format("reduction", nominal / learned,
      result.costs[1] / result.costs[#result.costs]))
  end
  print("run: " .. run.dir)
  local plots = {}
  for _, p in ipairs { p1, p3, p2 } do plots[#plots + 1] = p end
  for i, p in ipairs(plots) do print((i == 1 and "plots: " or "       ") .. p) end
end

return M
