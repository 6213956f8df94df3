-- arm_reach.lua: method 1 (docs/methods.md; Westenbroek et al., arXiv 2307.08168) on a 3-DoF
-- arm whose approximate model is the rigid-body tree of its own MJCF (spinal.rbd, docs/rbd.md).
--
-- Robot: robots/arm3.lua (arm3.xml: shoulder yaw, shoulder pitch, elbow; torque motors, ctrl in
-- [-1, 1] x gear). The "real" arm is MuJoCo on arm3.xml through the HAL's mujoco backend, made
-- different from the file in two ways the model does not know: every body's mass and inertia
-- scaled by `mass_scale` (the backend's perturbation), and dry (Coulomb) friction of `friction`
-- N m on every joint (MuJoCo's frictionloss, added by the backend's perturbation; the tree
-- leaves friction loss out by design). The approximate model is the tree imported from
-- the unperturbed arm3.xml (RK4 at the control rate).
--
-- Task: from the robot's home pose at rest, bring the tip (the MJCF's `tip` site: 0.35 m along
-- the forearm) to the point `target` and hold it there. The set point q* is the inverse
-- kinematics of the target on the tree (damped least squares from home); the feed-forward u* is
-- the model's gravity torque at q*. Policy: u = u* - (K + dK)(x - (q*, 0) - dx), K from the DARE
-- on the model linearised at (q*, u*) with the robot file's weights; a network (zero last layer:
-- iteration 0 is exactly the nominal design) outputs the set-point offsets dx and the gain
-- corrections dK. On the heavier, stickier plant the nominal design sags and stops short.
-- Cost per step from `settle` seconds on: |tip - target|^2 (m^2), the tip from the tree's forward
-- kinematics and its gradient from the tree's frame Jacobian. The feedback estimator takes the
-- model's Jacobians along each recorded MuJoCo rollout; the Gauss-Newton trust-region step on the
-- same Jacobians (optim=gn, the default: 0.2 mm where Adam ends at 1-3.5 mm with the same 60 s of
-- plant data, README) or Adam (optim=adam) steps the network.
--
--   spinal experiments/arm_reach.lua [seed=1] [iters=30] [optim=gn] [lr=0.003] [trust=0.05]
--                                    [trust_max=0.2] [mass_scale=1.3]
--                                    [friction=0.3] [target=0.35,0.3,0.5] [seconds=2]
--                                    [settle=0.5] [process_noise=0] [hidden=32,32]
--                                    [plant=mujoco] [out=DIR] [resume=DIR]
-- Writes runs/arm_reach/<time>/ (or out=DIR): settings.json, metrics.csv (one row per
-- iteration), summary.json (nominal_cost, learned_cost, nominal_error_m, learned_error_m, iters,
-- seed, data_seconds, costs, errors_m, ...), the nominal and learned trajectories (NPY) and
-- plots (cost.png, error.png, distance.png), policy.ckpt (the policy and optimiser state, after
-- every iteration); faulted rollouts are counted and their metrics marked invalid.
local sp = require "spinal"
local rbd = require "spinal.rbd"
local array = require "spinal.array"
local P = require "spinal.policy"
local G = require "spinal.grad"
local ctrl = require "spinal.ctrl"
local linalg = require "spinal.linalg"

local cfg = sp.settings {
  seed = 1,                    -- network initialisation
  iters = 30,                  -- learning iterations (one rollout each)
  optim = "gn",                -- gn (Gauss-Newton, trust region), adam or sgd (step lr)
  lr = 3e-3,                   -- adam, sgd
  trust = 0.05,                -- gn: initial trust radius (RMS action change, motor commands)
  trust_max = 0.2,             -- gn: largest trust radius
  mass_scale = 1.3,            -- the real arm: every body's mass and inertia x this
  friction = 0.3,              -- the real arm: dry friction on every joint (N m)
  target = { 0.35, 0.3, 0.5 }, -- m, world frame (the base stands at the origin, z up)
  seconds = 2.0,               -- s of plant data per rollout
  settle = 0.5,                -- s before the per-step cost counts
  process_noise = 0.0,         -- rad/s, std of a random kick of every joint rate each tick
  hidden = { 32, 32 },
  set_scale = 0.2,             -- network output scale of the set-point offsets (rad, rad/s)
  gain_scale = 1.0,            -- ... and of the gain corrections (command per rad, per rad/s)
  robot = "robots/arm3.lua",
  plant = "mujoco",            -- the perturbed MuJoCo arm; or another plant section or a HAL
                               -- address (udp://host:port: mass_scale and friction do not apply)
  out = "",
  resume = "",                 -- a run directory: continue that run from its last checkpoint
}
cfg = sp.run.resumed_settings(cfg)
local resume = cfg.resume ~= "" and cfg.resume or nil

-- ---- the arm ------------------------------------------------------------------------------------

local robot = sp.robot.load(sp.run.resolve(cfg.robot))
sp.run.require_robot(robot, { state = { "yaw", "pitch", "elbow", "yaw_rate", "pitch_rate",
                                        "elbow_rate" },
                              action = { "shoulder_yaw", "shoulder_pitch", "elbow" } }, "arm_reach")
local mjcf = robot.plants.mujoco.mjcf
local tree = assert(rbd.load_mjcf(mjcf))
local model = robot.model
local rate = robot.rate
local steps = math.floor(cfg.seconds * rate + 0.5)
local skip = math.floor(cfg.settle * rate + 0.5)
local nq = tree.nq
local TIP_LINK, TIP = "forearm", { 0.35, 0, 0 }   -- arm3.xml's site "tip", in the forearm frame
local target = cfg.target
local function refuse(what) error("arm_reach: " .. what, 0) end
if #target ~= 3 then
  refuse(("target: expected 3 numbers (x, y, z in m), got %d"):format(#target))
end
if not (cfg.mass_scale > 0) then
  refuse(("mass_scale: expected > 0, got %g"):format(cfg.mass_scale))
end
if not (cfg.process_noise >= 0) then
  refuse(("process_noise: expected >= 0 rad/s, got %g"):format(cfg.process_noise))
end
if not (cfg.friction >= 0) then
  refuse(("friction: expected >= 0 N m, got %g"):format(cfg.friction))
end
if not (cfg.settle >= 0 and cfg.seconds >= cfg.settle + 0.5) then
  refuse(("seconds: expected at least settle + 0.5 s (%g), got %g"):format(cfg.settle + 0.5,
    cfg.seconds))
end
if not (math.type(cfg.iters) == "integer" and cfg.iters >= 0) then
  refuse(("iters: expected an integer >= 0, got %s"):format(tostring(cfg.iters)))
end

-- the tip's world position at joint angles q, and its Jacobian dtip/dq (3 x nq, a table of rows)
local function tip(q, with_jacobian)
  local R, p = tree:placement(q, TIP_LINK)
  local w = {}
  for i = 1, 3 do
    w[i] = p[i] + R[i][1] * TIP[1] + R[i][2] * TIP[2] + R[i][3] * TIP[3]
  end
  if not with_jacobian then return w end
  local J = tree:jacobian(q, TIP_LINK, TIP)
  local Jp = {}
  for i = 1, 3 do
    Jp[i] = {}
    for j = 1, nq do Jp[i][j] = J[3 + i][j] end
  end
  return w, Jp
end

local function distance(x)
  local w = tip({ x[1], x[2], x[3] })
  return math.sqrt((w[1] - target[1]) ^ 2 + (w[2] - target[2]) ^ 2 + (w[3] - target[3]) ^ 2)
end

-- inverse kinematics on the tree: damped least squares from home, to 1e-10 m
local function inverse_kinematics()
  local q = { robot.reference[1], robot.reference[2], robot.reference[3] }
  for _ = 1, 100 do
    local w, J = tip(q, true)
    local e = { target[1] - w[1], target[2] - w[2], target[3] - w[3] }
    if math.sqrt(e[1] ^ 2 + e[2] ^ 2 + e[3] ^ 2) < 1e-10 then return q end
    -- dq = J' (J J' + lambda^2 I)^-1 e
    local JJ = {}
    for i = 1, 3 do
      JJ[i] = {}
      for k = 1, 3 do
        local s = i == k and 1e-4 or 0
        for j = 1, nq do s = s + J[i][j] * J[k][j] end
        JJ[i][k] = s
      end
    end
    local y = linalg.solve(array(JJ), array(e))
    for j = 1, nq do
      q[j] = q[j] + J[1][j] * y[1] + J[2][j] * y[2] + J[3][j] * y[3]
    end
  end
  error(("arm_reach: target (%g, %g, %g) is out of reach"):format(target[1], target[2],
    target[3]), 0)
end

-- the command that holds x still on the model: accelerations are affine in u, qdd = a0 + Bv u
local function holding_command(x)
  local zero = {}
  for i = 1, robot.nu do zero[i] = 0 end
  local f = model:f(x, zero)
  local _, fu = model:f_jac(x, zero)
  local a0, Bv = {}, {}
  for i = 1, nq do
    a0[i] = -f[nq + i]
    Bv[i] = {}
    for j = 1, robot.nu do Bv[i][j] = fu[nq + i][j] end
  end
  local u = linalg.solve(array(Bv), array(a0))
  local out = {}
  for j = 1, robot.nu do out[j] = u[j] end
  return out
end

-- the LQR at (q*, u*) with the robot file's weights (a diagonal or rows), on the model's exact
-- step Jacobians
local function weight(v)
  if type(v[1]) == "table" then return array(v) end
  local m = {}
  for i = 1, #v do
    m[i] = {}
    for j = 1, #v do m[i][j] = i == j and v[i] or 0 end
  end
  return array(m)
end

local q_star = inverse_kinematics()
local x_set = { q_star[1], q_star[2], q_star[3], 0, 0, 0 }
local u_star = holding_command(x_set)
local weights = robot.spec.controller.design
local Am, Bm = model:jac(x_set, u_star)
local K = ctrl.lqr_gain(Am, Bm, weight(weights.Q), weight(weights.R), "discrete")
local rho = ctrl.closed_loop(Am, Bm, K)
if not (rho < 1) then
  refuse(("the LQR at the target pose is unstable on the model (spectral radius %g)"):format(rho))
end

-- ---- the real arm: MuJoCo on arm3.xml, perturbed ---------------------------------------

local run = sp.run.start { name = "arm_reach", settings = cfg, resume = resume }

-- the real arm: heavier links and dry friction on every joint, through the backend's
-- perturbations (relative to arm3.xml, whose joints have no friction loss)
local plant = sp.run.open_plant(robot, cfg.plant, "arm_reach", function(scheme, pcfg)
  if scheme == "mujoco" then
    pcfg.perturb = { mass = cfg.mass_scale, frictionloss = cfg.friction }
    pcfg.process_std = cfg.process_noise
  end
end)
local x0 = {}
for i = 1, robot.nx do x0[i] = robot.reference[i] end

-- ---- policy, cost, learning ---------------------------------------------------------------------

local lqr = ctrl.lqr(K)
lqr:set_limits(robot.limits.action_min, robot.limits.action_max)
local pol = P.lqr { controller = lqr, x_set = x_set, u_ff = u_star, period = cfg.seconds,
                    hidden = cfg.hidden, seed = cfg.seed, set_scale = cfg.set_scale,
                    gain_scale = cfg.gain_scale }

-- |tip - target|^2 on the tree's kinematics: c, dc/dx, dc/du
local zero_u = {}
for i = 1, robot.nu do zero_u[i] = 0 end
local function step_cost(x, u, t, k)
  local w, J = tip({ x[1], x[2], x[3] }, true)
  local e = { w[1] - target[1], w[2] - target[2], w[3] - target[3] }
  local gx = {}
  for j = 1, robot.nx do gx[j] = 0 end
  for j = 1, nq do gx[j] = 2 * (e[1] * J[1][j] + e[2] * J[2][j] + e[3] * J[3][j]) end
  return e[1] ^ 2 + e[2] ^ 2 + e[3] ^ 2, gx, u and zero_u
end
local objective = { cost = step_cost, terminal = step_cost, skip = skip }

local safety = { u_min = robot.safety.u_min, u_max = robot.safety.u_max, safe = robot.safety.safe }
-- rollout i draws its process noise from stream (seed, i)
local function rollout(i)
  local opts = { steps = steps, x0 = x0, seed = 1000 * cfg.seed + i }
  for k, v in pairs(safety) do opts[k] = v end
  return sp.run.rollout(plant, pol, opts)
end

-- mean tip distance to the target over the last 0.5 s
local function final_error(traj)
  local last = traj.X.shape[1]
  local n, s = 0, 0
  for k = last - math.floor(0.5 * rate) + 1, last do
    s, n = s + distance(traj.X[k]), n + 1
  end
  return s / n
end

local progress = sp.progress { total = cfg.iters, label = "arm_reach" }
-- the optimiser whose state the checkpoint holds (adam's moments, gn's trust region)
local step, opt = sp.optimiser.new(cfg.optim, pol, model, objective,
                                   { lr = cfg.lr, radius = cfg.trust, radius_max = cfg.trust_max })
-- the learning state: fresh, or from a resumed run's checkpoint (policy, optimiser, progress)
local state = resume and run:resume_state(pol, opt, cfg.iters)
  or { next = 0, costs = {}, errors = {}, faults = {}, data_seconds = 0 }
local costs, errors, faults, data_seconds = state.costs, state.errors, state.faults,
  state.data_seconds
local first, last = state.first, nil
local names = { states = robot.state, actions = robot.action }
if state.next > 0 then progress:update(state.next) end
for it = state.next, cfg.iters do
  local traj = rollout(it)
  local row = { iter = it, data_seconds = data_seconds, faults = sp.run.faults(traj) }
  if it < cfg.iters then
    row.cost, row.grad_norm = step(traj, it == cfg.iters - 1)
    data_seconds = data_seconds + traj.data_seconds
  else
    row.cost = G.objective(traj, objective)
  end
  row.error_m = final_error(traj)
  costs[it + 1], errors[it + 1], faults[it + 1] = row.cost, row.error_m, row.faults
  if it == 0 then
    first = traj
    run:save_traj("nominal", first, names)
  end
  last = traj
  run:log(row)
  run:save_policy("policy.ckpt", pol, opt, sp.run.progress_note { next = it + 1, costs = costs,
    errors = errors, faults = faults, data_seconds = data_seconds })
  -- iterations counted as updates done: the last rollout only evaluates them
  if it < cfg.iters then progress:update(it + 1, { cost = row.cost, error_m = row.error_m }) end
end
progress:done()

-- ---- results ------------------------------------------------------------------------------------

run:save_traj("learned", last, names)
local nominal_error, learned_error = errors[1], errors[#errors]
-- a rollout the safety filter took over (NaN, limits) measures the filter, not the policy
local nominal_valid, learned_valid = faults[1] == 0, faults[#faults] == 0
local total_faults = 0
for _, n in ipairs(faults) do total_faults = total_faults + n end
run:summary {
  nominal_valid = nominal_valid,
  learned_valid = learned_valid,
  faults = total_faults,
  faults_per_iter = faults,
  plant = cfg.plant,
  policy = "policy.ckpt",
  nominal_cost = costs[1],
  learned_cost = costs[#costs],
  nominal_error_m = nominal_error,
  learned_error_m = learned_error,
  iters = cfg.iters,
  seed = cfg.seed,
  data_seconds = data_seconds,
  mass_scale = cfg.mass_scale,
  friction = cfg.friction,
  target = target,
  q_set = q_star,
  u_set = u_star,
  closed_loop_rho = rho,
  lr = cfg.lr,
  optim = cfg.optim,
  costs = costs,
  errors_m = errors,
}

local its = {}
for i = 1, #costs do its[i] = i - 1 end
local plots = {}
local function draw(spec)  -- the plots drawn (gnuplot may be missing)
  plots[#plots + 1] = run:plot(spec)
end
draw { file = "cost.png", logy = true, title = "arm reach: cost per iteration",
  xlabel = "iteration (0 = nominal LQR)", ylabel = "cost J (MuJoCo plant)",
  series = { { x = its, y = costs, label = "J" } } }
draw { file = "error.png", title = "arm reach: tip error over the last 0.5 s",
  xlabel = "iteration (0 = nominal LQR)", ylabel = "mean |tip - target| (m)",
  series = { { x = its, y = errors, label = "learned policy" },
             { x = { 0, cfg.iters }, y = { nominal_error, nominal_error }, label = "nominal LQR",
               style = "dashed" } } }
local ts, dn, dl = {}, {}, {}
for k = 1, first.X.shape[1] do
  ts[k], dn[k], dl[k] = first.t[k], distance(first.X[k]), distance(last.X[k])
end
draw { file = "distance.png", logy = true, title = "arm reach: tip distance to the target",
  xlabel = "time (s)", ylabel = "|tip - target| (m)",
  series = { { x = ts, y = dn, label = "nominal LQR" },
             { x = ts, y = dl, label = ("learned (%d iterations)"):format(cfg.iters) } } }

print()
print(("3-DoF arm (arm3.xml) reaching (%g, %g, %g) m on MuJoCo with masses x%g and %g N m joint "
  .. "friction;"):format(target[1], target[2], target[3], cfg.mass_scale, cfg.friction))
print(("model: the rigid-body tree of the unperturbed MJCF; %d iterations x %g s = %.1f s of "
  .. "plant data; %s; seed %d"):format(cfg.iters, cfg.seconds, data_seconds,
  cfg.optim == "gn" and ("gn trust %g..%g"):format(cfg.trust, cfg.trust_max)
  or ("%s lr %g"):format(cfg.optim, cfg.lr), cfg.seed))
print(("  %-16s %16s %12s %8s"):format("", "tip error (m)", "cost", "faults"))
local function row(label, e, c, valid, n)
  if valid then
    print(("  %-16s %16.4f %12.4g %8d"):format(label, e, c, n))
  else
    print(("  %-16s %16s %12s %8d"):format(label, "invalid", "invalid", n))
  end
end
row("nominal LQR", nominal_error, costs[1], nominal_valid, faults[1])
row("learned policy", learned_error, costs[#costs], learned_valid, faults[#faults])
if nominal_valid and learned_valid then
  print(("  %-16s %15.1fx %11.1fx"):format("reduction", nominal_error / learned_error,
    costs[1] / costs[#costs]))
end
if total_faults > 0 then
  io.stderr:write(("arm_reach: warning: the policy faulted on %d ticks (NaN command or state, or "
    .. "the safety filter's safe command): metrics of faulted rollouts are marked invalid in "
    .. "summary.json\n"):format(total_faults))
end
print("run: " .. run.dir)
if #plots > 0 then print("plots: " .. table.concat(plots, ", ")) end
run:close()
