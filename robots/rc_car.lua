-- rc_car.lua: a 1/10-scale RC car (method 1's car, NVIDIA JetRacer class), driven at 50 Hz.
--
-- A robot file is plain Lua returning one table. Copy this file to describe your own car: change
-- the names, the limits and the plant sections, then run `spinal check robots/my_car.lua`.
-- docs/robots.md describes every field; docs/methods.md (method 1, "Car") is where the numbers
-- are from.
--
-- Which approximate model? The classic description of this car is the acceleration-input
-- unicycle (model `unicycle_accel`: v' = u1, phi' = v u2). The experiments of method 1 instead
-- give the controller and the gradient estimator the same structure as the real car, drag and
-- steering bias included, with EVERY parameter scaled by a mismatch factor gamma (0.5 by
-- default; the mismatch study sweeps 1, 0.75, 0.5, 0.25). We follow the experiments: with unit
-- gains the plain unicycle badly underestimates how hard the car turns and accelerates, and the
-- default tracker gains cannot hold the figure-eight on it. To use the classic model instead:
--     model = { name = "unicycle_accel", integrator = "euler" },
-- (with the Euler integrator it is exactly the paper's discrete car model).

local gamma = 0.5  -- model mismatch: the approximate model's parameters are gamma x the car's

-- the "real" car of docs/methods.md: dv/dt = 11.25 u1 - 0.55 v|v|, dphi/dt = (6.5 u2 + 0.1) v
local car = { k_a = 11.25, c_d = 0.55, k_s = 6.5, b_s = 0.1 }

return {
  name = "rc_car",
  doc = "1/10 RC car, accel-input unicycle with drag; method 1 (arXiv 2307.08168)",

  -- the state and action vectors, in order; every list below follows this order
  state = { "px", "py", "v", "phi" },  -- position (m), forward speed (m/s), heading (rad)
  action = { "throttle", "steer" },    -- throttle (accel command), steer (curvature command)

  rate = 50,  -- control rate (Hz): one tick = 0.02 s

  -- the approximate model: what the controller is designed on and what the gradient estimator
  -- differentiates. Any registered model (spinal.model.list()), parameters by name.
  model = {
    name = "car_drag",
    params = { k_a = gamma * car.k_a, c_d = gamma * car.c_d, k_s = gamma * car.k_s,
               b_s = gamma * car.b_s },
    integrator = "euler",  -- the reference implementation's discrete model
    substeps = 1,
  },

  -- the default low-level controller: method 1's cascaded velocity-field tracker
  controller = {
    kind = "tracker",
    variant = "car",
    gains = { kx = 0.45, ky = 0.45, kv = 0.35, kphi = 0.35, ka = 0, kw = 0 },
    -- its clamps default to limits.action below (throttle +-0.75, steer +-1)
  },

  limits = {
    action = { 0.75, 1.0 },  -- |throttle| <= 0.75, |steer| <= 1 (a { lo, hi } pair also works)
    rate = { 15, 25 },       -- |d throttle/dt| <= 15 /s, |d steer/dt| <= 25 /s: generous, they
                             -- only catch a command that jumps across its range in one tick
  },

  safety = {
    safe_command = { 0, 0 },  -- coast straight: drag stops the car
    on_fault = "stop",        -- stop the loop on a fault ("hold": keep it running, held safe)
    watchdog = 0.1,           -- seconds without a new state before the safe command goes out
  },

  -- where the car can come from: `spinal repl robots/rc_car.lua --hal mujoco` etc.
  plants = {
    -- the simulated "real" car: its own (true) parameters, integrated finely
    model = {
      name = "car_drag",
      params = car,
      integrator = "rk4",
      substeps = 4,
      x0 = { 0, 0, 0, 0 },      -- start at the centre of the figure-eight, at rest
      process_noise = 0,        -- std added to the state each tick (a number: every entry)
      sensor_noise = 0,         -- std added to what the plant reports
      delay = 0,                -- actuation delay in ticks
    },

    -- the MuJoCo car (robots/rc_car.xml, relative to this file). The state comes from the
    -- chassis free joint and a velocimeter; the commands drive the named actuators.
    mujoco = {
      mjcf = "rc_car.xml",
      state = {
        px = { qpos = "chassis", index = 1 },   -- free joint qpos: x y z qw qx qy qz
        py = { qpos = "chassis", index = 2 },
        v = { sensor = "chassis_vel", index = 1 },  -- velocimeter: body-frame x = forward speed
        phi = { yaw = "chassis" },              -- heading from the free joint's quaternion
      },
      actuators = {
        throttle = "throttle",  -- the rear-axle motor, ctrl in [-1, 1]
        -- the steering servo takes an angle in [-0.45, 0.45] rad. The model's steer is a
        -- curvature (phidot = v * steer); on a 0.32 m wheelbase a wheel angle delta gives
        -- curvature tan(delta) / 0.32 ~ 3 delta, so ~2 rad per unit keeps small commands
        -- comparable to method 1's car (full lock at |steer| ~ 0.22; the servo clamps beyond).
        -- With 0.45 the default tracker could not follow the figure-eight (mean radial error
        -- ~3 m on the MuJoCo car, against ~0.44 m with 2).
        steer = { actuator = "steer", scale = 2 },
      },
      -- substeps: MuJoCo steps per tick; omitted: 0.02 s / the MJCF's 2 ms timestep = 10
    },

    -- a real car (or `spinal bridge robots/rc_car.lua --listen 0.0.0.0:9870`) over UDP
    udp = { address = "127.0.0.1", port = 9870 },
  },
}
