-- estimators.lua: method 1's feedback estimator against the baselines it positions itself
-- against (docs/methods.md; Westenbroek et al., arXiv 2307.08168), on the simulated car, same
-- seeds, same policy, same optimiser (Adam), cost against seconds of plant data.
--
--   feedback    one deterministic rollout per update; model Jacobians along it (method 1)
--   model_bptt  backpropagation through the model's own rollout from the recorded start state
--               (learning from "hallucinated" experience: it uses the plant rollout only for its
--               start state, yet we charge it the rollout, which also measures its cost)
--   reinforce   `rollouts` rollouts with Gaussian exploration (`sigma`) per update, likelihood
--               ratio with a leave-one-out baseline
--   es          antithetic random directions in parameter space, `pairs` pairs = 2 x pairs
--               deterministic rollouts per update
-- x axis: plant seconds the updates consumed. y: the plant cost of the current (deterministic)
-- policy; for reinforce and es it is measured with an extra rollout that is not charged.
-- Target: `target_frac` (0.5) of the nominal tracker's cost; data_seconds_to_target is where
-- the mean cost over seeds first gets there (null if it never does within the budget).
--
--   spinal experiments/estimators.lua [estimators=feedback,model_bptt,reinforce,es] [seeds=3]
--                                     [budget=1290] [lr=0.003] [gamma=0.5] [plant=model]
--                                     [out=DIR] [resume=DIR]
--   mpirun -np N spinal experiments/estimators.lua ...   the (estimator, seed) runs split across
--                                     N ranks, the same files bit for bit (docs/distributed.md);
--                                     each run's result is kept in runs/ as it finishes, and
--                                     resume=DIR continues an interrupted comparison, skipping them
local sp = require "spinal"
local F = require "spinal.figure8"
local G = require "spinal.grad"
local json = require "spinal.json"

local cfg = sp.settings {
  estimators = { "feedback", "model_bptt", "reinforce", "es" },
  seeds = 3,
  budget = 1290.0,       -- plant seconds per estimator and seed (60 rollouts of 21.5 s)
  lr = 3e-3,             -- Adam, every estimator
  gamma = 0.5,
  radius = 1.5,
  period = 5.5,
  seconds = 21.5,
  hidden = { 64, 64 },
  target_frac = 0.5,     -- target cost = this x the nominal tracker's cost
  rollouts = 4,          -- reinforce: rollouts per update
  sigma = 0.1,           -- reinforce: exploration std of each action
  pairs = 4,             -- es: antithetic pairs per update
  es_sigma = 0.02,       -- es: parameter perturbation std
  robot = "robots/rc_car.lua",
  plant = "model",       -- the robot file's plant section, or a HAL address (udp://host:port)
  out = "",
  resume = "",           -- a run directory: continue it, skipping the runs it holds
}

local mpi = sp.mpi  -- the runs are split across the ranks of an MPI job
local resume = cfg.resume ~= "" and cfg.resume or nil
if resume then cfg = sp.run.resumed_settings(cfg) end
local run = sp.run.start { name = "estimators", settings = cfg, resume = resume, shared = true }

-- one learning run: { x = data seconds, y = cost } per update, its faults and its metrics rows
-- (rank 0 logs them, in the single-process order)
local function learn(name, seed)
  local rows = {}
  local car = F.setup { gamma = cfg.gamma, radius = cfg.radius, period = cfg.period,
                        seconds = cfg.seconds, hidden = cfg.hidden, seed = seed,
                        robot = cfg.robot, plant = cfg.plant, experiment = "estimators" }
  local pol, opts = car.policy, car:objective_opts()
  local opt = F.optimiser("adam", cfg.lr)
  local theta = pol:params()
  local xs, ys, used = {}, {}, 0
  local per = cfg.seconds
  if name == "reinforce" then
    per = cfg.rollouts * cfg.seconds
    pol:set_noise({ cfg.sigma, cfg.sigma }, seed)
  elseif name == "es" then
    per = 2 * cfg.pairs * cfg.seconds
  end
  local it, faults = 0, 0
  while true do
    local g, J
    local traj = car:rollout()
    local cost = car:objective(traj)
    local nf = sp.run.faults(traj)
    faults = faults + nf
    xs[#xs + 1], ys[#ys + 1] = used, cost
    rows[#rows + 1] = { estimator = name, seed = seed, iter = it, data_seconds = used,
                        cost = cost, faults = nf }
    if used + per > cfg.budget + 1e-9 or cost ~= cost then break end
    if name == "feedback" then
      g, J = car:gradient(traj)
    elseif name == "model_bptt" then
      g, J = G.model_bptt(pol, car.model, traj, opts)
    elseif name == "reinforce" then
      local trajs = {}
      for i = 1, cfg.rollouts do
        trajs[i] = car:rollout(pol, { explore = true, seed = it * cfg.rollouts + i })
      end
      g, J = G.reinforce(pol, trajs, opts)
    elseif name == "es" then
      g, J = G.es(pol, function(p) return car:objective(car:rollout(p)) end,
                  { sigma = cfg.es_sigma, pairs = cfg.pairs, seed = seed * 100003 + it })
    else
      error(("unknown estimator '%s' (expected feedback, model_bptt, reinforce or es)")
        :format(name), 0)
    end
    used = used + per
    it = it + 1
    opt:step(theta, g)
    run:save_policy(("policy_%s_seed%d.ckpt"):format(name, seed), pol, opt)
  end
  return xs, ys, faults, rows
end

local jobs = {}
for _, name in ipairs(cfg.estimators) do
  for seed = 1, cfg.seeds do jobs[#jobs + 1] = { name = name, seed = seed } end
end
local results = run:sweep(jobs, function(job)
  local xs, ys, faults, rows = learn(job.name, job.seed)
  return { xs = xs, ys = ys, faults = faults, rows = rows, rank = mpi.rank() }
end, {
  key = function(job) return ("%s_seed%d"):format(job.name, job.seed) end,
  show = function(r) return { estimator = r.rows[1].estimator, cost = r.ys[#r.ys] } end,
})
if not results then return end  -- rank 0 writes the run's files

local summary = { data_seconds_to_target = {}, final_cost_mean = {}, faults = {},
                  seeds = cfg.seeds, budget = cfg.budget, gamma = cfg.gamma,
                  target_frac = cfg.target_frac, ranks = mpi.size(), runs_by_rank = {} }
local series, nominal = {}, nil
local j = 0
for _, name in ipairs(cfg.estimators) do
  local mean_x, mean_y = nil, {}
  for seed = 1, cfg.seeds do
    j = j + 1
    local r = results[j]
    for _, row in ipairs(r.rows) do run:log(row) end
    summary.runs_by_rank[j] = r.rank
    local xs, ys, faults = r.xs, r.ys, r.faults
    summary.faults[name] = (summary.faults[name] or 0) + faults
    nominal = nominal or ys[1]
    mean_x = mean_x or xs
    for i = 1, #xs do mean_y[i] = (mean_y[i] or 0) + ys[i] / cfg.seeds end
  end
  local target = cfg.target_frac * nominal
  local reached = json.null
  for i = 1, #mean_y do
    if mean_y[i] <= target then
      reached = mean_x[i]
      break
    end
  end
  summary.data_seconds_to_target[name] = reached
  summary.final_cost_mean[name] = mean_y[#mean_y]
  series[#series + 1] = { x = mean_x, y = mean_y, label = name }
end
summary.nominal_cost = nominal
summary.target_cost = cfg.target_frac * nominal
run:summary(summary)
series[#series + 1] = { x = { 0, cfg.budget }, y = { summary.target_cost, summary.target_cost },
                        label = "target", style = "dashed" }
local plot = run:plot { file = "cost_vs_data.png", logy = true,
  title = ("car figure-eight (gamma = %g): mean cost over %d seeds"):format(cfg.gamma, cfg.seeds),
  xlabel = "plant data used by the updates (s)", ylabel = "cost J of the current policy (plant)",
  series = series }

print()
print(("estimators on the car (gamma = %g, %d seeds, budget %g s of plant data each)")
  :format(cfg.gamma, cfg.seeds, cfg.budget))
print(("target: cost <= %.1f (%g x the nominal tracker's %.1f)"):format(summary.target_cost,
  cfg.target_frac, nominal))
print(("  %-12s %24s %22s %8s"):format("estimator", "plant seconds to target", "final mean cost",
  "faults"))
for _, name in ipairs(cfg.estimators) do
  local r = summary.data_seconds_to_target[name]
  local faults = summary.faults[name]
  -- a rollout the safety filter took over measures the filter, not the policy
  print(("  %-12s %24s %22s %8d"):format(name, r == json.null and "never" or ("%.1f"):format(r),
    faults > 0 and "invalid" or ("%.1f"):format(summary.final_cost_mean[name]), faults))
  if faults > 0 then
    io.stderr:write(("estimators: warning: %s faulted on %d ticks (NaN or safety takeover); its "
      .. "costs are not the policy's\n"):format(name, faults))
  end
end
print("run: " .. run.dir)
if plot then print("plot: " .. plot) end
run:close()
