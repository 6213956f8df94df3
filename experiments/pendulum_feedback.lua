-- pendulum_feedback.lua: method 1's feedback ablation on the double pendulum (docs/methods.md,
-- "Double pendulum"; Westenbroek et al., arXiv 2307.08168): the same learning with and without an
-- embedded model-designed controller, with and without model mismatch, over many seeds.
--
-- Plant: robots/double_pendulum.lua's `model` plant (m = 0.1 kg, l = 1 m, g = 1, RK4) through the
-- HAL, 3 s rollouts at 100 Hz from theta1 = 5 pi / 8. Task: bring the end effector to the point
-- (tx, ty) and hold it; cost per step |ee - target|^2, terminal 10 |ee - target|^2 (geometry of
-- the real arm). The model: the plant's own parameters ("perfect") or the robot file's mismatch
-- (masses x0.7, lengths x0.9). The target pose q* (elbow-left inverse kinematics of the target)
-- and its gravity torque u* are computed on the MODEL, so mismatch leaves the nominal controller
-- with an error that learning has to remove.
--   feedback:  u = u* - (K + dK)(x - (q*, 0) - dx)   K: DARE on the model linearised at (q*, u*),
--              Q = diag(250, 250, 10, 10), R = I; the network gives dx and dK
--   open loop: u = u* + network(x, phase)            gravity compensation at q* + network
-- The network (32-32, tanh) starts with a zero last layer, so iteration 0 is the nominal design.
-- Success: the learned policy's cost below `success_cost` (100: two thirds of the nominal
-- feedback design's 150.7 on the perfect model) and its end effector, averaged over the last
-- 0.5 s, within `tol` (0.1 m) of the target.
--
--   spinal experiments/pendulum_feedback.lua [seeds=16] [iters=40] [optim=adam] [lr=0.01]
--                                            [trust=0.05] [trust_max=0.2] [tol=0.1]
--                                            [success_cost=100] [plant=model] [out=DIR]
--                                            [resume=DIR]
-- optim: adam or sgd (step lr), or gn (Gauss-Newton with a trust region on the RMS action
-- change, torques in N m, from trust up to trust_max); the gradient diagnostics are the same.
-- resume=DIR continues an interrupted run: the (configuration, seed) runs it finished are read
-- back from DIR/runs/, the ones cut short are redone. Under mpirun the runs split across the
-- ranks (docs/distributed.md).
local sp = require "spinal"
local A = require "spinal.array"
local M = require "spinal.model"
local P = require "spinal.policy"
local G = require "spinal.grad"
local ctrl = require "spinal.ctrl"

local cfg = sp.settings {
  seeds = 16,
  iters = 40,
  optim = "adam",       -- adam, sgd or gn
  lr = 1e-2,            -- adam, sgd
  trust = 0.05,         -- gn: initial trust radius (RMS torque change, N m)
  trust_max = 0.2,      -- gn: largest trust radius
  tol = 0.1,            -- m, success: final end-effector distance below this ...
  success_cost = 100.0, -- ... and the final cost below this
  tx = 0.5,             -- m, target point (x right, y up; the base at the origin)
  ty = 1.5,
  seconds = 3.0,
  hidden = { 32, 32 },
  robot = "robots/double_pendulum.lua",
  plant = "model",      -- the robot file's plant section, or a HAL address (udp://host:port)
  out = "",
  resume = "",          -- a run directory: finish it (its finished runs are kept)
}
cfg = sp.run.resumed_settings(cfg)

local robot = sp.robot.load(sp.run.resolve(cfg.robot))
sp.run.require_robot(robot, { state = { "th1", "th2", "w1", "w2" }, action = { "tau1", "tau2" } },
  "pendulum_feedback")
local plant = sp.run.open_plant(robot, cfg.plant, "pendulum_feedback")
local rate = robot.rate
local steps = math.floor(cfg.seconds * rate + 0.5)
local real = { m1 = 0.1, m2 = 0.1, l1 = 1.0, l2 = 1.0, g = 1.0 }
local x0 = { 5 * math.pi / 8, 0, 0, 0 }

-- end-effector cost on the real arm's geometry: c, gx (and gu = 0)
local function ee(x)
  local s1, c1 = math.sin(x[1]), math.cos(x[1])
  local s12, c12 = math.sin(x[1] + x[2]), math.cos(x[1] + x[2])
  local ex = real.l1 * s1 + real.l2 * s12 - cfg.tx
  local ey = real.l1 * c1 + real.l2 * c12 - cfg.ty
  return ex, ey, real.l1 * c1 + real.l2 * c12, real.l2 * c12, -real.l1 * s1 - real.l2 * s12,
    -real.l2 * s12
end
local function step_cost(x, u, t, k, w)
  local ex, ey, ax1, ax2, ay1, ay2 = ee(x)
  w = w or 1
  return w * (ex * ex + ey * ey),
    { w * 2 * (ex * ax1 + ey * ay1), w * 2 * (ex * ax2 + ey * ay2), 0, 0 }, u and { 0, 0 }
end
local function terminal_cost(x, u, t, k) return step_cost(x, nil, t, k, 10) end
local objective = { cost = step_cost, terminal = terminal_cost }

local function distance(x)
  local ex, ey = ee(x)
  return math.sqrt(ex * ex + ey * ey)
end

-- mean end-effector distance over the last 0.5 s of a trajectory
local function final_distance(traj)
  local n, s = 0, 0
  local last = traj.X.shape[1]
  for k = last - math.floor(0.5 * rate) + 1, last do
    s, n = s + distance(traj.X[k]), n + 1
  end
  return s / n
end

-- the model: the plant's parameters, or the robot file's mismatched ones
local function make_model(mismatch)
  local p = mismatch and robot.model.params or real
  return M.new("double_pendulum", p, { dt = 1 / rate, integrator = "rk4" })
end

-- on the model: the target pose (inverse kinematics) and its gravity torque
local function design(model)
  local p = model.params
  local l1, l2 = p.l1, p.l2
  local d2 = cfg.tx ^ 2 + cfg.ty ^ 2
  local c2 = math.max(-1, math.min(1, (d2 - l1 * l1 - l2 * l2) / (2 * l1 * l2)))
  local th2 = math.acos(c2)
  local th1 = math.atan(cfg.tx, cfg.ty) - math.atan(l2 * math.sin(th2), l1 + l2 * c2)
  local s1, s12 = math.sin(th1), math.sin(th1 + th2)
  -- static torque: dV/dq with V = g (m1 + m2) l1 cos th1 + g m2 l2 cos(th1 + th2)
  local u = { -p.g * ((p.m1 + p.m2) * l1 * s1 + p.m2 * l2 * s12), -p.g * p.m2 * l2 * s12 }
  local q = { th1, th2, 0, 0 }
  local Am, Bm = model:jac(q, u)
  local K = ctrl.lqr_gain(Am, Bm, A { { 250, 0, 0, 0 }, { 0, 250, 0, 0 }, { 0, 0, 10, 0 },
                                       { 0, 0, 0, 10 } }, A.eye(2), "discrete")
  local rho = ctrl.closed_loop(Am, Bm, K)
  return q, u, K, rho
end

local function make_policy(kind, q, u, K, seed)
  if kind == "feedback" then
    local c = ctrl.lqr(K)
    c:set_limits({ -30, -30 }, { 30, 30 })
    return P.lqr { controller = c, x_set = q, u_ff = u, period = cfg.seconds,
                   hidden = cfg.hidden, seed = seed }
  end
  return P.open_loop { nx = 4, nu = 2, u_ff = u, period = cfg.seconds, hidden = cfg.hidden,
                       seed = seed, scale = 1 }
end

local run = sp.run.start { name = "pendulum_feedback", settings = cfg, resume = cfg.resume,
                           shared = true }
local configs = {
  { name = "feedback", kind = "feedback", mismatch = false },
  { name = "feedback_mismatch", kind = "feedback", mismatch = true },
  { name = "open_loop", kind = "open_loop", mismatch = false },
  { name = "open_loop_mismatch", kind = "open_loop", mismatch = true },
}
local summary = { success_cost = cfg.success_cost, success_rate = {}, final_cost_median = {},
                  faults = {},
                  final_distance_median_m = {},
                  nominal_distance_m = {}, grad_norm_median = {}, grad_norm_max = {},
                  closed_loop_rho = {}, grad_rel_std = {}, sensitivity_norm_final = {},
                  sensitivity_norm_max = {}, seeds = cfg.seeds, iters = cfg.iters, tol = cfg.tol,
                  data_seconds_per_run = cfg.iters * cfg.seconds }
local curves, sens_curves = {}, {}

local function median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x ~= x and math.huge or x end
  table.sort(s)
  local n = #s
  if n == 0 then return 0 / 0 end
  return n % 2 == 1 and s[(n + 1) // 2] or 0.5 * (s[n // 2] + s[n // 2 + 1])
end

-- every rank designs the nominal controllers (cheap, deterministic); the learning runs, one per
-- (configuration, seed), are split over the ranks of an MPI job and resume= skips finished ones
local designs, jobs = {}, {}
for ci, c in ipairs(configs) do
  local model = make_model(c.mismatch)
  local q, u, K, rho = design(model)
  designs[ci] = { model = model, q = q, u = u, K = K, rho = rho }
  for seed = 1, cfg.seeds do jobs[#jobs + 1] = { ci = ci, seed = seed } end
end

local results = run:sweep(jobs, function(job)
  local c, d, seed = configs[job.ci], designs[job.ci], job.seed
  local model, q, u, K = d.model, d.q, d.u, d.K
  local pol = make_policy(c.kind, q, u, K, seed)
  local step, opt = sp.optimiser.new(cfg.optim, pol, model, objective,
                                     { lr = cfg.lr, radius = cfg.trust,
                                       radius_max = cfg.trust_max })
  local out = { config = c.name, norms = {}, costs = {}, faults = 0, rows = {} }
  local J, traj
  for it = 0, cfg.iters do
    traj = sp.run.rollout(plant, pol, { steps = steps, x0 = x0 })
    local nf = sp.run.faults(traj)
    out.faults = out.faults + nf
    if it == cfg.iters then
      J = G.objective(traj, objective)
      out.costs[it + 1] = J
      break
    end
    local g
    g, J = G.feedback(pol, model, traj, objective)
    local gn = g:norm()
    out.norms[#out.norms + 1] = gn
    if it == 0 then out.first = g:totable() end
    if it == 0 and seed == 1 then
      out.nominal_distance_m = final_distance(traj)
      -- diagnostics on the nominal rollout: ||prod (A + B Px)|| (feedback) or ||prod A||
      -- (open loop) against horizon, along the recorded trajectory
      local ln, cond = G.sensitivity(pol, model, traj, { feedback = c.kind == "feedback" })
      local xs, ys, peak = {}, {}, -math.huge
      for h = 1, ln.shape[1] do
        xs[h], ys[h] = h / rate, math.exp(ln[h])
        if ln[h] > peak then peak = ln[h] end
      end
      out.sensitivity = { x = xs, y = ys, max = math.exp(peak), cond = cond[cond.shape[1]] }
    end
    out.rows[#out.rows + 1] = { config = c.name, seed = seed, iter = it, cost = J,
                                grad_norm = gn, distance_m = final_distance(traj), faults = nf }
    out.costs[it + 1] = J
    -- the optimiser takes its step from the same trajectory (no other plant data)
    if gn == gn and gn < math.huge then step(traj, it == cfg.iters - 1) end
    -- the policy and its optimiser's state (adam's moments, gn's trust region)
    run:save_policy(("policy_%s_seed%d.ckpt"):format(c.name, seed), pol, opt)
  end
  out.final_cost, out.final_distance_m = J, final_distance(traj)
  out.final_faults = sp.run.faults(traj)
  out.rows[#out.rows + 1] = { config = c.name, seed = seed, iter = cfg.iters, cost = J,
                              distance_m = out.final_distance_m, faults = out.final_faults }
  return out
end, {
  key = function(job) return ("%s_seed%d"):format(configs[job.ci].name, job.seed) end,
  show = function(r) return { config = r.config, distance = r.final_distance_m } end,
})
if not results then return end  -- rank 0 writes the run's files

local j = 0
for ci, c in ipairs(configs) do
  summary.closed_loop_rho[c.name] = c.kind == "feedback" and designs[ci].rho or 0 / 0
  local successes, finals, dists, norms, curve, first = 0, {}, {}, {}, {}, {}
  local faults = 0
  for seed = 1, cfg.seeds do
    j = j + 1
    local r = results[j]
    for _, row in ipairs(r.rows) do run:log(row) end
    faults = faults + r.faults
    for it, J in ipairs(r.costs) do
      curve[it] = (curve[it] or 0) + (J == J and J or 0) / cfg.seeds
    end
    for _, gn in ipairs(r.norms) do norms[#norms + 1] = gn end
    first[seed] = r.first
    if r.sensitivity then
      summary.nominal_distance_m[c.name] = r.nominal_distance_m
      sens_curves[#sens_curves + 1] = { name = c.name, x = r.sensitivity.x, y = r.sensitivity.y }
      local ys = r.sensitivity.y
      summary.sensitivity_norm_final[c.name] = ys[#ys]
      summary.sensitivity_norm_max[c.name] = r.sensitivity.max
      summary.sensitivity_cond_final = summary.sensitivity_cond_final or {}
      summary.sensitivity_cond_final[c.name] = r.sensitivity.cond
    end
    local J, d = r.final_cost, r.final_distance_m
    -- a final rollout the safety filter took over is no success, whatever it measured
    if d == d and d < cfg.tol and J == J and J < cfg.success_cost and r.final_faults == 0 then
      successes = successes + 1
    end
    finals[#finals + 1], dists[#dists + 1] = J, d
  end
  summary.success_rate[c.name] = successes / cfg.seeds
  summary.faults[c.name] = faults
  summary.final_cost_median[c.name] = median(finals)
  summary.final_distance_median_m[c.name] = median(dists)
  summary.grad_norm_median[c.name] = median(norms)
  -- spread of the first gradient across seeds (the networks' hidden layers differ by seed)
  summary.grad_rel_std[c.name] = #first > 1 and G.stats(A(first)).rel_std or 0 / 0
  local mx = 0
  for _, n in ipairs(norms) do if n ~= n or n > mx then mx = n end end
  summary.grad_norm_max[c.name] = mx
  curves[#curves + 1] = { name = c.name, y = curve }
end
run:summary(summary)

local series = {}
for _, cv in ipairs(curves) do
  local xs = {}
  for i = 1, #cv.y do xs[i] = i - 1 end
  series[#series + 1] = { x = xs, y = cv.y, label = cv.name:gsub("_", " ") }
end
local plot = run:plot { file = "cost.png", logy = true,
  title = ("double pendulum: mean cost over %d seeds, with and without feedback"):format(cfg.seeds),
  xlabel = "iteration (0 = nominal design)", ylabel = "cost J (plant)", series = series }

local sseries = {}
for _, cv in ipairs(sens_curves) do
  sseries[#sseries + 1] = { x = cv.x, y = cv.y, label = cv.name:gsub("_", " "), style = "lines" }
end
local splot = run:plot { file = "sensitivity.png", logy = true,
  title = "closed-loop sensitivity along the nominal rollout (seed 1)",
  xlabel = "horizon (s)", ylabel = "||prod_k (A_k + B_k Px_k)||_2 (open loop: ||prod A_k||)",
  series = sseries }

print()
print(("double pendulum, end effector to (%g, %g), %d seeds x %d iterations of %g s")
  :format(cfg.tx, cfg.ty, cfg.seeds, cfg.iters, cfg.seconds))
print(("success: final cost < %g and final end-effector distance < %g m"):format(cfg.success_cost,
  cfg.tol))
print(("  %-20s %8s %13s %14s %14s %14s"):format("", "success", "nominal d (m)", "final d (m)",
  "final cost", "|g| median"))
for _, c in ipairs(configs) do
  local n = c.name
  print(("  %-20s %7.0f%% %13.3f %14.3f %14.3g %14.3g"):format(n:gsub("_", " "),
    100 * summary.success_rate[n], summary.nominal_distance_m[n] or 0 / 0,
    summary.final_distance_median_m[n], summary.final_cost_median[n],
    summary.grad_norm_median[n]))
end
print("  (final distance, cost and gradient norm: medians over seeds)")
for _, c in ipairs(configs) do
  local n = summary.faults[c.name]
  if n > 0 then
    -- a rollout the safety filter took over measures the filter, not the policy
    print(("  %s: %d fault ticks (NaN or safety takeover): its figures are not valid")
      :format(c.name:gsub("_", " "), n))
    io.stderr:write(("pendulum_feedback: warning: %s faulted on %d ticks\n"):format(c.name, n))
  end
end
print(("  %-20s %14s %14s %16s"):format("", "|Phi_T|", "max |Phi_h|", "rel std of g0"))
for _, c in ipairs(configs) do
  local n = c.name
  print(("  %-20s %14.3g %14.3g %16.3g"):format(n:gsub("_", " "),
    summary.sensitivity_norm_final[n] or 0 / 0, summary.sensitivity_norm_max[n] or 0 / 0,
    summary.grad_rel_std[n]))
end
print("run: " .. run.dir)
if plot then print("plot: " .. plot) end
if splot then print("plot: " .. splot) end
run:close()
