-- args_spec.lua: the argument and option layer every binding shares (lua/bind/args.h). The same
-- kind of mistake reads the same in every module, and arguments are numbered as Lua's own
-- functions number them: a method call (obj:f(...)) does not count self, a plain call does.
local A = require "spinal.array"
local C = require "spinal.cost"
local T = require "spinal.task"
local ctrl = require "spinal.ctrl"
local hal = require "spinal.hal"
local nn = require "spinal.nn"
local P = require "spinal.policy"

-- the message of the error f raises, without the "file:line: " prefix
local function message(f)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error")
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))
end

local function car_plant()
  return assert(hal.open("model", { model = "unicycle_accel", rate = 50, x0 = { 0, 0, 1, 0 } }))
end

describe("the binding layer", function()
  it("numbers arguments as Lua's own functions do", function()
    -- Lua itself: self is not counted in a method call
    assert.equal("bad argument #1 to 'rep' (number expected, got table)",
      message(function() local s = ("x"):rep({}) return s end))
    assert.equal("bad argument #2 to 'rep' (number expected, got table)",
      message(function() local s = string.rep("x", {}) return s end))
    -- ours, the same way, for a controller, a policy, a cost and a plant
    local c = ctrl.tracker "car"
    local pol = P.tracking { task = T.figure_eight(), controller = c, hidden = { 4 }, seed = 1 }
    local cost = C.car()
    local plant <close> = car_plant()
    assert.equal("bad argument #1 to 'act' (expected a state of length 4, got 3)",
      message(function() local u = c:act({ 1, 2, 3 }, A.zeros(6)) return u end))
    assert.equal("bad argument #1 to 'act' (expected a state of length 4, got 3)",
      message(function() local u = pol:act({ 1, 2, 3 }, 0) return u end))
    assert.equal("bad argument #1 to 'value' (expected a state of length 4, got 3)",
      message(function() local v = cost:value({ 1, 2, 3 }, { 0, 0 }, A.zeros(10)) return v end))
    assert.equal("bad argument #1 to 'write' (expected a command of length 2, got 3)",
      message(function() local p = plant:write { 1, 2, 3 } return p end))
    assert.equal("bad argument #2 to 'value' (expected a state of length 4, got 3)",
      message(function()
        local v = cost.value(cost, { 1, 2, 3 }, { 0, 0 }, A.zeros(10))
        return v
      end))
  end)

  it("words a field of the wrong type the same in every module", function()
    assert.equal("bad argument #1 to 'new' (field 'nx': expected an integer in [1, 1000000], got "
      .. "string)", message(function() local c = C.new { nx = "4" } return c end))
    assert.equal("bad argument #1 to 'circle' (field 'radius': expected a number > 0, got string)",
      message(function() local t = T.circle { radius = "big" } return t end))
    assert.equal("bad argument #2 to 'open' (field 'rate': expected a number > 0, got string)",
      message(function()
        local p = hal.open("model", { model = "unicycle_accel", rate = "fast" })
        return p
      end))
  end)

  it("checks booleans as booleans", function()
    local plant <close> = car_plant()
    local lin = { K = { { 0, 0, 0, 0 }, { 0, 0, 0, 0 } } }
    assert.equal("bad argument #1 to 'rollout' (field 'realtime': expected a boolean, got number)",
      message(function()
        local tr = plant:rollout { steps = 2, policy = lin, realtime = 1 }
        return tr
      end))
    assert.equal("bad argument #1 to 'mlp' (field 'zero_last': expected a boolean, got string)",
      message(function() local m = nn.mlp { sizes = { 2, 3 }, zero_last = "yes" } return m end))
    assert.equal("bad argument #2 to 'sample' (field 'periodic': expected a boolean, got number)",
      message(function()
        local t = T.sample(function(s) return s, s end, { t1 = 1, periodic = 1 })
        return t
      end))
  end)

  it("checks a plant's delay in one place, for every simulated backend", function()
    local expected = "bad argument #2 to 'open' (field 'delay': expected an integer in "
      .. "[0, 100000], got 1.5)"
    assert.equal(expected, message(function()
      local p = hal.open("model", { model = "unicycle_accel", rate = 50, delay = 1.5 })
      return p
    end))
    assert.equal(expected, message(function()
      local p = hal.open("mujoco", { mjcf = "robots/rc_car.xml", rate = 50, delay = 1.5 })
      return p
    end))
  end)

  it("reads the safety settings with one parser for rollouts and live loops", function()
    local plant <close> = car_plant()
    local lin = { K = { { 0, 0, 0, 0 }, { 0, 0, 0, 0 } } }
    assert.equal("bad argument #1 to 'rollout' (field 'watchdog': expected a number in [0, 3600], "
      .. "got -1)", message(function()
        local tr = plant:rollout { steps = 2, policy = lin, watchdog = -1 }
        return tr
      end))
    local live = require "spinal.loop"
    assert.equal("bad argument #2 to 'new' (field 'safety.watchdog': expected a number in "
      .. "[0, 3600], got -1)", message(function()
        local l = live.new(plant, { controller = ctrl.tracker "car",
                                    safety = { safe = { 0, 0 }, watchdog = -1 } })
        return l
      end))
    assert.equal("bad argument #2 to 'new' (field 'safety.safe': expected the safe command (a "
      .. "vector of length 2), got nil)", message(function()
        local l = live.new(plant, { controller = ctrl.tracker "car", safety = {} })
        return l
      end))
  end)

  it("names unknown options and the valid ones", function()
    assert.equal("bad argument #1 to 'sgd' (unknown option 'lr_'; valid: lr, momentum, clip, "
      .. "weight_decay)", message(function() local o = nn.sgd { lr_ = 1 } return o end))
  end)
end)
