-- cartpole_rbd.lua: the cart-pole of cartpole.xml, with its approximate model built from the same
-- MJCF (spinal.rbd, docs/rbd.md) and made deliberately wrong, balanced upright by LQR, 100 Hz.
--
-- The "real" system is MuJoCo on cartpole.xml (or the rigid-body model with the file's own
-- parameters); the controller is designed on a tree whose pole is 30 % lighter and whose cart has
-- no rail friction. Copy this file for any MJCF robot: load its tree, register it under a name,
-- perturb what you do not trust, and point model.name at it.
local rbd = require "spinal.rbd"
local model_lib = require "spinal.model"

-- the MJCF next to this file
local dir = debug.getinfo(1, "S").source:match "^@(.*)/[^/]*$" or "."
local mjcf = dir .. "/cartpole.xml"

-- one registered tree class per process (robot files may be loaded several times)
if not model_lib.info "cartpole_rbd" then
  assert(rbd.load_mjcf(mjcf)):register "cartpole_rbd"
end
local real = model_lib.info("cartpole_rbd").defaults

return {
  name = "cartpole_rbd",
  doc = "cart-pole from cartpole.xml: rigid-body model (wrong pole mass), upright LQR",

  -- cart position (m), pole angle from upright (rad), their rates; the cart force command
  state = { "x", "th", "v", "w" },
  action = { "push" },  -- ctrl in [-1, 1], 10 N per unit (the motor's gear)

  rate = 100,

  model = {
    name = "cartpole_rbd",
    params = { ["pole.mass"] = 0.7 * real["pole.mass"], ["cart.damping"] = 0 },
    integrator = "rk4",
  },

  controller = {
    kind = "lqr",
    x_eq = { 0, 0, 0, 0 },
    u_eq = { 0 },
    design = { Q = { 10, 50, 1, 1 }, R = { 1 }, method = "discrete" },
  },

  limits = { action = { 1 } },

  safety = { safe_command = { 0 }, on_fault = "stop", watchdog = 0.05 },

  plants = {
    model = { name = "cartpole_rbd", params = real, integrator = "rk4" },
    mujoco = {
      mjcf = "cartpole.xml",
      state = {
        x = { qpos = "slider" },
        th = { qpos = "hinge" },
        v = { qvel = "slider" },
        w = { qvel = "hinge" },
      },
      actuators = { push = "push" },
    },
  },
}
