-- car_mujoco.lua: method 1 on the MuJoCo car (robots/rc_car.xml through the HAL's mujoco
-- backend): the same learning as car_figure8.lua, but the "real" car is now a rigid-body
-- simulation with tyres on soft contacts, a lagged motor with losses, an open differential and
-- Ackermann steering through a position servo, none of which the approximate model (car_drag,
-- docs/methods.md's simulated car with every parameter scaled by gamma) describes.
--
--   spinal experiments/car_mujoco.lua [gamma=0.5] [radius=1.5] [period=5.5] [iters=15]
--                                     [optim=gn] [trust=0.1] [trust_max=0.2] [fit=true] [lr=0.003]
--                                     [seed=1] [seconds=21.5]
--                                     [segment=0] [hidden=64,64] [plant=mujoco] [out=DIR]
--                                     [resume=DIR]
-- Writes runs/car_mujoco/<time>/ (or out=DIR) with the same files and summary keys as
-- car_figure8.lua (nominal_radial_error_m, learned_radial_error_m, data_seconds, iters, seed,
-- gamma, radius, period, costs, faults, learned_valid), plus plant = "mujoco"; policy.ckpt and
-- resume=DIR as car_figure8.lua.
local sp = require "spinal"
local F = require "spinal.figure8"

local cfg = sp.settings {
  gamma = 0.5,        -- approximate model = gamma x docs/methods.md's simulated car parameters
  radius = 1.5,       -- m
  period = 5.5,       -- s per lap
  seconds = 21.5,     -- s of plant data per iteration
  iters = 15,
  optim = "gn",       -- gn (Gauss-Newton, trust region on the action change), adam or sgd
  trust = 0.1,        -- gn: initial trust radius, RMS action change on the recorded states
  trust_max = 0.2,    -- gn: largest trust radius
  fit = true,         -- gn: refit the model's parameters to each rollout before its step
  lr = 3e-3,          -- adam, sgd
  seed = 1,
  segment = 0,
  hidden = { 64, 64 },
  robot = "robots/rc_car.lua",
  plant = "mujoco",   -- the robot file's plant section, or a HAL address (udp://host:port)
  out = "",
  resume = "",        -- a run directory: continue that run from its last checkpoint
}

F.experiment("car_mujoco", cfg)
