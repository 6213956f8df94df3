-- double_pendulum.lua: an actuated double pendulum balanced upright by LQR, 100 Hz.
--
-- Method 1's feedback ablation (docs/methods.md, "Double pendulum"): point masses m = 0.1 kg at the
-- ends of links l = 1 m, gravity g = 1, dt = 0.01 s. The approximate model is deliberately wrong:
-- masses x0.7 and lengths x0.9 of the "real" pendulum that the model plant simulates.
-- Copy this file for any system balanced about an equilibrium by LQR (cart-pole, pendulum, ...):
-- change the model, the equilibrium and the weights, then run `spinal check` on your file.

-- the "real" pendulum, and the mismatch of the model the controller is designed on
local real = { m1 = 0.1, m2 = 0.1, l1 = 1.0, l2 = 1.0, g = 1.0 }
local mass_scale, length_scale = 0.7, 0.9

return {
  name = "double_pendulum",
  doc = "double pendulum, joint torques, upright LQR; method 1's feedback ablation",

  -- joint angles from upright (th2 relative to link 1), their rates, and the two joint torques
  state = { "th1", "th2", "w1", "w2" },
  action = { "tau1", "tau2" },

  rate = 100,  -- dt = 0.01 s

  model = {
    name = "double_pendulum",
    params = { m1 = mass_scale * real.m1, m2 = mass_scale * real.m2,
               l1 = length_scale * real.l1, l2 = length_scale * real.l2, g = real.g },
    integrator = "rk4",
  },

  -- LQR designed on the model, linearised at the upright equilibrium (x = 0, u = 0).
  -- method = "discrete" solves the DARE on the model's exact step Jacobians. A continuous-time
  -- design (method = "continuous") with these weights is unstable on this lighter model at
  -- dt = 0.01 (discrete closed-loop eigenvalue near -2.3): `spinal check` reports it.
  controller = {
    kind = "lqr",
    x_eq = { 0, 0, 0, 0 },       -- the set point: u = u_eq - K (x - x_eq)
    u_eq = { 0, 0 },
    design = {
      Q = { 250, 250, 10, 10 },  -- a list: the diagonal; a list of rows: the full matrix
      R = { 1, 1 },
      method = "discrete",
    },
  },

  limits = {
    action = { 30, 30 },  -- N m; the LQR asks for up to about 26 from the ablation's start
                          -- (th1 = 5 pi / 8); no rate limits (limits.rate omitted)
  },

  safety = {
    safe_command = { 0, 0 },  -- stop driving the joints: the pendulum falls and hangs
    on_fault = "stop",
    watchdog = 0.05,          -- five ticks
  },

  plants = {
    model = {
      name = "double_pendulum",
      params = real,
      integrator = "rk4",
      substeps = 4,
      x0 = { 5 * math.pi / 8, 0, 0, 0 },  -- the ablation's start
    },
  },
}
