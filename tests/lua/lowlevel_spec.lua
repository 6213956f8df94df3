-- lowlevel_spec.lua: a low-level controller inside a plant, as robot files declare it
-- (plants.mujoco.lowlevel, hal/lowlevel.h): the quadruped's two robot files check clean, bad
-- declarations and "real" variants are reported by field, the joint level stands under its PD and
-- sits down in its safe mode, and the variants act on the MuJoCo robot.
local robot = require "spinal.robot"
local hal = require "spinal.hal"

local S = require "support"
teardown(S.cleanup)

-- the problems of a robot file that takes quadruped_joint.lua and changes its mujoco plant
local function problems_with(change)
  local path = S.tmpfile(string.format([[
    local r = dofile "robots/quadruped_joint.lua"
    local mj = r.plants.mujoco
    %s
    return r
  ]], change), ".lua")
  local ok, problems = robot.check(path)
  local out = {}
  for i, p in ipairs(problems) do out[i] = p:sub(#path + 1) end
  return ok, out
end

describe("the quadruped's robot files", function()
  it("both levels pass check with no problem", function()
    for _, f in ipairs { "robots/quadruped.lua", "robots/quadruped_joint.lua" } do
      local ok, problems = robot.check(f)
      assert.same({}, problems)
      assert.is_true(ok)
    end
  end)

  it("the velocity level keeps the unicycle's state and action and runs the gait", function()
    local q = robot.load "robots/quadruped.lua"
    assert.same({ "px", "py", "phi" }, q.state)
    assert.same({ "v", "w" }, q.action)
    assert.equal("unicycle_vel", q.model.name)
    local scheme, cfg = q:plant_config "mujoco"
    assert.equal("mujoco", scheme)
    assert.equal("gait", cfg.lowlevel.kind)
    assert.equal("vx", cfg.actuators[1][1].name)
    assert.equal("wz", cfg.actuators[2][1].name)
  end)

  it("the joint level has 12 joint targets over 37 states and a joint PD", function()
    local q = robot.load "robots/quadruped_joint.lua"
    assert.equal(37, q.nx)
    assert.equal(12, q.nu)
    assert.equal(50, q.rate)
    local _, cfg = q:plant_config "mujoco"
    assert.equal("joint_pd", cfg.lowlevel.kind)
    assert.equal(60, cfg.lowlevel.params.kp)
  end)
end)

describe("spinal check reports a bad low-level controller or variant by field", function()
  it("an unknown kind, a misspelt setting, a negative gain and rate with every", function()
    local ok, problems = problems_with [[
      mj.lowlevel = { kind = "joint_pid", rate = 500, every = 2, params = { kpp = 1, kd = -1 } }
    ]]
    assert.is_false(ok)
    assert.same({
      ": plants.mujoco.lowlevel.kind: expected one of joint_pd, gait, got 'joint_pid' (did you "
        .. "mean 'joint_pd'?)",
      ": plants.mujoco.lowlevel.every: give rate or every, not both",
      ": plants.mujoco.lowlevel.params.kd: expected a number >= 0, got number -1",
    }, { problems[1], problems[2], problems[#problems] })
    ok, problems = problems_with [[ mj.lowlevel = { kind = "joint_pd", params = { kpp = 1 } } ]]
    assert.same({ ": plants.mujoco.lowlevel.params.kpp: unknown setting of joint_pd (did you "
      .. "mean 'kp'?)" }, problems)
    ok, problems = problems_with [[ mj.lowlevel = { rate = 0 } ]]
    assert.same({
      ": plants.mujoco.lowlevel.kind: missing (expected one of joint_pd, gait)",
      ": plants.mujoco.lowlevel.rate: expected a number > 0, got number 0",
    }, problems)
  end)

  it("variants outside their limits, unknown ones, and pd without a controller", function()
    local ok, problems = problems_with [[
      mj.perturb = { payload = -1, latency = 20, motor = 0, pusj = 1 }
    ]]
    assert.is_false(ok)
    assert.same({
      ": plants.mujoco.perturb.pusj: unknown key (did you mean 'push'?)",
      ": plants.mujoco.perturb.payload: expected a number in [0, 10000], got number -1",
      ": plants.mujoco.perturb.motor: expected a number > 0, got number 0",
      ": plants.mujoco.perturb.latency: expected a number in [0, 10], got number 20",
    }, problems)
    ok, problems = problems_with [[ mj.lowlevel = nil; mj.perturb = { pd = 0.8 } ]]
    assert.same({ ": plants.mujoco.perturb.pd: scales the low-level controller's gains, and this "
      .. "plant has none (declare plants.mujoco.lowlevel)" }, problems)
  end)

  it("every variant inside its documented range checks clean", function()
    local ok, problems = problems_with [[
      mj.perturb = { payload = 3, payload_x = 0.05, payload_y = -0.03, friction = 0.6,
                     motor = 0.85, pd = 0.8, damping = 2, frictionloss = 0.3, latency = 0.01,
                     noise = 0.01, push = 6, push_time = 2 }
    ]]
    assert.same({}, problems)
    assert.is_true(ok)
  end)
end)

describe("the joint level in MuJoCo", function()
  local q = robot.load "robots/quadruped_joint.lua"

  local function z_after(plant, ticks)
    for _ = 1, ticks do plant:write(q.safety.safe) end
    return plant:read()[3]
  end

  it("stands on the PD at the standing pose and sits down, damped, in the safe mode", function()
    local plant = assert(q:open "mujoco")
    plant:activate()
    local z = z_after(plant, 50)
    assert.is_true(z > 0.24 and z < 0.30, "standing height " .. z)
    assert.is_true(plant:safe(true))
    -- the trunk comes down slowly (no free fall: 1 m/s is a drop from 5 cm) and rests low
    local vmin = 0
    for _ = 1, 100 do
      plant:write(q.safety.safe)
      vmin = math.min(vmin, plant:read()[22])
    end
    local zs = plant:read()[3]
    assert.is_true(zs > 0.06 and zs < 0.12, "sitting height " .. zs)
    assert.is_true(vmin > -1.0, "fastest descent " .. vmin)
    assert.is_true(plant:safe(false))
    plant:close()
  end)

  it("a payload lowers the stance and a push moves the robot sideways", function()
    local _, cfg = q:plant_config "mujoco"
    local plant = assert(hal.open("mujoco", cfg))
    plant:activate()
    local z0 = z_after(plant, 50)
    plant:perturb { payload = 3 }
    plant:reset()
    local z1 = z_after(plant, 50)
    assert.is_true(z1 < z0 - 0.005, string.format("%.4f with 3 kg vs %.4f", z1, z0))
    plant:perturb { push = 5, push_time = 0.5 }
    plant:reset()
    for _ = 1, 24 do plant:write(q.safety.safe) end
    assert.is_true(math.abs(plant:read()[21]) < 0.05)
    plant:write(q.safety.safe)
    plant:write(q.safety.safe)
    -- 5 N s on 12.7 kg: about 0.39 m/s to the left, less what the feet's friction takes
    local vy = plant:read()[21]
    assert.is_true(vy > 0.15 and vy < 0.4, "lateral speed after the push " .. vy)
    plant:close()
  end)

  it("the velocity level walks on the gait, pd scales its PD gains within their ranges", function()
    local v = robot.load "robots/quadruped.lua"
    local plant, err = v:open "mujoco"
    if not plant then
      -- only where the walking controller (engine/ctrl/gait.h) is not built
      assert.equal("mujoco plant: low-level controller: unknown kind 'gait' (known: joint_pd)", err)
      return
    end
    plant:activate()
    for _ = 1, 30 do plant:write { 0.5, 0 } end
    local x = plant:read()
    assert.is_true(x[1] > 1.0 and math.abs(x[2]) < 0.3, "3 s at 0.5 m/s: " .. tostring(x))
    plant:perturb { pd = 0.8 }
    local ok, e = pcall(plant.perturb, plant, { pd = 20 })
    assert.is_false(ok)
    assert.matches("pd 20 takes the low%-level controller's gains out of their ranges", e)
    plant:close()
  end)

  it("a plant without a low-level controller has no safe mode of its own", function()
    local car = robot.load "robots/rc_car.lua"
    local plant = assert(car:open "mujoco")
    local ok, msg = plant:safe(true)
    assert.is_false(ok)
    assert.equal("safe: this mujoco plant has no safe behaviour of its own (no low-level "
      .. "controller)", msg)
    plant:close()
  end)

  it("an action naming no command of the controller is refused when the plant opens", function()
    local _, cfg = q:plant_config "mujoco"
    cfg.actuators[1][1].name = "vx"
    local plant, err = hal.open("mujoco", cfg)
    assert.is_nil(plant)
    assert.equal("mujoco plant: action 1: the low-level controller joint_pd has no command "
      .. "named 'vx' (its commands: FR_abd, FR_hip, FR_knee, FL_abd, FL_hip, FL_knee, RR_abd, "
      .. "RR_hip, RR_knee, RL_abd, RL_hip, RL_knee)", err)
  end)
end)
