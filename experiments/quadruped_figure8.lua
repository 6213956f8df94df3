-- quadruped_figure8.lua: method 1's quadruped experiment (docs/methods.md, "Quadruped";
-- Westenbroek et al., arXiv 2307.08168, and its reference implementation's quadruped setup):
-- learn a figure-eight on top of the robot's own walking controller from ten minutes of walking.
--
-- The robot is robots/quadruped.lua at its velocity-command level: the policy sends a forward
-- speed and a turn rate at 10 Hz to the walking controller, which runs inside the plant. The
-- approximate model is the velocity-input unicycle (x+ = x + u1 cos(phi) dt, y+ = ...,
-- phi+ = phi + u2 dt); the policy is the paper's tracker (kx = ky = 0.2, kv = 0.95, kphi = 2.5,
-- |v| <= 1.25 m/s here, |w| <= 3 rad/s) under a 64-64 tanh network whose zero-initialised last
-- layer gives x/y set-point corrections (scale 1 m) and corrections of the six gains
-- (gain_scale), so iteration 0 is exactly the nominal tracker. The task is the two-circle figure-eight of radius
-- R at `speed` (period T = 4 pi R / speed); each iteration is one rollout of `laps` periods
-- through the HAL, the feedback estimate along it and one optimiser step; a last rollout
-- evaluates the learned policy. The first quarter lap of each rollout is not scored (the
-- reference implementation drops its first 10 of 40 segments).
--
-- The default speed is 0.98 m/s, not the paper's 0.5 m/s: the MuJoCo robot's walking controller
-- follows (v, w) commands closely (experiments/quadruped_walk.lua), so the velocity unicycle is a
-- good model of it and the nominal tracker's mean radial error is only 2-5 cm at 0.3-1 m/s; it is
-- largest near 1 m/s (README, "The quadruped", has the figures). The path stays under 1 m/s so that
-- every documented "real" robot can walk it: the weakest (motor=0.8) reaches about 0.94 m/s when
-- commanded 1 m/s, and the robot file's 1.25 m/s command limit leaves the tracker room above the
-- path's speed. speed=0.5 gives the paper's setting (T = 37.7 s, about 60 s per rollout).
--
--   spinal experiments/quadruped_figure8.lua [speed=0.98] [radius=1.5] [laps=1.6] [iters=10]
--                                            [optim=gn] [lr=0.003] [trust=0.1] [trust_max=0.2]
--                                            [seed=1] [segment=0] [hidden=64,64]
--                                            [gain_scale=0.25,0.25,0.25,1,0.25,0.35]
--                                            [plant=mujoco] [out=DIR] [resume=DIR] [quick=true]
--                                            [payload=KG] [payload_x=M] [payload_y=M]
--                                            [friction=X] [motor=X] [pd=X] [damping=X]
--                                            [frictionloss=X] [latency=S] [noise=STD]
--                                            [push=NS] [push_time=S] [fall_height=0.15]
-- plant= is the robot file's plant section (mujoco, the default: the MuJoCo quadruped and its
-- walking controller; model: the unicycle stand-in with a speed gain of 1.18 and a turn bias of
-- 0.1 rad/s, which runs in a second) or a HAL address (udp://host:port: a robot behind `spinal bridge`). The "real" perturbations
-- (payload= ... push_time=, docs/quadruped.md) are copied by name into the plant's `perturb`
-- table; a plant without them (model, udp) refuses them. quick=true is the CTest budget: 2
-- iterations of half a lap unless iters= or laps= say otherwise. resume=DIR continues an
-- interrupted run from its checkpoint. optim=gn (the default) takes Gauss-Newton trust-region
-- steps on the unicycle's Jacobians; optim=adam (lr) is the reference implementation's kind of
-- first-order step, which wanders about a floor (1.3 cm on the defaults) on this robot (README).
-- Writes runs/quadruped_figure8/<time>/ (or out=DIR) with the car experiments' files
-- (settings.json, metrics.csv, policy.ckpt, summary.json, nominal and learned trajectories,
-- radial_error.png, cost.png, path.png). summary.json: nominal_radial_error_m,
-- learned_radial_error_m (mean |distance to the active circle's centre - R| after the first
-- quarter lap), data_seconds, iters, seed, speed, radius, period, laps, falls (rollouts in which
-- the robot fell, over all iters + 1), falls_per_iter, costs and radial_errors_m (iters + 1
-- values: [1] the nominal tracker, [iters + 1] the learned policy), faults, every perturbation's
-- value and `perturbations` (the names applied).
local sp = require "spinal"
local F = require "spinal.figure8"
local perturb = require "spinal.perturb"

local cfg = sp.settings(perturb.defaults {
  speed = 0.98,       -- m/s along the figure-eight (the paper's 0.5: see above)
  radius = 1.5,       -- m, each circle
  laps = 1.6,         -- periods of plant data per iteration
  iters = 10,
  optim = "gn",       -- gn (Gauss-Newton, trust region on the action change), adam or sgd
  lr = 3e-3,          -- adam, sgd
  trust = 0.1,        -- gn: initial trust radius, RMS action change on the recorded states
  trust_max = 0.2,    -- gn: largest trust radius
  seed = 1,           -- the network's initialisation
  segment = 0,        -- feedback truncation in control steps (0: full horizon)
  hidden = { 64, 64 },
  -- scales of the corrections of kx, ky, kv, kphi, ka, kw (0 leaves that gain alone)
  gain_scale = { 0.25, 0.25, 0.25, 1, 0.25, 0.35 },
  robot = "robots/quadruped.lua",
  plant = "mujoco",   -- the robot file's plant section, or a HAL address (udp://host:port)
  out = "",           -- write the run here instead of runs/quadruped_figure8/<time>/
  resume = "",        -- a run directory: continue that run from its last checkpoint
  quick = false,      -- the CTest budget: 2 iterations of half a lap
  fall_height = 0.15, -- m: a trunk below this height has fallen (robots that report it)
})

if cfg.quick then
  sp.settings.fill(cfg, { iters = 2, laps = 0.5 })
end

F.experiment("quadruped_figure8", cfg, { variant = "quadruped" })
