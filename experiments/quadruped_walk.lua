-- quadruped_walk.lua: how well the MuJoCo quadruped's walking controller follows velocity
-- commands (docs/quadruped.md): a schedule of body-velocity commands (vx forward, vy left, wz
-- yaw rate; steps and ramps: forward 0 to 1 m/s, lateral +-0.3 m/s, yaw rates up to 1 rad/s,
-- turning while walking) sent through the HAL to robots/quadruped.lua's MuJoCo plant, whose gait
-- controller runs inside the plant at the physics rate.
--
--   spinal experiments/quadruped_walk.lua [hold=5] [settle=1] [rate=100] [schedule=default]
--                                         [plant=mujoco] [seed=1] [out=DIR] [quick=true]
--                                         [payload=KG] [friction=X] [motor=X] ... [push=NS]
-- hold: seconds per step command (ramps take two); settle: seconds of each step left out of its
-- error (the controller's transient); rate: Hz at which commands are sent and the robot measured
-- (the gait controller runs at the physics rate whatever it is). quick=true is the CTest budget
-- (hold=1.5 unless given). The "real" perturbations (payload= ... push_time=, as
-- quadruped_figure8.lua) are copied into the plant's `perturb` table.
--
-- The report measures what the robot file's state does not carry: the run directory gets
-- walk.xml, the robot's MJCF plus sensors (per foot its position and velocities, per motor its
-- force, per joint its velocity; sensors do not change the dynamics), and the plant simulates it.
-- Writes runs/quadruped_walk/<time>/ (or out=DIR): settings.json, walk.xml, walk_{X,U,t}.npy and
-- walk.json (commanded and measured, per sample), walk_qpos.npy (MuJoCo's configuration per
-- sample: `spinal render DIR` makes a video of the walk), segments.csv (per command: mean command, mean
-- achieved, mean absolute error), velocity_vx.png, velocity_vy.png, velocity_wz.png (commanded vs
-- achieved) and summary.json: mean_abs_error_vx/_vy/_wz (m/s, m/s, rad/s: the mean over commands
-- of each command's mean absolute error), falls (0 or 1), fell_at_s, slip_speed_mps (mean sliding
-- speed of feet in contact), slip_share (contact samples sliding faster than 0.1 m/s),
-- cost_of_transport (sum |torque x joint speed| dt / (m g distance) while translating),
-- energy_j, distance_m, mass_kg, seconds, and per command the lists segment_labels,
-- segment_error_vx/_vy/_wz, plus every perturbation's value and `perturbations`.
local sp = require "spinal"
local W = require "spinal.walk"
local perturb = require "spinal.perturb"

local cfg = sp.settings(perturb.defaults {
  schedule = "default",
  hold = 5.0,           -- s per step command (ramps take two)
  settle = 1.0,         -- s of each step left out of its error
  rate = 100,           -- Hz: commands sent and the robot measured
  seed = 1,             -- the plant's noise streams (noise= perturbation)
  robot = "robots/quadruped.lua",
  plant = "mujoco",     -- the robot file's MuJoCo plant section
  out = "",
  quick = false,        -- the CTest budget: hold=1.5
  fall_height = 0.15,   -- m: a trunk below this height has fallen
  contact_margin = 0.0, -- m: a foot whose centre is below radius + this touches the ground
  foot_radius = 0.02,   -- m: the feet's spheres (robots/quadruped.xml)
})
if cfg.quick then sp.settings.fill(cfg, { hold = 1.5 }) end
W.experiment("quadruped_walk", cfg)
