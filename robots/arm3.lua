-- arm3.lua: the 3-DoF arm of arm3.xml (shoulder yaw, shoulder pitch, elbow pitch; torque motors),
-- with its approximate model built from the same MJCF (spinal.rbd, docs/rbd.md), held at a home
-- pose by LQR with gravity compensation, 100 Hz.
--
-- The approximate model is the rigid-body tree of arm3.xml exactly as the file describes it. The
-- "real" arm is MuJoCo on arm3.xml, which adds what the tree leaves out (joint limits, contacts,
-- friction loss) and whatever an experiment perturbs (experiments/arm_reach.lua makes the links
-- heavier and adds dry joint friction, so the model is wrong). The home pose's gravity torque is
-- computed on the model: u_eq solves f(x_eq, u_eq) = 0 for the joint accelerations.
local rbd = require "spinal.rbd"
local model_lib = require "spinal.model"
local linalg = require "spinal.linalg"
local array = require "spinal.array"

-- the MJCF next to this file
local dir = debug.getinfo(1, "S").source:match "^@(.*)/[^/]*$" or "."
local mjcf = dir .. "/arm3.xml"

-- one registered tree class per process (robot files may be loaded several times)
if not model_lib.info "arm3_rbd" then
  assert(rbd.load_mjcf(mjcf)):register "arm3_rbd"
end

-- home: upper arm 0.5 rad above horizontal, forearm 0.5 rad below it (the tip 27 cm above the
-- floor, 66 cm in front of the base), at rest
local home = { 0, -0.5, 1.0, 0, 0, 0 }

-- the motor commands that hold home on the model: the accelerations are affine in u,
-- qdd = a0 + Bv u, so u = -Bv^-1 a0
local function holding_command(x)
  local m = model_lib.new("arm3_rbd", nil, { dt = 0.01 })
  local f = m:f(x, { 0, 0, 0 })
  local _, fu = m:f_jac(x, { 0, 0, 0 })
  local a0, Bv = {}, {}
  for i = 1, 3 do
    a0[i] = -f[3 + i]
    Bv[i] = { fu[3 + i][1], fu[3 + i][2], fu[3 + i][3] }
  end
  local u = linalg.solve(array(Bv), array(a0))
  m:close()
  return { u[1], u[2], u[3] }
end

return {
  name = "arm3",
  doc = "3-DoF arm from arm3.xml: rigid-body model from the same MJCF, LQR with gravity "
    .. "compensation at a home pose",

  -- joint angles (rad; zero: the arm straight out along +x) and rates; the three motor commands
  state = { "yaw", "pitch", "elbow", "yaw_rate", "pitch_rate", "elbow_rate" },
  action = { "shoulder_yaw", "shoulder_pitch", "elbow" },  -- ctrl in [-1, 1] x gear 10, 20, 10 N m

  rate = 100,

  model = { name = "arm3_rbd", integrator = "rk4" },

  -- soft joint-space LQR on the model linearised at home (a compliant arm, not a stiff servo)
  controller = {
    kind = "lqr",
    x_eq = home,
    u_eq = holding_command(home),
    design = { Q = { 20, 20, 20, 0.2, 0.2, 0.2 }, R = { 1, 1, 1 }, method = "discrete" },
  },

  limits = { action = { 1, 1, 1 } },  -- the motors' ctrlrange

  safety = { safe_command = { 0, 0, 0 }, on_fault = "stop", watchdog = 0.05 },

  plants = {
    model = { name = "arm3_rbd", integrator = "rk4", substeps = 4, x0 = home },
    mujoco = {
      mjcf = "arm3.xml",
      state = {
        yaw = { qpos = "shoulder_yaw" },
        pitch = { qpos = "shoulder_pitch" },
        elbow = { qpos = "elbow" },
        yaw_rate = { qvel = "shoulder_yaw" },
        pitch_rate = { qvel = "shoulder_pitch" },
        elbow_rate = { qvel = "elbow" },
      },
      actuators = {
        shoulder_yaw = "shoulder_yaw",
        shoulder_pitch = "shoulder_pitch",
        elbow = "elbow",
      },
    },
  },
}
