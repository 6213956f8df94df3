-- car_figure8.lua: method 1 on the simulated car (docs/methods.md, "Car"; Westenbroek et al., arXiv
-- 2307.08168): learn a figure-eight from a few minutes of plant data with an approximate model
-- whose every parameter is off by a factor gamma.
--
-- Each iteration rolls the policy out for ~21.5 s on the plant (robots/rc_car.lua's `model`
-- plant, through the HAL), evaluates the feedback estimator (model Jacobians along the recorded
-- trajectory) and takes one optimiser step. Iteration 0 is exactly the nominal tracker (the
-- network's last layer starts at zero); a last rollout evaluates the learned policy.
--
--   spinal experiments/car_figure8.lua [gamma=0.5] [radius=1.5] [period=5.5] [iters=15]
--                                      [optim=gn] [trust=0.1] [trust_max=0.2] [fit=true] [lr=0.003]
--                                      [seed=1] [seconds=21.5]
--                                      [segment=0] [hidden=64,64] [plant=model] [out=DIR]
--                                      [resume=DIR]
-- plant= is the robot file's plant section or any HAL address (udp://127.0.0.1:9870: a robot
-- behind `spinal bridge`); resume=DIR continues an interrupted run from its checkpoint, bitwise
-- as if never stopped (the checkpoint holds gn's trust region, or adam's moments).
-- Writes runs/car_figure8/<time>/ (or out=DIR): settings.json, metrics.csv, summary.json,
-- policy.ckpt (the policy and optimiser state, after every iteration), radial_error.png,
-- cost.png, path.png and the nominal and learned trajectories (NPY, with a JSON sidecar naming
-- the columns). Faulted rollouts (NaN, safety takeover) are counted and their metrics marked
-- invalid (nominal_valid, learned_valid, faults).
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
  optim = "gn",       -- gn (Gauss-Newton, trust region on the action change), adam or sgd
  trust = 0.1,        -- gn: initial trust radius, RMS action change on the recorded states
  trust_max = 0.2,    -- gn: largest trust radius
  fit = true,         -- gn: refit the model's parameters to each rollout before its step
  lr = 3e-3,          -- adam, sgd; plain SGD at the reference lr 6e-3 diverges under this scale
  seed = 1,           -- the network's initialisation
  segment = 0,        -- feedback truncation in control steps (0: full horizon; reference: 7)
  hidden = { 64, 64 },
  robot = "robots/rc_car.lua",
  plant = "model",    -- the robot file's plant section, or a HAL address (udp://host:port)
  out = "",           -- write the run here instead of runs/car_figure8/<time>/
  resume = "",        -- a run directory: continue that run from its last checkpoint
}

F.experiment("car_figure8", cfg)
