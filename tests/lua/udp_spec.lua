-- udp_spec.lua: udp plants and bridges from Lua (lua/bind/hal_udp.c, hal_bridge.c over
-- hal/backend_udp.c and hal/bridge.c), and the `spinal bridge` command line
-- (lua/spinal/bridge.lua). Loopback only.
local hal = require "spinal.hal"
local bridge_cli = require "spinal.bridge"

local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local function car_plant()
  return assert(hal.open("model", { model = "unicycle_accel", rate = 100, robot = "car" }))
end

local ZERO_K = { 0, 0, 0, 0, 0, 0, 0, 0 }

describe("spinal.hal over udp", function()
  it("opens a bridged plant with the robot's name, sizes, names and rate", function()
    local plant <close> = car_plant()
    local b <close> = hal.bridge(plant, { listen = "127.0.0.1:0" })
    assert.is_true(b.port > 0)
    local r <close> = assert(hal.open("udp://127.0.0.1:" .. b.port, { robot = "car",
      x_names = plant.x_names, u_names = plant.u_names, rate = 100 }))
    assert.equal("car", r.robot)
    assert.equal("udp", r.backend)
    assert.equal(100, r.rate)
    assert.same(plant.x_names, r.x_names)
    assert.same(plant.u_names, r.u_names)
    assert.matches("spinal.hal.bridge serving car on port %d+", tostring(b))
  end)

  it("takes the address as robot files declare it", function()
    local plant <close> = car_plant()
    local b <close> = hal.bridge(plant, { listen = "127.0.0.1:0" })
    local r <close> = assert(hal.open("udp", { address = "127.0.0.1", port = b.port }))
    assert.equal(4, r.nx)
  end)

  it("returns nil and a message naming the address when no robot answers", function()
    local r, err = hal.open("udp://127.0.0.1:9", { timeout = 0.2 })
    assert.is_nil(r)
    assert.matches("no CONFIG from udp://127.0.0.1:9 within 0.2 s", err, 1, true)
  end)

  it("returns nil and the first difference when the robot is not the expected one", function()
    local plant <close> = car_plant()
    local b <close> = hal.bridge(plant, { listen = "127.0.0.1:0" })
    local r, err = hal.open("udp://127.0.0.1:" .. b.port,
      { x_names = { "px", "py", "speed", "phi" }, timeout = 1 })
    assert.is_nil(r)
    assert.matches("names state 3 'v', expected 'speed'", err, 1, true)
  end)

  it("runs a real-time rollout over the link and counts it", function()
    local plant <close> = car_plant()
    local b <close> = hal.bridge(plant, { listen = "127.0.0.1:0", realtime = true,
      watchdog = 0.3 })
    local r <close> = assert(hal.open("udp://127.0.0.1:" .. b.port))
    local tr = r:rollout { seconds = 0.3, realtime = true, stop_on_fault = true, watchdog = 0.2,
      safe = { 0, 0 }, policy = { K = ZERO_K, u_ff = { 1, 0 } } }
    assert.equal(30, tr.n)
    assert.equal(0, tr.lost)
    for i = 1, tr.n do assert.equal(i - 1, tr.k[i]) end
    assert.is_true(tr.x[tr.n][3] > 0.1)  -- the car sped up: the commands arrived
    local s = r:stats()
    assert.equal(s.received, s.accepted + s.dropped_total)
    assert.equal(0, s.dropped.crc)
    assert.is_true(s.rtt_samples > 0 and s.rtt_p50_us > 0)
    -- the bridge thread counts a command when it handles it: on a loaded machine the last ones
    -- may still be in its socket when the rollout returns, so wait (bounded) for them
    local host, bs = require "spinal.host", b:stats()
    local t0 = host.clock()
    while bs.commands < 29 and host.clock() - t0 < 2 do
      host.sleep(0.01)
      bs = b:stats()
    end
    assert.is_true(bs.commands >= 29)
    assert.near(0.3, bs.watchdog, 1e-9)
    assert.equal(1, bs.sessions)
  end)

  it("gives the same lockstep rollout through a lockstep bridge as on the plant", function()
    local plant <close> = car_plant()
    local twin <close> = car_plant()
    local b <close> = hal.bridge(plant, { listen = "127.0.0.1:0" })
    local r <close> = assert(hal.open("udp://127.0.0.1:" .. b.port, { wait = 1 }))
    local opts = { steps = 50, safe = { 0, 0 }, watchdog = 0.05,
      policy = { K = { 0, 0, 1, 0, 0, 0, 0, 0.5 }, x_ref = { 0, 0, 1, 0.2 }, u_ff = { 0, 0 } } }
    local a, c = twin:rollout(opts), r:rollout(opts)
    assert.equal(50, c.n)
    for i = 1, 51 do
      for j = 1, 4 do assert.equal(a.x[i][j], c.x[i][j]) end
    end
    assert.is_true(c.x[51][3] > 0.3)
  end)

  it("says goodbye when the host closes: the bridge stops safe without a watchdog trip", function()
    local plant <close> = car_plant()
    local b <close> = hal.bridge(plant, { listen = "127.0.0.1:0", watchdog = 0.05 })
    local r = assert(hal.open("udp://127.0.0.1:" .. b.port, { wait = 1 }))
    r:rollout { steps = 5, safe = { 0, 0 }, policy = { K = ZERO_K, u_ff = { 1, 0 } } }
    r:close()
    b:wait(0.2)  -- four watchdog periods
    local s = b:stats()
    assert.equal(1, s.goodbyes)
    assert.equal(0, s.watchdog_trips)
    assert.equal(2, s.status & 2)  -- SAFE_STOP
  end)

  it("bounds the watchdog a host asks for by watchdog_max", function()
    local plant <close> = car_plant()
    local b <close> = hal.bridge(plant, { listen = "127.0.0.1:0", watchdog_max = 0.25 })
    local r <close> = assert(hal.open("udp://127.0.0.1:" .. b.port, { watchdog = 3000 }))
    local s = b:stats()
    assert.near(0.25, s.watchdog, 1e-9)
    assert.near(3000, s.watchdog_asked, 1e-9)
  end)

  it("clamps commands to the bridge's limits and replaces non-finite ones", function()
    local plant <close> = car_plant()
    local twin <close> = car_plant()
    local b <close> = hal.bridge(plant, { listen = "127.0.0.1:0", u_min = { -0.5, -1 },
      u_max = { 0.5, 1 } })
    local r <close> = assert(hal.open("udp://127.0.0.1:" .. b.port, { wait = 1 }))
    local opts = { steps = 10, safe = { 0, 0 }, policy = { K = ZERO_K, u_ff = { 100, 0 } } }
    local c = r:rollout(opts)
    opts.policy.u_ff = { 0.5, 0 }
    local a = twin:rollout(opts)
    for j = 1, 4 do assert.equal(a.x[11][j], c.x[11][j]) end
    local s = b:stats()
    assert.equal(10, s.limited)
    assert.equal(0, s.rejected)
  end)

  it("runs the robot's safe controller on the bridge under e-stop, where zero torque drops it",
    function()
    local src = os.getenv "SPINAL_SOURCE_DIR" or "."
    local function final_angle(safe_controller)
      local t = dofile(src .. "/robots/double_pendulum.lua")
      t.plants.model.x0 = { 0.2, -0.2, 0, 0 }
      t.safety.safe_controller = safe_controller
      local robot = require("spinal.robot").load(t)
      local plant <close> = assert(robot:open())
      local sf = robot.safety
      local b <close> = hal.bridge(plant, { listen = "127.0.0.1:0", safe = sf.safe,
        safe_controller = sf.safe_controller, safe_reference = sf.safe_reference })
      local r <close> = assert(hal.open("udp://127.0.0.1:" .. b.port, { wait = 1 }))
      r:estop()
      local tr = r:rollout { steps = 150, safe = { 0, 0 }, policy = { K = { 0, 0, 0, 0, 0, 0, 0, 0 },
        u_ff = { 0, 0 } } }
      assert.equal(150, b:stats().safe_steps)
      return tr.x[151][1]
    end
    local SIT = { kind = "pd", gains = { kp = { 3, 3 }, kd = { 1, 1 } } }
    assert.is_true(math.abs(final_angle(nil)) > 0.5)
    assert.is_true(math.abs(final_angle(SIT)) < 0.1)
  end)

  it("checks the bridge's safety settings with the one safety parser's wording", function()
    local plant <close> = car_plant()
    assert.equal("bad argument #2 to 'spinal.hal.bridge' (field 'watchdog_max': expected a number in "
      .. "[0, 3600], got 4000)",
      error_of(hal.bridge, plant, { listen = "127.0.0.1:0", watchdog_max = 4000 }))
    assert.equal("bad argument #2 to 'spinal.hal.bridge' (field 'u_min': expected a vector of length 2, "
      .. "got length 3)",
      error_of(hal.bridge, plant, { listen = "127.0.0.1:0", u_min = { 0, 0, 0 } }))
    assert.equal("bad argument #2 to 'spinal.hal.bridge' (field 'safe_controller': expected a spinal.ctrl "
      .. "for 4 states and 2 actions, got table)",
      error_of(hal.bridge, plant, { listen = "127.0.0.1:0", safe_controller = { kind = "pd" } }))
    local sc = require("spinal.ctrl").pd(2, 1, 1)
    assert.equal("bad argument #2 to 'spinal.hal.bridge' (field 'safe_reference': expected a vector of "
      .. "length " .. sc.nr .. ", got length 1)",
      error_of(hal.bridge, plant, { listen = "127.0.0.1:0", safe_controller = sc,
        safe_reference = { 1 } }))
    assert.matches("bad argument #1 to 'rollout' (field 'safe_controller': expected nil (a rollout "
      .. "falls back to the constant safe command), got a spinal.ctrl)",
      error_of(function()
        return plant:rollout { steps = 1, safe = { 0, 0 }, safe_controller = sc,
          policy = { K = ZERO_K, u_ff = { 0, 0 } } }
      end), 1, true)
  end)

  it("refuses to close a plant a bridge serves, and closes after the bridge", function()
    local plant = car_plant()
    local b = hal.bridge(plant, { listen = "127.0.0.1:0" })
    assert.matches("served by a bridge", error_of(plant.close, plant))
    b:close()
    plant:close()
    assert.equal("closed", plant.state)
    assert.matches("closed one", error_of(b.stats, b))
  end)

  it("names bad bridge and udp options", function()
    local plant <close> = car_plant()
    assert.matches("field 'listen': expected a string, got nil",
      error_of(hal.bridge, plant, {}))
    assert.matches("expected a vector of length 2", error_of(hal.bridge, plant,
      { listen = "127.0.0.1:0", safe = { 0 } }))
    local b, err = hal.bridge(plant, { listen = "nowhere" })
    assert.is_nil(b)
    assert.matches("bad listen address 'nowhere'", err, 1, true)
    assert.matches("expected fields 'address' and 'port'", error_of(hal.open, "udp", {}))
    assert.matches("field 'x_names': name 2: expected a string",
      error_of(hal.open, "udp://127.0.0.1:9", { x_names = { "a", 3 } }))
    local r, err2 = hal.open("udp://127.0.0.1", {})
    assert.is_nil(r)
    assert.matches("expected udp://HOST:PORT", err2, 1, true)
  end)

  it("has link counters for udp plants only", function()
    local plant <close> = car_plant()
    local s, err = plant:stats()
    assert.is_nil(s)
    assert.matches("udp plants only", err, 1, true)
  end)
end)

describe("spinal bridge options", function()
  it("needs --listen and a plant", function()
    assert.matches("--listen HOST:PORT is required",
      select(2, bridge_cli.parse { "--model", "unicycle_accel" }), 1, true)
    assert.matches("robot file, or --model", select(2, bridge_cli.parse { "--listen", ":1" }),
      1, true)
  end)

  it("reads every option", function()
    local o = assert(bridge_cli.parse { "robots/rc_car.lua", "--listen", "127.0.0.1:9870",
      "--backend", "mujoco", "--realtime", "--watchdog", "0.1", "--rate", "200", "--safe",
      "0,-0.5", "--seconds", "3" })
    assert.same({ robot = "robots/rc_car.lua", listen = "127.0.0.1:9870", backend = "mujoco",
      realtime = true, watchdog = 0.1, rate = 200, safe = { 0, -0.5 }, seconds = 3 }, o)
  end)

  it("names the bad option", function()
    local function bad(...) return select(2, bridge_cli.parse { ... }) end
    assert.matches("unknown option '--fast'", bad("--model", "m", "--listen", ":1", "--fast"), 1,
      true)
    assert.matches("--rate: expected a number > 0, got 'x'",
      bad("--model", "m", "--listen", ":1", "--rate", "x"), 1, true)
    assert.matches("--backend: expected model or mujoco, got 'udp'",
      bad("r.lua", "--listen", ":1", "--backend", "udp"), 1, true)
    assert.matches("--safe: expected numbers", bad("--model", "m", "--listen", ":1", "--safe",
      "a,b"), 1, true)
    assert.matches("option --listen needs a value", bad("--model", "m", "--listen"), 1, true)
  end)

  it("serves a robot file's model plant for --seconds and reports on stderr", function()
    local out, err = {}, {}
    local sink = function(t) return { write = function(_, ...) for _, s in ipairs { ... } do
      t[#t + 1] = s end end, flush = function() end } end
    local code = bridge_cli.main({ (os.getenv("SPINAL_SOURCE_DIR") or ".")
      .. "/robots/rc_car.lua", "--listen", "127.0.0.1:0", "--seconds", "0.1", "--realtime" },
      sink(out), sink(err))
    assert.equal(0, code)
    assert.matches("serving rc_car %(model plant, 4 states, 2 actions, 50 Hz, realtime%) on "
      .. "127.0.0.1:%d+", table.concat(out))
    assert.matches("stopped %(%-%-seconds%) after %d+ steps", table.concat(err))
  end)

  it("serves the robot file's mujoco plant to a host that checks the robot's names", function()
    local robots = require "spinal.robot"
    local car = robots.load((os.getenv("SPINAL_SOURCE_DIR") or ".") .. "/robots/rc_car.lua")
    local plant <close> = assert(car:open "mujoco")
    local b <close> = hal.bridge(plant, { listen = "127.0.0.1:0", realtime = true,
      safe = car.safety.safe, robot = car.name })
    local r <close> = assert(hal.open("udp://127.0.0.1:" .. b.port,
      { robot = "rc_car", x_names = car.state, u_names = car.action, rate = car.rate }))
    local tr = r:rollout { seconds = 0.4, realtime = true, stop_on_fault = true, watchdog = 0.2,
      safe = car.safety.safe, policy = { K = ZERO_K, u_ff = { 0.5, 0 } } }
    assert.equal(20, tr.n)
    assert.is_true(tr.x[tr.n + 1][3] > 0.1)  -- the simulated car drove off
    car:close()
  end)
end)
