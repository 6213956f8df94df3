-- car_figure8.lua: method 1 on the simulated car (METHODS.md, "Car"; Westenbroek et al., arXiv
-- 2307.08168): learn a figure-eight from a few minutes of plant data with an approximate model
-- whose every parameter is off by a factor gamma.
--
-- Each iteration rolls the policy out for ~21.5 s on the plant (robots/rc_car.lua's `model`
-- plant, through the HAL), evaluates the feedback estimator (model Jacobians along the recorded
-- trajectory) and takes one optimiser step. Iteration 0 is exactly the nominal tracker (the
-- network's last layer starts at zero); a last rollout evaluates the learned policy.
--
--   spinal experiments/car_figure8.lua [gamma=0.5] [radius=1.5] [period=5.5] [iters=15]
--                                      [lr=0.003] [optim=adam] [seed=1] [seconds=21.5]
--                                      [segment=0] [hidden=64,64] [out=DIR]
-- Writes runs/car_figure8/<time>/ (or out=DIR): settings.json, metrics.csv, summary.json,
-- radial_error.png, cost.png, path.png and the nominal and learned trajectories (NPY).
-- summary.json: nominal_radial_error_m, learned_radial_error_m (mean |distance to the active
-- circle's centre - R| after the first lap), data_seconds (plant time the updates used; the
-- evaluation rollout is eval_seconds), iters, seed, gamma, radius, period, and costs /
-- radial_errors_m: iters + 1 values, [1] the nominal tracker, [iters + 1] the learned policy.
local sp = require "spinal"
local F = require "spinal.figure8"

local cfg = sp.settings {
  gamma = 0.5,        -- approximate model = gamma x the car's true parameters
  radius = 1.5,       -- m
  period = 5.5,       -- s per lap
  seconds = 21.5,     -- s of plant data per iteration
  iters = 15,
  lr = 3e-3,          -- Adam; plain SGD at the reference lr 6e-3 diverges under this cost scale
  optim = "adam",
  seed = 1,           -- the network's initialisation
  segment = 0,        -- feedback truncation in control steps (0: full horizon; reference: 7)
  hidden = { 64, 64 },
  robot = "robots/rc_car.lua",
  out = "",           -- write the run here instead of runs/car_figure8/<time>/
}

local run = sp.run.start { name = "car_figure8", settings = cfg }
local car = F.setup(cfg)
local progress = sp.progress { total = cfg.iters + 1, label = "car_figure8" }
local result = F.learn(car, {
  iters = cfg.iters, lr = cfg.lr, optim = cfg.optim,
  on_iter = function(it, row)
    run:log(row)
    progress:update(it + 1, { cost = row.cost, radial_m = row.radial_error_m })
  end,
})
progress:done()

local nominal, learned = result.errors[1], result.errors[#result.errors]
run:save_traj("nominal", result.first)
run:save_traj("learned", result.last)
run:summary {
  nominal_radial_error_m = nominal,
  learned_radial_error_m = learned,
  reduction = nominal / learned,
  nominal_cost = result.costs[1],
  learned_cost = result.costs[#result.costs],
  data_seconds = result.data_seconds,
  eval_seconds = result.last.data_seconds,
  iters = cfg.iters,
  seed = cfg.seed,
  gamma = cfg.gamma,
  radius = cfg.radius,
  period = cfg.period,
  lr = cfg.lr,
  optim = cfg.optim,
  costs = result.costs,
  radial_errors_m = result.errors,
}

-- plots
local its = {}
for i = 1, #result.costs do its[i] = i - 1 end
local p1 = run:plot { file = "radial_error.png", title = ("car figure-eight, gamma = %g: mean "
  .. "radial error"):format(cfg.gamma), xlabel = "iteration (0 = nominal tracker)",
  ylabel = "mean |r - R| after lap 1 (m)",
  series = { { x = its, y = result.errors, label = "learned policy" },
             { x = { 0, cfg.iters }, y = { nominal, nominal }, label = "nominal tracker",
               style = "dashed" } } }
run:plot { file = "cost.png", title = "car figure-eight: cost per iteration", logy = true,
  xlabel = "iteration (0 = nominal tracker)", ylabel = "cost J (plant)",
  series = { { x = its, y = result.costs, label = "J" } } }
local rx, ry = car:reference_path()
local nx, ny = car:path(result.first)
local lx, ly = car:path(result.last)
local p3 = run:plot { file = "path.png", square = true, key = "below", height = 560,
  title = ("car path after lap 1 (R = %g m, T = %g s)"):format(cfg.radius, cfg.period),
  xlabel = "x (m)", ylabel = "y (m)",
  series = { { x = rx, y = ry, label = "reference", style = "dashed" },
             { x = nx, y = ny, label = "nominal", style = "lines" },
             { x = lx, y = ly, label = ("learned (%d iterations)"):format(cfg.iters),
               style = "lines" } } }

-- the before/after table
print()
print(("car figure-eight, R = %g m, T = %g s; approximate model: every car parameter x %g")
  :format(cfg.radius, cfg.period, cfg.gamma))
print(("%d iterations x %g s = %.1f s of plant data; %s lr %g; seed %d"):format(cfg.iters,
  cfg.seconds, result.data_seconds, cfg.optim, cfg.lr, cfg.seed))
print(("  %-22s %18s %12s"):format("", "radial error (m)", "cost"))
print(("  %-22s %18.3f %12.1f"):format("nominal tracker", nominal, result.costs[1]))
print(("  %-22s %18.3f %12.1f"):format("learned policy", learned, result.costs[#result.costs]))
print(("  %-22s %17.1fx %11.1fx"):format("reduction", nominal / learned,
  result.costs[1] / result.costs[#result.costs]))
print("run: " .. run.dir)
if p1 then
  print("plots: " .. p1)
  print("       " .. (p3 or ""))
  print("       " .. run:path "cost.png")
end
run:close()
