-- hal_spec.lua: the spinal.hal binding (lua/bind/hal*.c): plants and lockstep rollouts.
local hal = require "spinal.hal"

local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local function car(extra)
  local cfg = { model = "unicycle_accel", rate = 50, x0 = { 0, 0, 1, 0 } }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return assert(hal.open("model", cfg))
end

describe("spinal.hal", function()
  it("lists the model backend", function()
    local found = false
    for _, name in ipairs(hal.backends()) do found = found or name == "model" end
    assert.is_true(found)
  end)

  it("opens a model plant with its sizes and names", function()
    local p <close> = car { robot = "car" }
    assert.equal(4, p.nx)
    assert.equal(2, p.nu)
    assert.equal("car", p.robot)
    assert.equal("model", p.backend)
    assert.is_true(p.can_reset) -- a model plant resets to any x0 (udp: false, run_files.sh)
    assert.equal(50, p.rate)
    assert.same({ "px", "py", "v", "phi" }, p.x_names)
    assert.equal("configured", p.state)
    assert.matches("spinal.hal.plant car on model", tostring(p))
  end)

  it("reads the initial state at time zero", function()
    local p <close> = car()
    local x, t, status = p:read()
    assert.same({ 0, 0, 1, 0 }, x:totable())
    assert.equal(0, t)
    assert.equal(0, status)
  end)

  it("refuses writes before activate, naming the fix", function()
    local p <close> = car()
    assert.matches("write: not valid while the plant is configured %(call plant:activate%(%) first%)",
      error_of(function() p:write { 0, 0 } end))
    p:activate()
    p:write { 1, 0 }
    local x, t = p:read()
    assert.near(1.02, x[3], 1e-12)
    assert.near(0.02, t, 1e-12)
  end)

  it("checks command lengths and config fields", function()
    local p <close> = car()
    p:activate()
    assert.matches("bad argument #1 to 'write' %(expected a command of length 2, got 3%)",
      error_of(function() p:write { 1, 2, 3 } end))
    assert.matches("field 'rate'", error_of(hal.open, "model", { model = "unicycle_accel" }))
    assert.matches("no model named 'boat'", error_of(hal.open, "model", { model = "boat", rate = 1 }))
    assert.matches("field 'x0': expected a vector of length 4",
      error_of(hal.open, "model", { model = "unicycle_accel", rate = 1, x0 = { 1 } }))
  end)

  it("returns nil and a message for an unknown backend", function()
    local p, msg = hal.open("warp://robot")
    assert.is_nil(p)
    assert.matches("no plant backend for scheme 'warp'", msg)
  end)

  it("runs a lockstep rollout with a C-side linear policy", function()
    local p <close> = car()
    -- drive the speed towards 2: throttle = -1 * (v - 2)
    local K = { { 0, 0, 1, 0 }, { 0, 0, 0, 0 } }
    local tr = p:rollout { steps = 500, seed = 3,
                           policy = { K = K, x_ref = { 0, 0, 2, 0 }, u_ff = { 0, 0 } } }
    assert.equal(500, tr.n)
    assert.same({ 501, 4 }, tr.x.shape)
    assert.same({ 500, 2 }, tr.u.shape)
    assert.same({ 501 }, tr.t.shape)
    assert.equal("model", tr.backend)
    assert.equal(0, tr.lost)
    assert.near(2, tr.x:get(501, 3), 1e-3)
    assert.near(0.02, tr.dt, 1e-15)
  end)

  it("refuses up front a rollout longer than memory allows, stating the bound", function()
    local p <close> = car()
    local pol = { K = { { 0, 0, 0, 0 }, { 0, 0, 0, 0 } } }
    local t0 = os.clock()
    local ok, err = pcall(p.rollout, p, { seconds = 1e9, policy = pol })
    assert.is_false(ok)
    assert.matches("field 'seconds': 1000000000%.0 is longer than this machine's memory allows: "
      .. "at most (%d+) steps %([%d.]+ s at 50%.0 Hz%)", err)
    local bound = tonumber(err:match "at most (%d+) steps")
    assert.is_true(bound > 1e6)  -- a long but possible rollout still runs
    assert.matches("field 'steps': [%d.]+ is longer",
      select(2, pcall(p.rollout, p, { steps = bound + 1, policy = pol })))
    assert.is_true(os.clock() - t0 < 1)  -- refused before running, not after
  end)

  it("clamps rollout commands to the given limits and flags them", function()
    local p <close> = car()
    local K = { { 0, 0, 10, 0 }, { 0, 0, 0, 0 } }
    local tr = p:rollout { steps = 5, u_min = { -0.5, -1 }, u_max = { 0.5, 1 },
                           policy = { K = K, x_ref = { 0, 0, 5, 0 } } }
    assert.equal(0.5, tr.u:get(1, 1))
    assert.equal(1, tr.flags[1] % 2)  -- SP_FLAG_CLAMPED is bit 0
  end)

  it("gives the same noisy rollout for the same seed", function()
    local p <close> = car { process_std = { 0.01, 0.01, 0.01, 0.01 }, sensor_std = { 0.1, 0.1, 0.1, 0.1 } }
    local pol = { K = { { 0, 0, 1, 0 }, { 0, 0, 0, 0 } }, x_ref = { 0, 0, 2, 0 } }
    local a = p:rollout { steps = 50, seed = 9, policy = pol }
    local b = p:rollout { steps = 50, seed = 9, policy = pol }
    local c = p:rollout { steps = 50, seed = 10, policy = pol }
    assert.same(a.x:totable(), b.x:totable())
    assert.are_not.same(a.x:totable(), c.x:totable())
  end)

  it("refuses a rollout without a policy gain", function()
    local p <close> = car()
    assert.matches("field 'policy'", error_of(function() p:rollout { steps = 3 } end))
    assert.matches("expected field 'steps'", error_of(function() p:rollout { policy = {} } end))
  end)

  it("is unusable after close", function()
    local p = car()
    p:close()
    assert.equal("closed", p.state)
    assert.matches("got a closed one", error_of(function() p:read() end))
  end)
end)
