-- loop_spec.lua: spinal.loop, the live real-time loop driven from Lua (lua/bind/loop.c).
local live = require "spinal.loop"
local robot_lib = require "spinal.robot"
local host = require "spinal.host"

local src = os.getenv "SPINAL_SOURCE_DIR" or "."
local PENDULUM = src .. "/robots/double_pendulum.lua"

local function wait_for(pred, seconds)
  local t0 = host.clock()
  while host.clock() - t0 < (seconds or 2) do
    if pred() then return true end
    host.sleep(0.002)
  end
  return pred()
end

local function open(opts)
  local robot = robot_lib.load(PENDULUM)
  local plant = assert(robot:open())
  local cfg = { controller = robot.controller, reference = robot.reference,
                safety = robot.safety, rate = robot.rate, robot = robot.name }
  for k, v in pairs(opts or {}) do cfg[k] = v end
  return robot, plant, live.new(plant, cfg)
end

describe("spinal.loop", function()
  it("starts held: the safe command goes out and the policy is not called", function()
    local robot, plant, loop = open()
    assert.is_nil(loop:state())
    loop:start()
    assert.is_true(wait_for(function() local s = loop:state() return s and s.k >= 5 end))
    local s = loop:state()
    assert.is_true(s.held and s.safe and s.running)
    assert.same({ 0, 0 }, { s.u[1], s.u[2] })
    assert.matches("held", tostring(loop))
    loop:close()
    plant:close()
  end)

  it("after resume the controller balances the pendulum reset near upright", function()
    local _, plant, loop = open()
    loop:start()
    loop:reset { 0.15, -0.1, 0, 0 }
    loop:resume()
    host.sleep(1.5)
    local s = loop:state()
    assert.is_false(s.held)
    assert.is_true(math.abs(s.x[1]) < 0.05 and math.abs(s.x[2]) < 0.05, tostring(s.x))
    assert.equal(0, loop.faults.count)
    loop:close()
    plant:close()
  end)

  it("applies new gains at a tick boundary and reports them", function()
    local robot, plant, loop = open()
    loop:start()
    loop:reset { 0.1, 0, 0, 0 }
    loop:resume()
    -- a zero gain: the command becomes u_eq = 0 on every channel
    loop:set_gains { K = { { 0, 0, 0, 0 }, { 0, 0, 0, 0 } } }
    assert.is_true(wait_for(function()
      local s = loop:state()
      return s.u[1] == 0 and s.u[2] == 0
    end, 1))
    assert.equal(0, loop:gains():sum())
    assert.error_matches(function() loop:set_gains { 1, 2 } end,
      "bad argument #1 to 'set_gains' (expected gains of length 8, got 2)", nil, true)
    assert.error_matches(function() loop:set_gains { kx = 1 } end,
      "bad argument #1 to 'set_gains' (unknown gain 'kx' for a lqr controller (its gains: K))",
      nil, true)
    assert.error_matches(function() loop:set_gains { K = 1 } end,
      "bad argument #1 to 'set_gains' (field 'K': expected a vector of length 8, got number)", nil,
      true)
    loop:close()
    plant:close()
  end)

  it("reports its gains and reference by the names the controller's class gives them", function()
    local robot, plant, loop = open()
    local K, named = loop:gains()
    assert.equal(8, K:numel())
    assert.equal(2, #named.K)
    for i = 1, 2 do
      for j = 1, 4 do assert.equal(K[(i - 1) * 4 + j], named.K[i][j]) end
    end
    local r, rn = loop:reference()
    assert.same({ "u_ff", "x_set" }, (function()
      local keys = {}
      for k in pairs(rn) do keys[#keys + 1] = k end
      table.sort(keys)
      return keys
    end)())
    assert.equal(r[5], rn.u_ff[1])
    -- the named table goes back into set_gains as it is
    named.K[1][1] = 7
    loop:set_gains(named)
    assert.equal(7, loop:gains()[1])
    assert.equal(K[2], loop:gains()[2])
    loop:close()
    plant:close()
  end)

  it("shares the robot's controller: Lua may call it, not change its limits under it", function()
    local robot, plant, loop = open()
    loop:start()
    loop:reset { 0.1, 0, 0, 0 }
    loop:resume()
    local c = robot.controller
    assert.equal(2, #c:act({ 0.1, 0, 0, 0 }, robot.reference))
    assert.error_matches(function() c:set_limits(-1, 1) end,
      "ctrl:set_limits%(%): a live loop is running this controller %(close the loop first%)")
    loop:close()
    c:set_limits(-1, 1)  -- free again once the loop is closed
    plant:close()
  end)

  it("keeps running a controller that Lua closed", function()
    local robot, plant, loop = open()
    loop:start()
    loop:reset { 0.1, 0, 0, 0 }
    loop:resume()
    robot:close()  -- closes robot.controller for Lua; the loop still holds it
    assert.error_matches(function() robot.controller:act({ 0, 0, 0, 0 }, robot.reference) end,
      "controller is closed")
    local k = loop:state().k
    assert.is_true(wait_for(function() return loop:state().k > k + 5 end, 1))
    local x = loop:state().x
    assert.is_true(math.abs(x[1]) < 0.2, tostring(x))
    loop:close()
    plant:close()
  end)

  it("e-stop sends the safe command at the next tick, names the cause, stops the loop", function()
    local _, plant, loop = open()
    loop:start()
    loop:reset { 0.1, 0, 0, 0 }
    loop:resume()
    host.sleep(0.1)
    loop:estop()
    assert.is_true(wait_for(function() return not loop.running end, 1))
    local s = loop:state()
    assert.is_true(s.estop and s.safe)
    assert.matches("estop", s.flag_names)
    assert.same({ 0, 0 }, { s.u[1], s.u[2] })
    local f = loop.faults
    assert.equal("estop", f.first)
    assert.is_true(f.count >= 1 and f.estop)
    assert.matches("loop:clear%(%)", f.why)
    -- released and restarted, held again
    loop:clear()
    loop:start()
    assert.is_true(wait_for(function() local st = loop:state() return st.held and not st.estop end))
    loop:close()
    plant:close()
  end)

  it("records every tick of the window and saves NPY and CSV", function()
    local _, plant, loop = open()
    loop:start()
    loop:record(0.3)
    local dir = os.tmpname()
    os.remove(dir)
    local d, n = loop:save(dir)
    assert.equal(dir, d)
    assert.equal(30, n)
    local f = assert(io.open(dir .. "/log.csv"))
    local header = f:read "l"
    local rows, ks = 0, {}
    for line in f:lines() do
      rows = rows + 1
      ks[rows] = tonumber(line:match "^(%d+),")
    end
    f:close()
    assert.equal("k,t,flags,th1,th2,w1,w2,tau1,tau2", header)
    assert.equal(30, rows)
    for i = 2, rows do assert.equal(ks[1] + i - 1, ks[i]) end
    local x = spinal.array.load(dir .. "/x.npy")
    assert.same({ 30, 4 }, { x.shape[1], x.shape[2] })
    assert.is_nil((loop:save(dir)))
    os.execute("rm -rf '" .. dir .. "'")
    loop:close()
    plant:close()
  end)

  it("keeps the plant to itself while it exists", function()
    local _, plant, loop = open()
    assert.error_matches(function() plant:read() end, "driven by a live loop")
    assert.error_matches(function() plant:write { 0, 0 } end, "driven by a live loop")
    assert.error_matches(function() plant:close() end, "driven by a live loop")
    assert.error_matches(function() live.new(plant, {}) end, "one a live loop drives")
    loop:close()
    assert.is_truthy(plant:read())
    plant:close()
  end)

  it("checks its options before starting anything", function()
    local robot = robot_lib.load(PENDULUM)
    local plant = assert(robot:open())
    local base = { controller = robot.controller, safety = robot.safety }
    assert.error_matches(function() live.new(plant, { safety = robot.safety }) end,
      "field 'controller'")
    assert.error_matches(function() live.new(plant, { controller = robot.controller }) end,
      "field 'safety'")
    local quad = require("spinal.ctrl").tracker "quadruped"
    assert.error_matches(function()
      live.new(plant, { controller = quad, safety = robot.safety })
    end, "expected a controller for 4 states and 2 actions %(the plant's%), got 3 and 2")
    base.rate = -1
    assert.error_matches(function() live.new(plant, base) end, "field 'rate'")
    base.rate, base.reference = nil, { 1, 2 }
    assert.error_matches(function() live.new(plant, base) end, "field 'reference'")
    assert.is_truthy(plant:read())  -- still free: no loop was made
    plant:close()
  end)

  it("runs a spinal.policy, whose parameters swap in whole between ticks", function()
    local robot = robot_lib.load(PENDULUM)
    local plant = assert(robot:open())
    local P, ctrl = require "spinal.policy", require "spinal.ctrl"
    local pol = P.lqr { controller = ctrl.lqr(robot.controller:gains():reshape(2, 4)), period = 3,
                        hidden = { 8 }, seed = 2 }
    assert.error_matches(function()
      live.new(plant, { policy = pol, controller = robot.controller, safety = robot.safety })
    end, "got both")
    local loop = live.new(plant, { policy = pol, safety = robot.safety })
    assert.equal("policy", loop.policy)
    assert.equal(pol.nparams, #loop:params())
    loop:start()
    loop:reset { 0.15, -0.1, 0, 0 }
    loop:resume()
    host.sleep(1.5)
    local x = loop:state().x
    -- a zero last layer: the policy is the nominal LQR, which balances
    assert.is_true(math.abs(x[1]) < 0.05 and math.abs(x[2]) < 0.05, tostring(x))
    local theta = pol:params():sum()
    assert.is_true(theta ~= 0)
    loop:set_params(loop:params() * 0)
    host.sleep(0.1)
    assert.equal(0, loop:params():abs():sum())
    -- the loop evaluates its own theta in its own workspace: the policy shared with Lua is read,
    -- never written by the control thread
    assert.equal(theta, pol:params():sum())
    -- and Lua may evaluate the policy while the control thread runs it
    assert.equal(2, #pol:act({ 0.1, 0, 0, 0 }, 0))
    assert.error_matches(function() loop:set_params { 1, 2 } end,
      "bad argument #1 to 'set_params' (expected parameters of length " .. pol.nparams
        .. ", got 2)", nil, true)
    assert.error_matches(function() loop:set_gains { 1 } end, "runs a policy")
    loop:close()
    plant:close()
  end)

  it("returns from resume and hold once a tick applied them, so the loop prints its new mode",
    function()
    local robot, plant, loop = open()
    loop:start()
    assert.matches("running, policy acting$", tostring(loop:set_reference(robot.reference):resume()))
    assert.matches("running, held %(safe command%)$", tostring(loop:hold()))
    loop:close()
    plant:close()
  end)

  it("streams telemetry JSON to a UDP port", function()
    local _, plant, loop = open()
    loop:start()
    assert.is_nil((loop:telemetry { host = "no.such.host.invalid" }))
    assert.error_matches(function() loop:telemetry { port = 70000 } end, "field 'port'")
    loop:telemetry { host = "127.0.0.1", port = 9, rate = 100 }  -- discard port
    host.sleep(0.2)
    local st = loop:stats()
    assert.is_true(st.telemetry.sent + st.telemetry.dropped >= 5)
    loop:telemetry(false)
    assert.is_nil(loop:stats().telemetry)
    loop:close()
    plant:close()
  end)
end)

-- a double pendulum balanced upright (th = 0): its zero command is not safe, it falls
local function upright(safe_controller)
  local t = dofile(PENDULUM)
  t.plants.model.x0 = { 0.2, -0.2, 0, 0 }
  t.safety.on_fault = "hold"
  t.safety.safe_controller = safe_controller
  return robot_lib.load(t)
end

local SIT = { kind = "pd", gains = { kp = { 3, 3 }, kd = { 1, 1 } }, reference = { 0, 0, 0, 0, 0, 0 } }

describe("spinal.loop with a safe controller", function()
  local function run(robot, seconds, then_estop)
    local plant = assert(robot:open())
    local loop = live.new(plant, { controller = robot.controller, reference = robot.reference,
      safety = robot.safety, rate = robot.rate })
    loop:start()
    if then_estop then
      loop:resume()
      host.sleep(0.3)
      loop:estop()
    end
    host.sleep(seconds)
    local st = loop:state()
    loop:close()
    plant:close()
    robot:close()
    return st
  end

  it("holds an unstable robot with its safe controller while held, where zero torque drops it",
    function()
    local fell = run(upright(nil), 1.5)
    local held = run(upright(SIT), 1.5)
    assert.is_true(math.abs(fell.x[1]) > 0.5, "zero torque: th1 " .. fell.x[1])
    assert.is_true(math.abs(held.x[1]) < 0.1, "safe controller: th1 " .. held.x[1])
    assert.is_true(held.safe)
    assert.is_true(math.abs(held.u[1]) > 0)  -- not the zero safe command
  end)

  it("switches to the safe controller on an e-stop", function()
    local st = run(upright(SIT), 1.0, true)
    assert.is_true(st.estop)
    assert.is_true(math.abs(st.x[1]) < 0.1, "th1 " .. st.x[1])
  end)

  it("checks the safe controller it is given with the one safety parser's wording", function()
    local robot = upright(nil)
    local plant = assert(robot:open())
    local function new(safe_controller, safe_reference)
      local sf = {}
      for k, v in pairs(robot.safety) do sf[k] = v end
      sf.safe_controller, sf.safe_reference = safe_controller, safe_reference
      local ok, err = pcall(live.new, plant, { controller = robot.controller,
        reference = robot.reference, safety = sf, rate = robot.rate })
      assert.is_false(ok)
      return tostring(err)
    end
    assert.equal("bad argument #2 to 'spinal.loop.new' (field 'safety.safe_controller': expected a spinal.ctrl "
      .. "for 4 states and 2 actions, got string)", new("pd"))
    assert.equal("bad argument #2 to 'spinal.loop.new' (field 'safety.safe_controller': expected a spinal.ctrl "
      .. "for 4 states and 2 actions, got 2 and 1)", new(require("spinal.ctrl").pd(1, 1, 1)))
    local sc = require("spinal.ctrl").pd(2, 1, 1)
    assert.equal("bad argument #2 to 'spinal.loop.new' (field 'safety.safe_reference': expected finite "
      .. "numbers, got inf at 2)", new(sc, { 0, math.huge, 0, 0, 0, 0 }))
    plant:close()
    robot:close()
  end)

  it("checks the safe controller in the robot file", function()
    local ok, err = pcall(upright, { kind = "pd", gains = { kp = 1 }, reference = { 0, 0 } })
    assert.is_false(ok)
    assert.matches("safety.safe_controller.reference: expected 6 entries (the pd controller's "
      .. "reference), got 2", tostring(err), 1, true)
    ok, err = pcall(upright, { kind = "walk" })
    assert.is_false(ok)
    assert.matches("safety.safe_controller.kind", tostring(err), 1, true)
  end)
end)
