-- quadruped_joint.lua: the quadruped of robots/quadruped.xml at the joint level, 50 Hz: the
-- action is 12 joint position targets that a joint PD tracks inside the plant every 1 ms physics
-- step (method 2's interface: a policy at 50 Hz over a 1 kHz joint PD; docs/quadruped.md).
-- robots/quadruped.lua is the same robot at the velocity-command level.
--
-- The state is MuJoCo's qpos (trunk position, quaternion, 12 joints) and qvel (trunk linear and
-- angular velocity, 12 joints): 37 entries. The approximate model is the rigid-body tree of the
-- same MJCF (spinal.rbd) with torque inputs: it does not contain the PD, so it is a description
-- of the body for learned models (method 2 learns its own world model), not a model of this
-- action. On a fault the PD switches to its safe mode: joint damping, a damped sit-down.
local rbd = require "spinal.rbd"
local model_lib = require "spinal.model"

local dir = debug.getinfo(1, "S").source:match "^@(.*)/[^/]*$" or "."
if not model_lib.info "quadruped_rbd" then
  assert(rbd.load_mjcf(dir .. "/quadruped.xml")):register "quadruped_rbd"
end

local legs, joints = { "FR", "FL", "RR", "RL" }, { "abd", "hip", "knee" }
local action, actuators, lo_hi, stand = {}, {}, {}, {}
local range = { abd = { -0.86, 0.86 }, hip = { -0.69, 4.5 }, knee = { -2.82, -0.89 } }
local pose = { abd = 0, hip = 0.9, knee = -1.8 }
local lying = { abd = 0, hip = 1.35, knee = -2.7 }  -- quadruped.xml's "lying" keyframe
local sit = {}
for _, l in ipairs(legs) do
  for _, j in ipairs(joints) do
    local n = l .. "_" .. j
    action[#action + 1] = n
    actuators[n] = n  -- joint_pd's command entry for actuator n: its joint's position target
    lo_hi[#lo_hi + 1] = range[j]
    stand[#stand + 1] = pose[j]
    sit[#sit + 1] = lying[j]
  end
end

local q_names = { "x", "y", "z", "qw", "qx", "qy", "qz" }
local v_names = { "vx", "vy", "vz", "wx", "wy", "wz" }
local state, sources = {}, {}
for i, n in ipairs(q_names) do
  state[#state + 1] = n
  sources[n] = { qpos = "root", index = i }
end
for _, n in ipairs(action) do
  state[#state + 1] = "q_" .. n
  sources["q_" .. n] = { qpos = n }
end
for i, n in ipairs(v_names) do
  state[#state + 1] = n
  sources[n] = { qvel = "root", index = i }
end
for _, n in ipairs(action) do
  state[#state + 1] = "qd_" .. n
  sources["qd_" .. n] = { qvel = n }
end

return {
  name = "quadruped_joint",
  doc = "quadruped at the joint level: 12 joint targets, joint PD at 1 kHz inside the plant; method 2",

  state = state,
  action = action,
  rate = 50,

  model = { name = "quadruped_rbd", integrator = "euler", substeps = 20 },

  limits = { action = lo_hi },

  safety = {
    safe_command = stand,  -- the standing pose (held, or before the first state)
    on_fault = "hold",     -- a fault puts the PD in its safe mode (damping): it sits down
    watchdog = 0.1,
  },

  plants = {
    mujoco = {
      mjcf = "quadruped.xml",
      keyframe = "stand",
      state = sources,
      actuators = actuators,
      lowlevel = {
        kind = "joint_pd",
        -- N m / rad, N m s / rad; the safe mode: a soft, damped PD to the lying posture
        params = { kp = 60, kd = 1.5, q_sit = sit, kp_sit = 30, kd_sit = 8 },
      },
    },
  },
}
