-- cost_spec.lua: the spinal.cost binding (lua/bind/cost.c): method 1's car cost at a
-- hand-computed point, gradients against finite differences and against the same cost written
-- in Lua with spinal.autodiff, chaining, terminal costs, and argument errors.
local T = require "spinal.task"
local C = require "spinal.cost"
local ad = require "spinal.autodiff"

local function close(a, b, tol) return math.abs(a - b) <= (tol or 1e-9) * (1 + math.abs(b)) end

local function totable(a, n)
  local t = {}
  for i = 1, n do t[i] = a[i] end
  return t
end

describe("spinal.cost", function()
  local task = T.figure_eight { radius = 1.5, period = 5.5 }
  local vref = 4 * math.pi * 1.5 / 5.5

  it("gives method 1's car cost at a hand-computed point", function()
    local car = C.car()
    assert.are.equal(3, #car)
    local x = { 3.5, 0, 2, -math.pi / 2 + 0.3 }
    local v = car:value(x, { 0.5, -0.3 }, task:ref(1.0))
    assert.is_true(close(v, 0.25 + (2 - vref) ^ 2 / 30 + 0.03, 1e-12))
  end)

  it("has the gradient of the same cost written in Lua and differentiated by autodiff", function()
    local car = C.car()
    local m = ad.math
    for _, t in ipairs { 0.7, 1.9, 3.3, 4.8 } do
      local ref = task:ref(t)
      local cx, cy, R, dir = ref[7], ref[8], ref[9], ref[10]
      local function cost(z)
        local dx, dy = z[1] - cx, z[2] - cy
        local e = z[4] - (m.atan(dy, dx) + dir * math.pi / 2)
        e = e - 2 * math.pi * m.floor((e + math.pi) / (2 * math.pi))
        return (m.sqrt(dx * dx + dy * dy) - R) ^ 2 + (z[3] - vref) ^ 2 / 30 + (10 / 30) * e ^ 2
      end
      local r = task:eval(t)
      local x = { r[1] + 0.2, r[2] - 0.1, 3.0, math.atan(r[4], r[3]) + 0.2 }
      local v, g = ad.gradient(cost, x)
      local cv, gx, gu = car:grad(x, { 0, 0 }, ref)
      assert.is_true(close(cv, v, 1e-12))
      for i = 1, 4 do assert.is_true(close(gx[i], g[i], 1e-10), "entry " .. i) end
      assert.are.same({ 0, 0 }, totable(gu, 2))
    end
  end)

  it("composes terms by chaining and sums them", function()
    local c = C.new { nx = 4, nu = 2 }
    c:radial { weight = 2 }
     :quadratic { index = { 1, 2, 5 }, target = { "x", "y", 0.1 }, W = { { 1, 0, 0 }, { 0, 2, 0 }, { 0, 0, 3 } } }
     :action { weight = 0.1 }
     :limit { weight = 5, index = 6, lo = -1, hi = 1 }
     :heading { mode = "ref", phi = 4 }
     :speed { v = 3, ref = 1 }
    assert.are.equal(6, #c)
    local x, u, ref = { 1, 2, 3, 0.2 }, { 0.5, 1.5 }, task:ref(2.0)
    local terms = c:terms(x, u, ref)
    local sum = 0
    for i = 1, 6 do sum = sum + terms[i] end
    assert.is_true(close(sum, c:value(x, u, ref), 1e-14))
    assert.is_true(close(terms[4], 5 * 0.25, 1e-14))   -- u[2] = 1.5 is 0.5 past its limit
    assert.is_true(close(terms[6], 4, 1e-14))          -- (3 - 1)^2
    -- gradients against central differences of value
    local v, gx, gu, gref = c:grad(x, u, ref)
    assert.are.equal(c:value(x, u, ref), v)
    local h = 1e-6
    for i = 1, 4 do
      local xp, xm = { table.unpack(x) }, { table.unpack(x) }
      xp[i], xm[i] = x[i] + h, x[i] - h
      assert.is_true(close(gx[i], (c:value(xp, u, ref) - c:value(xm, u, ref)) / (2 * h), 1e-6))
    end
    for i = 1, 2 do
      local up, um = { table.unpack(u) }, { table.unpack(u) }
      up[i], um[i] = u[i] + h, u[i] - h
      assert.is_true(close(gu[i], (c:value(x, up, ref) - c:value(x, um, ref)) / (2 * h), 1e-6))
    end
    assert.are.equal(10, #gref)
  end)

  it("makes terminal costs that take no action", function()
    local c = C.new { nx = 4 }:radial {}
    local ref = task:ref(1.0)
    local v, gx, gu = c:grad({ 3.5, 0, 0, 0 }, nil, ref)
    assert.is_true(close(v, 0.25))
    assert.is_true(close(gx[1], 1.0))
    assert.is_nil(gu)
    assert.has_error(function() c:value({ 3.5, 0, 0, 0 }, { 1 }, ref) end,
      "bad argument #2 to 'value' (expected nil for a terminal cost, got table)")
    assert.has_error(function() c:action {} end,
      "calling 'action' on bad self (expected a cost with actions, got a terminal cost (nu = 0))")
  end)

  -- a method call does not count self, as in Lua's own messages: c:value(x, ...) -> #1 is x
  it("refuses bad arguments with messages saying what was expected", function()
    local c = C.new { nx = 4, nu = 2 }:radial {}
    local ref = task:ref(0)
    assert.has_error(function() c:value({ 1, 2, 3 }, { 0, 0 }, ref) end,
      "bad argument #1 to 'value' (expected a state of length 4, got 3)")
    assert.has_error(function() c:grad({ 1, 2, 3, 4 }, { 0 }, ref) end,
      "bad argument #2 to 'grad' (expected an action of length 2, got 1)")
    assert.has_error(function() c:value({ 1, 2, 3, 4 }, { 0, 0 }, { 1, 2 }) end,
      "bad argument #3 to 'value' (expected a task reference (task:ref(t)) of length 10, got 2)")
    assert.has_error(function() c:quadratic { index = { 1, 9 } } end,
      "bad argument #1 to 'quadratic' (field 'index[2]': expected an integer in [1, 6], got 9)")
    assert.has_error(function() c:quadratic { index = { 1 }, target = { "z" } } end,
      "bad argument #1 to 'quadratic' (field 'target[1]': expected a number or one of x, y, "
        .. "xdot, ydot, xddot, yddot, cx, cy, radius, got 'z')")
    assert.has_error(function() c:quadratic { index = { 1, 2 }, W = { { 1 } } } end,
      "bad argument #1 to 'quadratic' (field 'W': expected a matrix of shape (2, 2), got 1x1)")
    assert.has_error(function() c:limit { lo = 0 } end,
      "bad argument #1 to 'limit' (field 'index': expected an integer in [1, 6], got nil)")
    assert.has_error(function() c:limit { index = 1, lo = 1, hi = 0 } end,
      "bad argument #1 to 'limit' (expected lo <= hi, got 1.0 and 0.0)")
    assert.has_error(function() c:heading { mode = "north" } end,
      "bad argument #1 to 'heading' (field 'mode': expected one of 'circle', 'ref', got 'north')")
    assert.has_error(function() c:radial { x = 7 } end,
      "bad argument #1 to 'radial' (field 'x': expected an integer in [1, 6], got 7)")
    assert.has_error(function() C.new { nx = 0 } end,
      "bad argument #1 to 'new' (field 'nx': expected an integer in [1, 1000000], got 0)")
    assert.has_error(function() c:radial { x = 1, weight = "1" } end,
      "bad argument #1 to 'radial' (field 'weight': expected a number, got string)")
    assert.are.equal(1, #c)   -- nothing was added by the refused calls
  end)
end)
