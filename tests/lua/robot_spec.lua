-- robot_spec.lua: robot files as a user writes them: the shipped robots load and check clean,
-- malformed files report every problem (file, field path, what is wrong), nothing is built from
-- a bad file, and `spinal check` prints and exits as docs/robots.md says. Runs from the source
-- tree (busted's working directory), so paths are relative to it.
local robot = require "spinal.robot"
local model_lib = require "spinal.model"
local ctrl_lib = require "spinal.ctrl"
local array = require "spinal.array"

local FIX = "tests/lua/fixtures/robots/"

local S = require "support"
local slurp, tmpfile = S.slurp, S.tmpfile

-- a robot file at a temporary path ending in .lua, from text
local function robot_file(text)
  return tmpfile(text, ".lua")
end

-- run "spinal check <args>": stdout, stderr, exit code
local function check_cli(args)
  return S.run("check " .. args)
end

teardown(S.cleanup)

-- the problems check reports for a fixture, without the "file: " prefix
local function problems_of(name)
  local path = FIX .. name
  local ok, problems = robot.check(path)
  assert.is_false(ok)
  local out = {}
  for i, p in ipairs(problems) do
    assert.equal(path, p:sub(1, #path), "problem does not start with the file: " .. p)
    out[i] = p:sub(#path + 1)
  end
  return out
end

describe("the shipped robots", function()
  for _, name in ipairs { "rc_car", "double_pendulum", "quadruped" } do
    it(name .. " passes check with no problem", function()
      local ok, problems = robot.check("robots/" .. name .. ".lua")
      assert.same({}, problems)
      assert.is_true(ok)
    end)
  end

  it("rc_car builds the gamma-scaled car_drag model at 50 Hz and the car tracker", function()
    local car = robot.load "robots/rc_car.lua"
    assert.equal("rc_car", car.name)
    assert.same({ "px", "py", "v", "phi" }, car.state)
    assert.same({ "throttle", "steer" }, car.action)
    assert.equal(50, car.rate)
    assert.equal("car_drag", car.model.name)
    assert.near(0.02, car.model.dt, 1e-15)
    assert.equal("euler", car.model.integrator)
    local p = car.model.params
    assert.near(0.5 * 11.25, p.k_a, 1e-12)
    assert.near(0.5 * 0.55, p.c_d, 1e-12)
    assert.near(0.5 * 6.5, p.k_s, 1e-12)
    assert.near(0.5 * 0.1, p.b_s, 1e-12)
    assert.equal("tracker_car", car.controller.name)
    assert.is_true(array.allclose(car.controller:gains(), array { 0.45, 0.45, 0.35, 0.35, 0, 0 }))
    local lo, hi = car.controller:limits()
    assert.is_true(array.allclose(lo, array { -0.75, -1 }))
    assert.is_true(array.allclose(hi, array { 0.75, 1 }))
    car:close()
  end)

  it("rc_car's model plant is METHODS.md's real car and its safety config the file's", function()
    local car = robot.load "robots/rc_car.lua"
    local scheme, cfg = car:plant_config "model"
    assert.equal("model", scheme)
    assert.equal("car_drag", cfg.model)
    assert.same({ "k_a", "c_d", "k_s", "b_s" }, cfg.p_names)
    assert.same({ 11.25, 0.55, 6.5, 0.1 }, cfg.params)
    assert.equal(50, cfg.rate)
    assert.equal("rc_car", cfg.robot)
    assert.equal("rk4", cfg.integrator)
    assert.equal(4, cfg.substeps)
    assert.equal(0, cfg.delay)
    assert.same({ 0, 0, 0, 0 }, cfg.process_std)
    assert.same({ -0.75, -1 }, cfg.u_min)
    assert.same({ 0.75, 1 }, cfg.u_max)
    assert.same({ 0, 0 }, car.safety.safe)
    assert.same({ 15, 25 }, car.safety.rate_max)
    assert.equal(0.1, car.safety.watchdog)
    assert.is_true(car.safety.stop_on_fault)
    assert.is_false(car.safety.latch_faults)
    car:close()
  end)

  it("rc_car's mujoco plant maps the chassis joint, a velocimeter and two actuators", function()
    local car = robot.load "robots/rc_car.lua"
    local scheme, cfg = car:plant_config "mujoco"
    assert.equal("mujoco", scheme)
    assert.equal("robots/rc_car.xml", cfg.mjcf)
    assert.same({ source = "qpos", name = "chassis", index = 1, scale = 1, offset = 0 },
      cfg.state[1])
    assert.same({ source = "sensor", name = "chassis_vel", index = 1, scale = 1, offset = 0 },
      cfg.state[3])
    assert.same({ source = "yaw", name = "chassis", index = 1, scale = 1, offset = 0 },
      cfg.state[4])
    assert.same({ { name = "throttle", scale = 1, offset = 0 } }, cfg.actuators[1])
    assert.same({ { name = "steer", scale = 2, offset = 0 } }, cfg.actuators[2])
    car:close()
  end)

  it("a udp URI overrides the declared address and port", function()
    local car = robot.load "robots/rc_car.lua"
    local scheme, cfg, uri = car:plant_config "udp://10.0.0.7:9999"
    assert.equal("udp", scheme)
    assert.equal("10.0.0.7", cfg.address)
    assert.equal(9999, cfg.port)
    assert.equal("udp://10.0.0.7:9999", uri)
    scheme, cfg = car:plant_config "udp"
    assert.equal("127.0.0.1", cfg.address)
    assert.equal(9870, cfg.port)
    car:close()
  end)

  it("a udp plant config carries the names and watchdog the handshake checks", function()
    local car = robot.load "robots/rc_car.lua"
    local _, cfg = car:plant_config "udp"
    assert.same({ "px", "py", "v", "phi" }, cfg.x_names)
    assert.same({ "throttle", "steer" }, cfg.u_names)
    assert.equal(car.safety.watchdog, cfg.watchdog)
    assert.equal(50, cfg.rate)
    car:close()
  end)

  it("without a backend, plant_config gives the first declared of model, mujoco, udp", function()
    local car = robot.load "robots/rc_car.lua"
    assert.equal("model", car.default_plant)
    assert.equal("model", (car:plant_config()))
    car:close()
    local path = robot_file [[
      local r = dofile "robots/quadruped.lua"
      r.plants.model = nil
      r.plants.mujoco = nil
      return r
    ]]
    local q = robot.load(path)
    assert.equal("udp", q.default_plant)
    local scheme, cfg = q:plant_config()
    assert.equal("udp", scheme)
    assert.equal("192.168.123.161", cfg.address)
    q:close()
  end)

  it("asking for a plant the file does not declare says which it declares", function()
    local dp = robot.load "robots/double_pendulum.lua"
    local scheme, msg = dp:plant_config "mujoco"
    assert.is_nil(scheme)
    assert.equal("robots/double_pendulum.lua declares no mujoco plant (declared: model)", msg)
    scheme, msg = dp:plant_config "udp"
    assert.is_nil(scheme)
    assert.equal("robots/double_pendulum.lua declares no udp plant; give its address: "
      .. "udp://host:port", msg)
    dp:close()
  end)

  it("double_pendulum's model is 0.7x the masses and 0.9x the lengths of its plant", function()
    local dp = robot.load "robots/double_pendulum.lua"
    local _, cfg = dp:plant_config "model"
    local m = dp.model.params
    local real = dp.plants.model.params
    for _, k in ipairs { "m1", "m2" } do assert.near(0.7 * real[k], m[k], 1e-12) end
    for _, k in ipairs { "l1", "l2" } do assert.near(0.9 * real[k], m[k], 1e-12) end
    assert.equal(0.1, real.m1)
    assert.equal(1, real.l1)
    assert.equal(1, m.g)
    assert.near(0.01, dp.model.dt, 1e-15)
    dp:close()
  end)

  it("double_pendulum's LQR (discrete design on the model) brings the real pendulum upright "
    .. "from the ablation's start within the torque limits", function()
    local dp = robot.load "robots/double_pendulum.lua"
    assert.equal("lqr", dp.controller.name)
    assert.is_true(dp.design.rho < 1)
    local _, cfg = dp:plant_config "model"
    local plant = model_lib.new(cfg.model, dp.plants.model.params,
      { dt = dp.dt, integrator = cfg.integrator, substeps = cfg.substeps })
    for _, th1 in ipairs { 5 * math.pi / 8, -5 * math.pi / 8, 0.3 } do
      local x = array { th1, 0, 0, 0 }
      for _ = 1, 300 do
        local u = dp.controller:act(x, dp.reference)
        assert.is_true(math.abs(u[1]) <= 30 and math.abs(u[2]) <= 30)
        x = plant:step(x, u)
      end
      for i = 1, 4 do assert.is_true(math.abs(x[i]) < 1e-2, "th1 = " .. th1) end
    end
    plant:close()
    dp:close()
  end)

  it("double_pendulum opens its model plant through spinal.hal, and a rollout of its LQR with "
    .. "its safety settings brings the real pendulum upright", function()
    local dp = robot.load "robots/double_pendulum.lua"
    local plant = assert(dp:open "model")
    assert.equal("double_pendulum", plant.robot)
    assert.equal(100, plant.rate)
    local opts = { steps = 300, seed = 1, policy = { K = dp.controller:gains():reshape { 2, 4 },
      x_ref = { 0, 0, 0, 0 }, u_ff = { 0, 0 } } }
    for k, v in pairs(dp.safety) do opts[k] = v end
    local tr = plant:rollout(opts)
    assert.equal(300, tr.n)
    assert.near(5 * math.pi / 8, tr.x[1][1], 1e-12)  -- the plant's x0 from the robot file
    for i = 1, 4 do assert.is_true(math.abs(tr.x[301][i]) < 1e-2) end
    for k = 1, tr.n do assert.equal(0, tr.flags[k]) end  -- no clamp, no fault on the way
    plant:close()
    dp:close()
  end)

  it("quadruped is the velocity unicycle with its tracker and the real robot's bias", function()
    local q = robot.load "robots/quadruped.lua"
    assert.equal("unicycle_vel", q.model.name)
    assert.equal(10, q.rate)
    assert.is_true(array.allclose(q.controller:gains(), array { 0.2, 0.2, 0.95, 2.5, 0, 0 }))
    local lo, hi = q.controller:limits()
    -- the paper's |w| <= 3 rad/s; |v| <= 1.25 m/s: headroom above the 0.98 m/s figure-eight
    assert.is_true(array.allclose(hi, array { 1.25, 3 }))
    assert.is_true(array.allclose(lo, array { -1.25, -3 }))
    local _, cfg = q:plant_config "model"
    assert.same({ 1.18, 0.1 }, cfg.params)
    q:close()
  end)
end)

describe("spinal.robot.load", function()
  it("fills every default of a minimal file", function()
    local r = robot.load(FIX .. "ok_minimal.lua")
    assert.is_nil(r.controller)
    assert.equal("rk4", r.model.integrator)
    assert.equal(1, r.model.substeps)
    assert.same({ 0 }, r.safety.safe)
    assert.same({ math.huge }, r.safety.rate_max)
    assert.near(10 / 100, r.safety.watchdog, 1e-15)
    assert.equal("stop", r.safety.on_fault)
    local _, cfg = r:plant_config "model"
    assert.equal("pendulum", cfg.model)                  -- the approximate model's class
    assert.same(r.model.params, r.plants.model.params)  -- and its parameters: no mismatch
    assert.equal(0, cfg.delay)
    assert.equal(1, cfg.substeps)
    assert.equal("robot minimal (2 states, 1 action, 100 Hz, plants: model)", tostring(r))
    r:close()
  end)

  it("raises every problem of a bad file, one per line, without a position prefix", function()
    local ok, err = pcall(robot.load, FIX .. "safe_outside.lua")
    assert.is_false(ok)
    assert.equal(FIX .. "safe_outside.lua: safety.safe_command[1]: 0 is outside "
      .. "limits.action[1] [0.1, 0.75]\n" .. FIX .. "safe_outside.lua: safety.safe_command[2]: "
      .. "1.5 is outside limits.action[2] [-1, 1]", err)
  end)

  it("builds nothing (no model, no controller) from a file with a problem", function()
    local new, tracker, built = model_lib.new, ctrl_lib.tracker, 0
    model_lib.new = function(...) built = built + 1; return new(...) end
    ctrl_lib.tracker = function(...) built = built + 1; return tracker(...) end
    local ok1 = pcall(robot.load, FIX .. "typos.lua")
    local ok2 = pcall(robot.load, FIX .. "size_mismatch.lua")
    local counted = built
    local car = robot.load "robots/rc_car.lua"
    model_lib.new, ctrl_lib.tracker = new, tracker
    assert.is_false(ok1)
    assert.is_false(ok2)
    assert.equal(0, counted)
    assert.equal(2, built)  -- the spy works: a good file builds its model and tracker
    car:close()
  end)

  it("runs the file in its own environment: its globals do not leak", function()
    local path = robot_file([[
      leaked_global = 1
      local r = dofile "tests/lua/fixtures/robots/ok_minimal.lua"
      r.name = "minimal_copy"
      return r
    ]])
    local r = robot.load(path)
    assert.equal("minimal_copy", r.name)
    assert.is_nil(rawget(_G, "leaked_global"))
    r:close()
  end)

  it("include runs another robot file named relative to this one", function()
    local r = robot.load(FIX .. "includes_minimal.lua")
    assert.equal("minimal_heavy", r.name)
    assert.equal(2, r.model.params.m)
    assert.equal(1, r.model.params.l)  -- the class default, as in the included file
    r:close()
    local base = robot.load(FIX .. "ok_minimal.lua")
    assert.equal("minimal", base.name)  -- including never changes the included file's robot
    assert.equal(1, base.model.params.m)
    base:close()
  end)
end)

describe("spinal.robot.check reports", function()
  it("a syntax error with its file and line", function()
    assert.same({ ":4: '}' expected (to close '{' at line 3) near 'action'" },
      problems_of "syntax_error.lua")
  end)

  it("a runtime error in the file with its file and line", function()
    assert.same({ ":2: attempt to index a nil value (field 'controller')" },
      problems_of "runtime_error.lua")
  end)

  it("an error raised with a non-string value at the line that raised it", function()
    assert.same({ ":2: error object is a table" }, problems_of "raises_table.lua")
  end)

  it("an error in an included file with the including file and the included file's line",
    function()
    assert.same({ ":1: " .. FIX .. "syntax_error.lua:4: '}' expected (to close '{' at line 3) "
      .. "near 'action'" }, problems_of "includes_broken.lua")
  end)

  it("a file that returns something other than a table", function()
    assert.same({ ": expected the file to return a robot table, got number 42" },
      problems_of "returns_number.lua")
  end)

  it("a file that cannot be opened", function()
    local ok, problems = robot.check "robots/no_such_robot.lua"
    assert.is_false(ok)
    assert.same({ "robots/no_such_robot.lua: cannot open the file (No such file or directory)" },
      problems)
  end)

  it("every missing required field", function()
    assert.same({
      ": name: missing (expected a string naming the robot)",
      ": action: missing (expected a list of action names)",
      ": rate: missing (expected a number > 0)",
      ": model.name: missing (expected a string naming a registered model)",
      ": limits: missing (expected a table with action (and rate) limits)",
      ": plants: expected at least one plant (model, mujoco or udp)",
    }, problems_of "missing_fields.lua")
  end)

  it("every wrong type, saying what was expected and what was given", function()
    assert.same({
      ": name: expected a string naming the robot, got number 7",
      ': rate: expected a number > 0, got string "50"',
      ": model.substeps: expected an integer in [1, 10000], got number 1.5",
      ': limits.action[2]: expected a number (|u| <= m) or a pair { lo, hi }, got string "1"',
      ": limits.rate[2]: expected a number > 0, got number -1",
      ': safety.safe_command: expected a list of 2 numbers, got string "zero"',
      ": safety.watchdog: expected a number >= 0, got number -0.1",
      ": plants.model.sensor_noise[4]: expected a number >= 0, got boolean true",
      ": plants.model.delay: expected an integer in [0, 100000], got number 1.5",
      ": plants.udp.address: missing (expected a host name or IP address)",
      ": plants.udp.port: expected an integer in [1, 65535], got number 70000",
    }, problems_of "wrong_types.lua")
  end)

  it("an unknown model with the known ones", function()
    local known = model_lib.list()
    table.sort(known)
    assert.same({ ": model.name: unknown model 'unicycle' (known: " .. table.concat(known, ", ")
      .. ")" }, problems_of "unknown_model.lua")
    assert.matches("car_drag, cartpole", table.concat(known, ", "), 1, true)
  end)

  it("unknown keys and values with the close valid one (typos)", function()
    assert.same({
      ": modle: unknown key (did you mean 'model'?)",
      ": model.integrator: expected one of euler, rk4, got 'rk5' (did you mean 'rk4'?)",
      ": model.params.k_aa: unknown parameter of car_drag (did you mean 'k_a'?)",
      ": limits.rates: unknown key (did you mean 'rate'?)",
      ": safety.on_fault: expected one of stop, hold, got 'hlod' (did you mean 'hold'?)",
      ": controller.gains.kphii: unknown gain (did you mean 'kphi'?)",
      ": plants.mujcoo: unknown plant (did you mean 'mujoco'?)",
    }, problems_of "typos.lua")
  end)

  it("an unknown key far from any valid one with the valid keys", function()
    local path = robot_file [[
      local r = dofile "tests/lua/fixtures/robots/ok_minimal.lua"
      r.limits.zzz = 1
      return r
    ]]
    local ok, problems = robot.check(path)
    assert.is_false(ok)
    assert.same({ path .. ": limits.zzz: unknown key (valid: action, rate)" }, problems)
  end)

  it("sizes that disagree with the model and the state and action names", function()
    assert.same({
      ": state: 3 names, but model car_drag has 4 states (px, py, v, phi)",
      ": limits.action: expected 2 entries (one per action: throttle, steer), got 3",
      ": plants.model.name: model unicycle_accel has 4 states (px, py, v, phi), the robot has 3",
      ": plants.model.x0: expected 3 entries (one per state), got 2",
    }, problems_of "size_mismatch.lua")
  end)

  it("a safe command outside the action limits", function()
    assert.same({
      ": safety.safe_command[1]: 0 is outside limits.action[1] [0.1, 0.75]",
      ": safety.safe_command[2]: 1.5 is outside limits.action[2] [-1, 1]",
    }, problems_of "safe_outside.lua")
  end)

  it("an LQR design whose discrete closed loop on the model is unstable", function()
    assert.same({ ": controller.design: the continuous design is unstable on the model's "
      .. "discrete step (spectral radius 2.33 at dt = 0.01); use method = \"discrete\"" },
      problems_of "unstable_design.lua")
  end)

  it("LQR weights that are not symmetric or not positive (semi-)definite", function()
    local path = robot_file [[
      local r = dofile "robots/double_pendulum.lua"
      r.controller.design.Q = { { 1, 2, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 } }
      r.controller.design.R = { 0, 1 }
      return r
    ]]
    local _, problems = robot.check(path)
    assert.same({
      path .. ": controller.design.Q: expected a symmetric matrix, got [1][2] = 2 and [2][1] = 0",
      path .. ": controller.design.R: expected a positive definite matrix, its smallest "
        .. "eigenvalue is 0",
    }, problems)
    path = robot_file [[
      local r = dofile "robots/double_pendulum.lua"
      r.controller.design.Q = { -250, 250, 10, 10 }
      return r
    ]]
    _, problems = robot.check(path)
    assert.same({ path .. ": controller.design.Q: expected a positive semi-definite matrix, its "
      .. "smallest eigenvalue is -250" }, problems)
  end)

  it("a mujoco mapping with unknown, missing and malformed entries", function()
    assert.same({
      ": plants.mujoco.state.vv: unknown state (did you mean 'v'?)",
      ": plants.mujoco.state.px: expected exactly one source (qpos, qvel, sensor, yaw, "
        .. "body_pos, body_yaw, body_vel, body_angvel), got 2",
      ": plants.mujoco.state.py.sensor: expected a sensor name in the MJCF, got number 3",
      ': plants.mujoco.state.v: missing (expected where state \'v\' comes from, e.g. '
        .. '{ qpos = "joint", index = 1 })',
      ": plants.mujoco.state.phi.index: yaw takes no index",
      ': plants.mujoco.actuators.throttle[2].scale: expected a number, got string "x"',
      ": plants.mujoco.actuators.steer: missing (expected the actuator(s) that action 'steer' "
        .. "drives)",
    }, problems_of "mujoco_mapping.lua")
  end)

  it("a missing MJCF file as a warning, not a problem", function()
    local path = FIX .. "mujoco_mapping.lua"
    local _, _, warnings = robot.check(path)
    assert.same({ path .. ": warning: plants.mujoco.mjcf: " .. FIX .. "no_such_car.xml does "
      .. "not exist: the mujoco plant cannot open until it does" }, warnings)
  end)

  it("controller sizes that do not fit the robot", function()
    local path = robot_file [[
      local r = dofile "tests/lua/fixtures/robots/ok_minimal.lua"
      r.controller = { kind = "lqr", gains = { { 1, 2, 3 } } }
      return r
    ]]
    local _, problems = robot.check(path)
    assert.same({ path .. ": controller.gains[1]: expected 2 entries, got 3" }, problems)
    path = robot_file [[
      local r = dofile "tests/lua/fixtures/robots/ok_minimal.lua"
      r.controller = { kind = "tracker" }
      return r
    ]]
    _, problems = robot.check(path)
    assert.same({ path .. ": controller: the car tracker needs 4 states and 2 actions, "
      .. "the robot has 2 and 1" }, problems)
  end)
end)

describe("spinal check", function()
  it("prints one ok line per good file and exits 0", function()
    local out, err, code = check_cli "robots/double_pendulum.lua robots/quadruped.lua"
    assert.equal(0, code)
    assert.equal("robots/double_pendulum.lua: ok (double_pendulum: 4 states, 2 actions, 100 Hz, "
      .. "plants: model)\nrobots/quadruped.lua: ok (quadruped: 3 states, 2 actions, 10 Hz, "
      .. "plants: model, mujoco, udp)\n", out)
    assert.equal("", err)
  end)

  it("summarises the car with its plants", function()
    local out, _, code = check_cli "robots/rc_car.lua"
    assert.equal(0, code)
    assert.equal("robots/rc_car.lua: ok (rc_car: 4 states, 2 actions, 50 Hz, "
      .. "plants: model, mujoco, udp)\n", out)
  end)

  it("prints every problem of a bad file on stderr and exits 1", function()
    local path = FIX .. "safe_outside.lua"
    local out, err, code = check_cli(path)
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal(path .. ": safety.safe_command[1]: 0 is outside limits.action[1] [0.1, 0.75]\n"
      .. path .. ": safety.safe_command[2]: 1.5 is outside limits.action[2] [-1, 1]\n"
      .. path .. ": 2 problems\n", err)
  end)

  it("exits 1 when any of several files is bad, still checking the others", function()
    local out, err, code = check_cli(FIX .. "syntax_error.lua " .. FIX .. "ok_minimal.lua")
    assert.equal(1, code)
    assert.equal(FIX .. "ok_minimal.lua: ok (minimal: 2 states, 1 action, 100 Hz, "
      .. "plants: model)\n", out)
    assert.equal(FIX .. "syntax_error.lua:4: '}' expected (to close '{' at line 3) near "
      .. "'action'\n" .. FIX .. "syntax_error.lua: 1 problem\n", err)
  end)

  it("without a file is a usage error (exit 2)", function()
    local out, err, code = check_cli ""
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("^spinal check: expected one or more robot files", err)
  end)
end)

describe("docs/robots.md", function()
  it("its worked example passes check with the summary the page shows", function()
    local page = assert(slurp "docs/robots.md")
    local code = page:match "```lua\n(%-%- robots/pendulum%.lua.-)```"
    assert.is_string(code)
    local ok, problems, _, r = robot.check(robot_file(code))
    assert.same({}, problems)
    assert.is_true(ok)
    assert.matches("(pendulum: " .. robot.summary(r) .. ")", page, 1, true)
  end)
end)

describe("robot tables written in a script", function()
  it("load like files, problems labelled (robot table)", function()
    local t = dofile "tests/lua/fixtures/robots/ok_minimal.lua"
    local r = robot.load(t)
    assert.equal("minimal", r.name)
    r:close()
    t.rate = -1
    local ok, problems = robot.check(t)
    assert.is_false(ok)
    assert.same({ "(robot table): rate: expected a number > 0, got number -1" }, problems)
  end)
end)

describe("robot.check on randomly broken robots", function()
  local rng = require "spinal.rng"
  local VALUES = { false, 0, -1, 1.5, 0 / 0, math.huge, -math.huge, "", "x", "rk4", true, {},
    { 1 }, { "a" }, { {} }, { 1, 2, 3, 4, 5 }, { x = 1 }, 2 ^ 63 }

  -- every (table, key) pair below t, as a list of { parent, key }
  local function slots(t, out)
    out = out or {}
    for k, v in pairs(t) do
      out[#out + 1] = { t, k }
      if type(v) == "table" then slots(v, out) end
    end
    return out
  end

  it("reports problems naming the table and never raises, over many seeds", function()
    local files = { "robots/rc_car.lua", "robots/double_pendulum.lua", "robots/quadruped.lua",
      FIX .. "ok_minimal.lua" }
    local broken, total = 0, 0
    for seed = 1, 40 do
      local g = rng.new(seed)
      for _, file in ipairs(files) do
        local t = dofile(file)
        local list = slots(t)
        for _ = 1, g:integer(3) do
          local slot = list[g:integer(#list)]
          local choice = g:integer(#VALUES + 2)
          if choice == #VALUES + 1 then
            slot[1][slot[2]] = nil
          elseif choice == #VALUES + 2 then
            slot[1][tostring(slot[2]) .. "x"] = 1  -- a typo'd extra key
          else
            local v = VALUES[choice]
            slot[1][slot[2]] = type(v) == "table" and { table.unpack(v) } or v
          end
        end
        local ok, result, problems = pcall(robot.check, t)
        assert(ok, "check raised on seed " .. seed .. " (" .. file .. "): " .. tostring(result))
        total = total + 1
        if not result then
          broken = broken + 1
          assert.is_true(#problems >= 1)
          for _, p in ipairs(problems) do
            assert.equal("(robot table): ", p:sub(1, 15))
          end
        end
      end
    end
    assert.is_true(broken > total / 2, broken .. " of " .. total .. " mutations were caught")
  end)
end)

describe("plants.mujoco accepts what the mujoco backend reads", function()
  local tmp = os.tmpname()
  after_each(function() os.remove(tmp) end)

  local function car_with(extra)
    local f = assert(io.open(tmp, "w"))
    f:write(([[
      local car = include "%s/robots/rc_car.lua"
      %s
      return car
    ]]):format(os.getenv("SPINAL_SOURCE_DIR") or ".", extra))
    f:close()
  end

  it("body sources, wheels, process noise and perturbations pass check and reach the config",
    function()
      car_with [[
        car.plants.mujoco.mjcf = os.getenv("SPINAL_SOURCE_DIR") .. "/robots/rc_car.xml"
        car.plants.mujoco.state.phi = { body_yaw = "chassis" }
        car.plants.mujoco.process_noise = 0.01
        car.plants.mujoco.wheels = { "rear_left", "rear_right" }
        car.plants.mujoco.perturb = { mass = 1.1, friction = 0.8 }
      ]]
      local ok, problems = robot.check(tmp)
      assert.is_true(ok, table.concat(problems or {}, "\n"))
      local car = robot.load(tmp)
      local _, cfg = car:plant_config "mujoco"
      assert.same({ source = "body_yaw", name = "chassis", index = 1, scale = 1, offset = 0 },
        cfg.state[4])
      assert.equal(0.01, cfg.process_std)
      assert.same({ "rear_left", "rear_right" }, cfg.wheels)
      assert.same({ mass = 1.1, friction = 0.8 }, cfg.perturb)
      car:close()
    end)

  it("a misspelt perturbation and an indexed body_yaw are reported by field", function()
    car_with [[
      car.plants.mujoco.state.phi = { body_yaw = "chassis", index = 2 }
      car.plants.mujoco.perturb = { mas = 1.1 }
    ]]
    local ok, problems = robot.check(tmp)
    assert.is_false(ok)
    local text = table.concat(problems, "\n")
    assert.matches("plants%.mujoco%.state%.phi%.index: body_yaw takes no index", text)
    assert.matches("plants%.mujoco%.perturb%.mas", text)
  end)
end)

describe("a robot file runs restricted", function()
  -- the file's only problem, without the "file: " prefix
  local function only_problem(text)
    local path = robot_file(text)
    local ok, problems = robot.check(path)
    assert.is_false(ok)
    assert.equal(1, #problems, table.concat(problems, "\n"))
    assert.equal(path, problems[1]:sub(1, #path))
    return problems[1]:sub(#path + 1)
  end
  local RULES = "(docs/robots.md, 'What a robot file may do')"

  it("and an endless loop is stopped with the limit named", function()
    local limit = robot.MAX_INSTRUCTIONS
    robot.MAX_INSTRUCTIONS = 2000000
    local a = only_problem "while true do end"
    local b = only_problem "while true do pcall(function() while true do end end) end"
    local c = only_problem "local t = {} for i = 1, 1e9 do xpcall(error, print, i) end"
    robot.MAX_INSTRUCTIONS = limit
    local want = ": ran more than 2 million Lua instructions (an endless loop?); robot files "
      .. "must finish quickly " .. RULES
    assert.equal(want, a)
    assert.equal(want, b)  -- its own pcall cannot swallow the limit
    assert.equal(want, c)
  end)

  it("and an endless loop in an included file is stopped too", function()
    local limit = robot.MAX_INSTRUCTIONS
    robot.MAX_INSTRUCTIONS = 1000000
    local inner = robot_file "while true do end"
    local p = only_problem("return include " .. string.format("%q", inner))
    robot.MAX_INSTRUCTIONS = limit
    assert.equal(": ran more than 1 million Lua instructions (an endless loop?); robot files "
      .. "must finish quickly " .. RULES, p)
  end)

  it("without os.exit, os.execute, io or binary chunks", function()
    assert.equal(":1: os.exit is not available in a robot file " .. RULES,
      only_problem "os.exit(0)")
    assert.equal(":1: os.execute is not available in a robot file " .. RULES,
      only_problem "os.execute 'touch /tmp/spinal_robot_pwned'")
    assert.equal(":1: io.open is not available in a robot file " .. RULES,
      only_problem "io.open('/tmp/spinal_robot_pwned', 'w')")
    assert.equal(":1: attempt to call a nil value (field 'dump')",
      only_problem "load(string.dump(function() end))")
    assert.equal(":2: load: a robot file may load text chunks only (mode \"t\")",
      only_problem "local f = load\nf('\\27Lua', 'x', 'b')")
    assert.equal(":1: setmetatable: __gc is not available in a robot file " .. RULES,
      only_problem "setmetatable({}, { __gc = function() while true do end end })")
    assert.equal(":1: require: a robot file may require only spinal.array, spinal.linalg, "
      .. "spinal.model, spinal.rbd, spinal.ctrl, spinal.autodiff, not string \"spinal.hal\" "
      .. RULES,
      only_problem "require 'spinal.hal'")
  end)

  it("and cannot change the host's libraries or spinal's modules", function()
    local p = robot_file [[
      string.rep = nil
      math.floor = nil
      local ok, err = pcall(function() require("spinal.model").new = nil end)
      assert(not ok and err:find "spinal.model is read%-only", err)
      assert(getmetatable("") == nil)
      return dofile "tests/lua/fixtures/robots/ok_minimal.lua"
    ]]
    local r = robot.load(p)
    assert.is_function(string.rep)
    assert.is_function(math.floor)
    assert.is_function(model_lib.new)
    r:close()
  end)

  it("and spinal check stops a looping or exiting file with a non-zero status", function()
    local loop, exit = robot_file "while true do end", robot_file "os.exit(0)"
    local out, err, code = check_cli(loop .. " " .. exit)
    assert.equal("", out)
    assert.equal(loop .. ": ran more than 50 million Lua instructions (an endless loop?); robot "
      .. "files must finish quickly " .. RULES .. "\n" .. loop .. ": 1 problem\n"
      .. exit .. ":1: os.exit is not available in a robot file " .. RULES .. "\n"
      .. exit .. ": 1 problem\n", err)
    assert.equal(1, code)
  end)
end)

describe("a robot table is read as plain data", function()
  it("a throwing metamethod is never called", function()
    local boom = { __index = function() error "boom" end, __pairs = function() error "boom" end,
      __len = function() error "boom" end }
    local t = setmetatable({}, boom)
    local ok, problems = robot.check(t)
    assert.is_false(ok)
    assert.equal("(robot table): name: missing (expected a string naming the robot)",
      problems[1])
    local ok2, problems2 = robot.check { name = "x", state = setmetatable({ "a" }, boom) }
    assert.is_false(ok2)
    assert.is_nil(table.concat(problems2, "\n"):find "boom")
  end)

  it("a file whose table's __index recurses is checked, not a C stack overflow", function()
    local path = robot_file [[
      local mt = {}
      mt.__index = function(t, k) return t[k] end
      return setmetatable({}, mt)
    ]]
    local ok, problems = robot.check(path)
    assert.is_false(ok)
    assert.equal(path .. ": name: missing (expected a string naming the robot)", problems[1])
  end)

  it("a table that contains itself is a problem, not a stack overflow", function()
    local t = { name = "loop", model = {} }
    t.model.params = t
    local ok, problems = robot.check(t)
    assert.is_false(ok)
    assert.same({ "(robot table): model.params: refers back to the robot table (a robot table "
      .. "cannot contain itself)" }, problems)
  end)

  it("a list with a hole is a problem (libFuzzer finding: eigh of a 0 x 0 weight)", function()
    local t = dofile "robots/double_pendulum.lua"
    local action = { "tau1", "tau2" }
    action[1] = nil                     -- # may still say 2
    t.action = action
    t.controller.design.R = {}
    local ok, problems = robot.check(t)
    assert.is_false(ok)
    for _, p in ipairs(problems) do assert.is_nil(p:find "eigh", p) end
  end)
end)

describe("spinal check applies the plant's own limits", function()
  local hal = require "spinal.hal"

  -- the double pendulum with changes applied to its table
  local function problems_with(change)
    local t = dofile "robots/double_pendulum.lua"
    change(t)
    local ok, problems = robot.check(t)
    assert.is_false(ok)
    return problems
  end

  it("substeps and delay above what the plant opens with are refused, the bound named", function()
    assert.same({ substeps = 10000, delay = 100000, index = 1000000 }, hal.limits)
    assert.same({
      "(robot table): model.substeps: expected an integer in [1, 10000], got number 100000000.0",
      "(robot table): plants.model.substeps: expected an integer in [1, 10000], got number "
        .. "100000000.0",
      "(robot table): plants.model.delay: expected an integer in [0, 100000], got number "
        .. "1000000000.0",
    }, problems_with(function(t)
      t.model.substeps = 1e8
      t.plants.model.substeps = 1e8
      t.plants.model.delay = 1e9
    end))
  end)

  it("robot:open reports a configuration the binding refuses in one line, never raises", function()
    local r = robot.load "robots/double_pendulum.lua"
    r.plants.model.delay = 1e9  -- changed after the checks ran
    local plant, err = r:open "model"
    assert.is_nil(plant)
    assert.equal("the model plant's configuration: field 'delay': expected an integer in "
      .. "[0, 100000], got 1000000000", err)
    r:close()
  end)

  it("a mujoco state source index above the plant's limit is refused", function()
    local ok, problems = robot.check(robot_file [[
      local t = dofile "robots/rc_car.lua"
      t.plants.mujoco.state.px.index = 2000000
      return t
    ]])
    assert.is_false(ok)
    assert.truthy(problems[1]:find(": plants.mujoco.state.px.index: expected an integer in "
      .. "[1, 1000000], got number 2000000", 1, true), problems[1])
  end)

  it("a file at the limits passes and its plant opens", function()
    local t = dofile "robots/double_pendulum.lua"
    t.plants.model.delay = hal.limits.delay
    t.plants.model.substeps = 2
    local r = robot.load(t)
    local plant = assert(r:open "model")
    plant:close()
    r:close()
  end)

  it("non-physical parameters are refused with the field named", function()
    assert.same({
      "(robot table): model.params.m1: expected a mass > 0, got -1",
      "(robot table): plants.model.params.l2: expected a length > 0, got 0",
      "(robot table): plants.model.params.b: expected a damping >= 0, got -0.5",
    }, problems_with(function(t)
      t.model.params.m1 = -1
      t.plants.model.params = { l2 = 0, b = -0.5 }
    end))
    local ok, problems = robot.check(robot_file [[
      local t = dofile "robots/cartpole_rbd.lua"
      t.plants.model.params = { ["pole.mass"] = -0.2, ["cart.ixx"] = -1, ["cart.ixy"] = -1 }
      return t
    ]])
    assert.is_false(ok)
    assert.equal(2, #problems)
    assert.truthy(problems[1]:find(': plants.model.params%["cart.ixx"%]: expected an inertia >= 0, '
      .. 'got %-1$'))
    assert.truthy(problems[2]:find(': plants.model.params%["pole.mass"%]: expected a mass >= 0, '
      .. 'got %-0.2$'))
  end)

  it("a set point where the model's Jacobians are not finite is one line, not lqr_gain's",
    function()
    assert.same({ "(robot table): controller: the model's Jacobians at x_eq, u_eq are not finite "
      .. "(is the set point or a model parameter out of the model's range?)" },
      problems_with(function(t) t.controller.x_eq = { 0, 0, 1e300, 0 } end))
  end)

  it("an MJCF the mujoco plant would refuse (a NaN, a zero timestep) is a problem", function()
    local xml = slurp "robots/cartpole.xml"
    local nan = tmpfile((xml:gsub('<body name="pole" pos="0 0 0">',
      '<body name="pole" pos="nan 0 0">')))
    local zero = tmpfile((xml:gsub('timestep="0.005"', 'timestep="0"')))
    for _, case in ipairs {
      { nan, nan .. ": a number in the XML is NaN (MuJoCo only warns about it)" },
      { zero, zero .. ": option timestep must be a positive number of seconds, got 0" },
    } do
      local ok, problems = robot.check(robot_file(string.format([[
        local t = dofile "robots/cartpole_rbd.lua"
        t.plants.mujoco.mjcf = %q
        return t
      ]], case[1])))
      assert.is_false(ok)
      assert.equal(1, #problems)
      assert.truthy(problems[1]:find(": plants.mujoco.mjcf: " .. case[2], 1, true), problems[1])
    end
  end)

  it("a zero scale of a mujoco source is refused as the plant would", function()
    local ok, problems = robot.check(robot_file [[
      local t = dofile "robots/rc_car.lua"
      t.plants.mujoco.state.v.scale = 0
      t.plants.mujoco.perturb = { mass = -1 }
      return t
    ]])
    assert.is_false(ok)
    assert.truthy(problems[1]:find(": plants.mujoco.state.v.scale: expected a nonzero number, "
      .. "got 0$"))
    assert.truthy(problems[2]:find(": plants.mujoco.perturb.mass: expected a number > 0, got "
      .. "number %-1$"))
  end)
end)
