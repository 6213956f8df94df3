-- quadruped.lua: a Unitree-class quadruped commanded through its own walking controller, 10 Hz:
-- the velocity-command level (robots/quadruped_joint.lua is the joint level; docs/quadruped.md).
--
-- Method 1's quadruped (docs/methods.md): the high level sends a forward speed and a turn rate
-- to the robot's walking controller, so the approximate model is a velocity-input unicycle. Two
-- "real" robots: the model plant walks 18 % faster than commanded and drifts left at 0.1 rad/s
-- (the reference implementation's simulated robot); the mujoco plant is robots/quadruped.xml with
-- the walking controller (engine/ctrl/gait.h) running inside the plant every 1 ms physics step,
-- so the unicycle's mismatch is physical (gait dynamics, slip, lag). The same plant runs on the
-- robot side of `spinal bridge robots/quadruped.lua --backend mujoco`.
-- Copy this file for any robot you drive through velocity commands (a legged robot's walking
-- controller, a differential-drive base).

return {
  name = "quadruped",
  doc = "quadruped through its walking controller: velocity-input unicycle; method 1",

  state = { "px", "py", "phi" },  -- position (m), heading (rad)
  action = { "v", "w" },          -- forward speed (m/s), turn rate (rad/s)

  rate = 10,  -- the high-level rate; the walking controller runs its own faster loop

  model = {
    name = "unicycle_vel",
    params = { k_v = 1, b_w = 0 },  -- the nominal model: the robot does what it is told
    integrator = "euler",           -- the paper's discrete model
  },

  controller = {
    kind = "tracker",
    variant = "quadruped",
    gains = { kx = 0.2, ky = 0.2, kv = 0.95, kphi = 2.5, ka = 0, kw = 0 },
  },

  limits = {
    -- |v| <= 1.25 m/s, |w| <= 3 rad/s: headroom above a 1 m/s path for the tracker's feedback
    -- and for robots slower than commanded (weaker motors, more joint damping)
    action = { 1.25, 3 },
  },

  safety = {
    safe_command = { 0, 0 },  -- stand still (held, or before the first state)
    -- on a fault (e-stop, watchdog, NaN) the mujoco plant's walking controller sits the robot
    -- down (a damped sit-down, not zero torque); "hold" keeps the loop stepping it while it does
    on_fault = "hold",
    watchdog = 0.3,           -- three ticks
  },

  plants = {
    -- the simulated "real" robot: v = 1.18 u1, dphi/dt = u2 + 0.1
    model = {
      name = "unicycle_vel",
      params = { k_v = 1.18, b_w = 0.1 },
      integrator = "rk4",
      substeps = 4,
    },
    -- the MuJoCo quadruped walking under its own controller: (v, w) -> the gait's (vx, wz)
    mujoco = {
      mjcf = "quadruped.xml",
      keyframe = "stand",
      state = {
        px = { body_pos = "trunk", index = 1 },
        py = { body_pos = "trunk", index = 2 },
        phi = { body_yaw = "trunk" },
      },
      actuators = { v = "vx", w = "wz" },  -- the gait's command entries (vy stays 0)
      -- every physics step (1 kHz); its forward speed limit matches limits.action (it walks at
      -- 1.2 m/s; docs/quadruped.md)
      lowlevel = { kind = "gait", params = { vx_max = 1.25 } },
      -- the "real" variants (docs/quadruped.md): e.g. perturb = { payload = 2, friction = 0.6 }
    },
    -- the robot's walking controller behind a spinal UDP gateway
    udp = { address = "192.168.123.161", port = 9870 },
  },
}
