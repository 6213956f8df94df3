-- mismatch_sweep.lua: how much model error method 1 tolerates (docs/methods.md, "Car": the mismatch
-- study). For each gamma (approximate model = gamma x every true car parameter) and each seed
-- (the network's initialisation), learn the figure-eight for `iters` iterations of one ~21.5 s
-- plant rollout and record the final cost: the cost of a last rollout of the learned policy.
--
--   spinal experiments/mismatch_sweep.lua [gammas=1,0.75,0.5,0.25] [seeds=10] [iters=24]
--                                         [optim=gn] [trust=0.1] [trust_max=0.2] [fit=true] [lr=0.003]
--                                         [radius=1.5] [period=5.5] [plant=model] [out=DIR]
--                                         [resume=DIR]
--   mpirun -np N spinal experiments/mismatch_sweep.lua ...   the runs split across N ranks, the
--                                         same files bit for bit (docs/distributed.md)
-- optim: gn (Gauss-Newton with a trust region on the RMS action change, starting at trust and
-- at most trust_max; docs/api/policy_grad.md), adam or sgd (step size lr). fit (gn): refit the
-- model's parameters to each rollout before its step; fit=false keeps the gamma-scaled model, the
-- only setting in which gamma measures a model error for gn.
-- Summary: final_cost_mean and final_cost_sd keyed by gamma ("0.5": ...), the same for the
-- radial error, and the nominal cost; plot: mean cost per iteration for each gamma. Each run's
-- result is kept in runs/ as it finishes: resume=DIR continues an interrupted sweep, skipping them.
local sp = require "spinal"
local F = require "spinal.figure8"

local cfg = sp.settings {
  gammas = { 1.0, 0.75, 0.5, 0.25 },
  seeds = 10,           -- seeds 1..seeds
  iters = 24,
  lr = 3e-3,            -- adam, sgd
  optim = "gn",
  trust = 0.1,          -- gn: initial trust radius (RMS action change on the recorded states)
  trust_max = 0.2,      -- gn: largest trust radius
  fit = true,           -- gn: refit the model's parameters to each rollout before its step
  radius = 1.5,
  period = 5.5,
  seconds = 21.5,
  hidden = { 64, 64 },
  robot = "robots/rc_car.lua",
  plant = "model",       -- the robot file's plant section, or a HAL address (udp://host:port)
  out = "",
  resume = "",           -- a run directory: continue that sweep, skipping the runs it holds
}

local function key(g) return ("%g"):format(g) end

local function mean_sd(xs)
  local m = 0
  for _, x in ipairs(xs) do m = m + x end
  m = m / #xs
  local v = 0
  for _, x in ipairs(xs) do v = v + (x - m) ^ 2 end
  return m, #xs > 1 and math.sqrt(v / (#xs - 1)) or 0
end

-- the runs, split across the ranks of an MPI job (docs/distributed.md): each (gamma, seed) is one
-- independent learning run, its result file in the run's runs/ directory (so resume= skips the
-- runs already written); rank 0 logs every run's rows in the single-process order, so the files
-- are the same, bit for bit, with any number of ranks
local mpi = sp.mpi
local resume = cfg.resume ~= "" and cfg.resume or nil
if resume then cfg = sp.run.resumed_settings(cfg) end
local run = sp.run.start { name = "mismatch_sweep", settings = cfg, resume = resume, shared = true }
local jobs = {}
for _, gamma in ipairs(cfg.gammas) do
  for seed = 1, cfg.seeds do jobs[#jobs + 1] = { gamma = gamma, seed = seed } end
end
local started = os.time()
local clock0 = os.clock()
local results = run:sweep(jobs, function(job)
  local gamma, seed = job.gamma, job.seed
  local car = F.setup { gamma = gamma, radius = cfg.radius, period = cfg.period,
                        seconds = cfg.seconds, hidden = cfg.hidden, seed = seed,
                        robot = cfg.robot, plant = cfg.plant, experiment = "mismatch_sweep",
                        fit = cfg.fit }
  local rows = {}
  local r = F.learn(car, {
    iters = cfg.iters, lr = cfg.lr, optim = cfg.optim, radius = cfg.trust,
    radius_max = cfg.trust_max,
    on_iter = function(it, row)
      rows[#rows + 1] = { gamma = gamma, seed = seed, iter = it, cost = row.cost,
                          radial_error_m = row.radial_error_m, faults = row.faults }
    end,
    on_step = function(_, opt)  -- the run's policy after every iteration
      run:save_policy(("policy_gamma%s_seed%d.ckpt"):format(key(gamma), seed), car.policy, opt)
    end,
  })
  return { rows = rows, costs = r.costs, errors = r.errors, faults = r.faults,
           rank = mpi.rank() }
end, {
  key = function(job) return ("gamma%s_seed%d"):format(key(job.gamma), job.seed) end,
  show = function(r) return { final_cost = r.costs[#r.costs] } end,
})
if not results then return end  -- rank 0 writes the run's files

local summary = { final_cost_mean = {}, final_cost_sd = {}, final_radial_error_mean_m = {},
                  final_radial_error_sd_m = {}, final_cost_max = {}, iters = cfg.iters,
                  seeds = cfg.seeds, gammas = cfg.gammas, optim = cfg.optim, fit = cfg.fit,
                  ranks = mpi.size(), runs_by_rank = {} }
local curves, faults = {}, 0
local j = 0
for _, gamma in ipairs(cfg.gammas) do
  local finals, errors, mean_curve = {}, {}, {}
  for _ = 1, cfg.seeds do
    j = j + 1
    local r = results[j]
    for _, row in ipairs(r.rows) do run:log(row) end
    summary.runs_by_rank[j] = r.rank
    for _, n in ipairs(r.faults) do faults = faults + n end
    finals[#finals + 1] = r.costs[#r.costs]
    errors[#errors + 1] = r.errors[#r.errors]
    for i, c in ipairs(r.costs) do mean_curve[i] = (mean_curve[i] or 0) + c / cfg.seeds end
    summary.nominal_cost = summary.nominal_cost or r.costs[1]
    summary.nominal_radial_error_m = summary.nominal_radial_error_m or r.errors[1]
  end
  local k = key(gamma)
  summary.final_cost_mean[k], summary.final_cost_sd[k] = mean_sd(finals)
  summary.final_cost_max[k] = math.max(table.unpack(finals))
  summary.final_radial_error_mean_m[k], summary.final_radial_error_sd_m[k] = mean_sd(errors)
  curves[#curves + 1] = { gamma = gamma, y = mean_curve }
end
summary.faults = faults
summary.wall_seconds = os.time() - started
summary.cpu_seconds = os.clock() - clock0
run:summary(summary)

local series = {}
for _, c in ipairs(curves) do
  local xs = {}
  for i = 1, #c.y do xs[i] = i - 1 end
  series[#series + 1] = { x = xs, y = c.y, label = "gamma = " .. key(c.gamma) }
end
local plot = run:plot { file = "cost.png", logy = true,
  title = ("car figure-eight: mean cost over %d seeds per model mismatch"):format(cfg.seeds),
  xlabel = "iteration (0 = nominal tracker)", ylabel = "cost J (plant)", series = series }

print()
print(("final cost after %d iterations of %s%s (%d seeds each; nominal tracker: cost %.1f, radial "
  .. "error %.3f m)"):format(cfg.iters, cfg.optim,
  cfg.optim == "gn" and (cfg.fit and " on the refitted model" or " on the model as given") or "",
  cfg.seeds, summary.nominal_cost,
  summary.nominal_radial_error_m))
print(("  %-8s %22s %10s %26s"):format("gamma", "final cost mean +- sd", "worst",
  "radial error (m) mean +- sd"))
for _, g in ipairs(cfg.gammas) do
  local k = key(g)
  print(("  %-8s %13.2f +- %-6.2f %10.2f %17.3f +- %-6.3f"):format(k, summary.final_cost_mean[k],
    summary.final_cost_sd[k], summary.final_cost_max[k], summary.final_radial_error_mean_m[k],
    summary.final_radial_error_sd_m[k]))
end
if faults > 0 then
  -- a rollout the safety filter took over measures the filter, not the policy
  io.stderr:write(("mismatch_sweep: warning: the policies faulted on %d ticks (NaN or safety "
    .. "takeover): the costs above include rollouts that are not the policies'\n"):format(faults))
  print(("  faults: %d ticks (see metrics.csv): the figures above are not valid"):format(faults))
end
print(("run: %s (%.0f s)"):format(run.dir, summary.cpu_seconds))
if plot then print("plot: " .. plot) end
run:close()
