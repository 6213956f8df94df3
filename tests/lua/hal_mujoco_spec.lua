-- hal_mujoco_spec.lua: mujoco plants from Lua (lua/bind/hal_mujoco.c over hal/backend_mujoco.c):
-- opening from a table and from the robot file, the mapping, perturbations and config errors.
local hal = require "spinal.hal"

local XML = "robots/rc_car.xml"

local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local function car(extra)
  local cfg = {
    mjcf = XML, rate = 50, robot = "rc_car",
    x_names = { "px", "py", "v", "phi" }, u_names = { "throttle", "steer" },
    state = {
      px = { qpos = "chassis", index = 1 },
      py = { qpos = "chassis", index = 2 },
      v = { sensor = "chassis_vel" },
      phi = { yaw = "chassis" },
    },
    actuators = { throttle = "throttle", steer = { actuator = "steer", scale = 0.4 } },
  }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return assert(hal.open("mujoco", cfg))
end

-- drive n ticks with a constant command; the last state
local function drive(p, u, n)
  for _ = 1, n do p:write(u) end
  return (p:read())
end

describe("spinal.hal mujoco plants", function()
  it("are listed among the backends", function()
    local found = false
    for _, name in ipairs(hal.backends()) do found = found or name == "mujoco" end
    assert.is_true(found)
  end)

  it("open from a table with the mapped sizes and names", function()
    local p <close> = car()
    assert.equal(4, p.nx)
    assert.equal(2, p.nu)
    assert.equal("rc_car", p.robot)
    assert.equal("mujoco", p.backend)
    assert.equal(50, p.rate)
    assert.same({ "px", "py", "v", "phi" }, p.x_names)
    assert.same({ "throttle", "steer" }, p.u_names)
    assert.matches("rc_car on mujoco", tostring(p))
  end)

  it("reset to a pose reads back that pose, and forward driving follows the heading", function()
    local p <close> = car()
    p:activate()
    p:reset { 1, 2, 0.5, 0.8 }
    local x = p:read()
    for i, v in ipairs { 1, 2, 0.5, 0.8 } do assert.near(v, x[i], 1e-9) end
    x = drive(p, { 1, 0 }, 40)
    assert.near(0.8, math.atan(x[2] - 2, x[1] - 1), 0.01)
    assert.is_true(x[3] > 1.5)
  end)

  it("turns left for a positive steer and right for a negative one", function()
    local p <close> = car()
    p:activate()
    assert.is_true(drive(p, { 0.4, 1 }, 100)[4] > 0.5)
    p:reset()
    assert.is_true(drive(p, { 0.4, -1 }, 100)[4] < -0.5)
  end)

  it("opens from the robot file's plant_config", function()
    local robot = require("spinal.robot").load "robots/rc_car.lua"
    local p <close> = assert(robot:open "mujoco")
    assert.equal("mujoco", p.backend)
    assert.same(robot.state, p.x_names)
    p:activate()
    assert.is_true(drive(p, { 0.5, 0 }, 50)[1] > 0.3)
  end)

  it("carries method 1's tracker around the figure-eight with steer at 2 rad per unit", function()
    local robot = require("spinal.robot").load "robots/rc_car.lua"
    local task = require("spinal.task").figure_eight { radius = 1.5, period = 5.5 }
    local scheme, cfg = robot:plant_config "mujoco"
    cfg.actuators[2] = { { name = "steer", scale = 2 } }
    local p <close> = assert(hal.open(scheme, cfg))
    p:activate()
    local c, err, n = robot.controller, 0, 0
    for k = 0, 2 * 275 - 1 do  -- two laps of 5.5 s at 50 Hz
      local x, t = p:read(), k / 50
      p:write(c:act(x, (task:eval(t))))
      if t >= 5.5 then
        local ref = task:ref(t)  -- r (6), then the active circle: cx, cy, radius, dir
        local dx, dy = x[1] - ref[7], x[2] - ref[8]
        err, n = err + math.abs(math.sqrt(dx * dx + dy * dy) - ref[9]), n + 1
      end
    end
    assert.is_true(err / n < 0.8, "mean radial error " .. err / n)
  end)

  it("perturbs mass and gear and restores the file's values", function()
    local p <close> = car()
    p:activate()
    local function speed()
      p:reset()
      return drive(p, { 1, 0 }, 50)[3]
    end
    local v0 = speed()
    p:perturb { mass = 1.5 }
    local heavy = speed()
    assert.is_true(heavy < 0.9 * v0)
    p:perturb { gear = { throttle = 1.3 } }
    assert.is_true(speed() > 1.05 * v0)
    p:perturb()
    assert.equal(v0, speed())
    local q <close> = car { perturb = { mass = 1.5 } }
    q:activate()
    q:reset()
    assert.equal(heavy, drive(q, { 1, 0 }, 50)[3])
  end)

  it("gives the same noisy rollout for the same seed", function()
    local p <close> = car { sensor_std = 0.02, process_std = 0.01, delay = 1 }
    local opts = { steps = 60, seed = 4,
                   policy = { K = { { 0, 0, 1, 0 }, { 0, 0, 0, 0 } }, x_ref = { 0, 0, 1, 0 },
                              u_ff = { 0, 0.3 } } }
    local a, b = p:rollout(opts), p:rollout(opts)
    opts.seed = 5
    local c = p:rollout(opts)
    assert.equal("mujoco", a.backend)
    assert.equal(a.x[61][1], b.x[61][1])
    assert.are_not.equal(a.x[61][1], c.x[61][1])
  end)

  it("report the state without sensor noise through truth() (for scoring), the heading continued",
    function()
      local p <close> = car { sensor_std = 0.05 }
      p:activate()
      p:reset { 1, 2, 0.5, 3.0 }
      local worst = 0
      for _ = 1, 30 do
        local x = drive(p, { 1, 0.8 }, 1)
        local t = p:truth()
        for i = 1, 4 do worst = math.max(worst, math.abs(x[i] - t[i])) end
      end
      assert.is_true(worst > 0.02, "the reading should carry the noise")
      local q <close> = car()
      q:activate()
      q:reset { 1, 2, 0.5, 3.0 }
      for _ = 1, 30 do
        local x = drive(q, { 1, 0.8 }, 1)  -- turning left past pi: the heading goes on past it
        assert.same(x:totable(), q:truth():totable())
      end
      assert.is_true(q:truth()[4] > math.pi)
      -- the same trajectory (noise on the readings only): the truth agrees across both
      assert.near(q:truth()[1], p:truth()[1], 1e-12)
      assert.near(q:truth()[4], p:truth()[4], 1e-12)
      local m <close> = assert(hal.open("model", { model = "unicycle_accel", rate = 50 }))
      local none, msg = m:truth()
      assert.is_nil(none)
      assert.matches("only mujoco plants know the state without sensor noise", msg)
    end)

  it("returns nil and a message for a missing or malformed MJCF", function()
    local p, err = hal.open("mujoco", { mjcf = "no/such.xml", rate = 50 })
    assert.is_nil(p)
    assert.matches("no/such.xml", err)
    local bad = os.tmpname()
    local f = assert(io.open(bad, "w"))
    f:write "<mujoco><worldbody><body></worldbody></mujoco>"
    f:close()
    p, err = hal.open("mujoco", { mjcf = bad, rate = 50 })
    os.remove(bad)
    assert.is_nil(p)
    assert.matches(bad, err, 1, true)
  end)

  it("refuses an MJCF with a NaN or a timestep that is not positive, naming the file", function()
    local xml = assert(io.open(XML)):read "a"
    for _, case in ipairs {
      { (xml:gsub('pos="0 0 0.0498"', 'pos="nan 0 0.0498"')),
        "a number in the XML is NaN (MuJoCo only warns about it)" },
      { (xml:gsub('timestep="0.002"', 'timestep="-0.002"')),
        "option timestep must be a positive number of seconds, got -0.002" },
    } do
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write(case[1])
      f:close()
      local p, err = hal.open("mujoco", { mjcf = path, rate = 50 })
      os.remove(path)
      assert.is_nil(p)
      assert.equal("mujoco plant: " .. path .. ": " .. case[2], err)
    end
  end)

  it("returns nil and a message naming a joint the MJCF lacks", function()
    local p, err = hal.open("mujoco", { mjcf = XML, state = { { qpos = "trailer" } },
                                        actuators = { "throttle" } })
    assert.is_nil(p)
    assert.matches("no joint named 'trailer'", err)
  end)

  it("raises on config mistakes, naming the field", function()
    assert.matches("field 'state%[1%]': expected exactly one source",
      error_of(hal.open, "mujoco", { mjcf = XML, state = { { qpos = "a", yaw = "b" } },
                                     actuators = { "throttle" } }))
    assert.matches("field 'state%[1%].index': expected an integer in %[1, 1000000%]",
      error_of(hal.open, "mujoco", { mjcf = XML, state = { { qpos = "chassis", index = 0 } },
                                     actuators = { "throttle" } }))
    assert.matches("field 'actuators%[2%]'",
      error_of(hal.open, "mujoco", { mjcf = XML, state = { { qpos = "chassis" } },
                                     actuators = { "throttle", 3 } }))
    assert.matches("field 'perturb.mass': expected a scale > 0",
      error_of(hal.open, "mujoco", { mjcf = XML, perturb = { mass = -1 } }))
    assert.matches("field 'mjcf'", error_of(hal.open, "mujoco", { rate = 50 }))
    assert.matches("field 'state': a table keyed by state name needs 'x_names'",
      error_of(hal.open, "mujoco", { mjcf = XML, state = { px = { qpos = "chassis" } } }))
    local p <close> = car()
    assert.matches("no body named 'trailer'", error_of(p.perturb, p, { mass = { trailer = 2 } }))
  end)
end)
