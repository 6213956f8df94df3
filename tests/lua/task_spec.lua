-- task_spec.lua: the spinal.task binding (lua/bind/task.c): generators from option tables,
-- evaluation into arrays, the cost reference, progress with a hint, sampling Lua functions, and
-- argument errors.
local T = require "spinal.task"

local function close(a, b, tol) return math.abs(a - b) <= (tol or 1e-9) * (1 + math.abs(b)) end

describe("spinal.task", function()
  it("builds method 1's figure-eight with R = 1.5 and T = 5.5 by default", function()
    local task = T.figure_eight()
    assert.are.equal("figure_eight", task:name())
    assert.are.equal(5.5, task:period())
    local r = task:eval(5.5 / 8)          -- an eighth of a lap: the top of the right circle
    assert.is_true(close(r[1], 1.5))
    assert.is_true(close(r[2], 1.5))
    assert.is_true(close(math.sqrt(r[3] ^ 2 + r[4] ^ 2), 4 * math.pi * 1.5 / 5.5))
    assert.truthy(tostring(task):find("spinal.task figure_eight", 1, true))
  end)

  it("returns the time derivative of the reference with eval", function()
    local task = T.figure_eight { radius = 2, period = 8 }
    for _, t in ipairs { 0.3, 1.7, 5.2 } do
      local r, d = task:eval(t)
      local rp, rm = task:eval(t + 1e-6), task:eval(t - 1e-6)
      for i = 1, 6 do assert.is_true(close(d[i], (rp[i] - rm[i]) / 2e-6, 1e-6)) end
      assert.are.equal(r[3], d[1])
    end
    local r, ds = task:eval_s(0.3)
    local _, dt = task:eval(0.3 * 8)
    assert.is_true(close(ds[2], 8 * dt[2]))
    assert.is_true(close(r[1], task:eval(2.4)[1]))
  end)

  it("packs the active circle into the cost reference", function()
    local task = T.figure_eight()
    local ref, ok = task:ref(4.0)           -- second half: the left circle, counter-clockwise
    assert.is_true(ok)
    assert.are.equal(10, #ref)
    assert.are.same({ -1.5, 0, 1.5, 1 }, { ref[7], ref[8], ref[9], ref[10] })
    assert.are.same({ -1.5, 0, 1.5, 1 }, { task:circle(4.0) })
    assert.are.same({ 1.5, 0, 1.5, -1 }, { task:circle(1.0) })
  end)

  it("says when a reference has no active circle", function()
    local task = T.lemniscate { a = 2, period = 10 }
    local ref, ok = task:ref(0)
    assert.is_false(ok)
    assert.are.equal(0, ref[9])
    local c, msg = task:circle(0)
    assert.is_nil(c)
    assert.are.equal("circle: the reference has no osculating circle at t = 0.0", msg)
  end)

  it("tracks progress through the crossing with the hint", function()
    local task = T.figure_eight()
    assert.is_true(math.abs(task:progress(0.02, 0.05, 0.49) - 0.5) < 0.02)
    assert.is_true(task:progress(0.02, 0.05) < 0.1)
    local s = nil
    for k = 0, 275 do
      local r = task:eval_s(k / 275)
      s = task:progress(r[1], r[2], s)
      local e = math.abs(s - (k / 275) % 1)
      assert.is_true(math.min(e, 1 - e) < 1e-9)
    end
    assert.are.same({ T.phase_features(0.25) }, { math.cos(math.pi / 2), 1.0 })
  end)

  it("builds circles, lemniscates and sampled references", function()
    local c = T.circle { center = { 1, 2 }, radius = 3, period = 6, dir = -1, angle0 = 0 }
    local r = c:eval(0)
    assert.is_true(close(r[1], 4) and close(r[2], 2))
    assert.is_true(r[4] < 0)                -- clockwise from the rightmost point: heading -y
    local s = T.sampled { t = { 0, 1, 3 }, xy = { { 0, 0 }, { 1, 1 }, { 3, 0 } }, interp = "linear" }
    r = s:eval(2)
    assert.is_true(close(r[1], 2) and close(r[2], 0.5))
    assert.are.equal(3, s:period())
  end)

  it("samples a Lua function into a closed cubic reference", function()
    local task = T.sample(function(t) return 2 * math.cos(t), 2 * math.sin(t) end,
      { t0 = 0, t1 = 2 * math.pi, n = 129, periodic = true })
    local cx, cy, R, dir = task:circle(1.0)
    -- the spline's curvature is second-order accurate in the knot spacing (2 pi / 128)
    assert.is_true(math.abs(cx) < 1e-3 and math.abs(cy) < 1e-3)
    assert.is_true(close(R, 2, 1e-3))
    assert.are.equal(1, dir)
  end)

  it("refuses bad options with messages saying what was expected", function()
    assert.has_error(function() T.figure_eight { radius = -1 } end,
      "bad argument #1 to 'figure_eight' (field 'radius': expected a number > 0, got -1)")
    assert.has_error(function() T.figure_eight { period = "fast" } end,
      "bad argument #1 to 'figure_eight' (field 'period': expected a number > 0, got string)")
    assert.has_error(function() T.figure_eight(3) end,
      "bad argument #1 to 'figure_eight' (expected a table of options, got number)")
    assert.has_error(function() T.sample(function(t) return t, t end, { t1 = 1, periodic = 1 }) end,
      "bad argument #2 to 'sample' (field 'periodic': expected a boolean, got number)")
    assert.has_error(function() T.circle { dir = 0 } end,
      "bad argument #1 to 'circle' (field 'dir': expected 1 or -1, got 0)")
    assert.has_error(function() T.sampled { t = { 0, 1, 1 }, xy = { { 0, 0 }, { 1, 1 }, { 2, 2 } } } end,
      "sampled: expected strictly increasing times, got t[3] = 1.0 after 1.0")
    assert.has_error(function()
      T.sampled { t = { 0, 1, 2, 3 }, xy = { { 0, 0 }, { 1, 1 }, { 2, 2 }, { 3, 3 } }, periodic = true }
    end, "sampled: expected a closed path (last knot equal to the first) for a periodic task")
    assert.has_error(function() T.sampled { t = { 0, 1 }, xy = { { 0, 0 }, { 1, 1 }, { 2, 2 } } } end,
      "bad argument #1 to 'sampled' (field 'xy': expected an array of shape (2, 2), got 3x2)")
    assert.has_error(function() T.sample(function() return 1 end, { t1 = 1 }) end,
      "sample: expected f(t) to return two numbers x, y, got number and nil at t = 0.0")
    assert.has_error(function() T.sample(function(t) return t, 0 end, { t1 = 1, periodic = true }) end,
      "sample: expected f(t1) == f(t0) for a periodic path, they differ by 1.0")
    assert.has_error(function() T.figure_eight():progress(0, 0, 0.1, 0.9) end,
      "bad argument #4 to 'progress' (expected a window <= 0.5 of a lap, got 0.9)")
  end)

  it("can be closed early and then refuses use", function()
    local task = T.figure_eight()
    task:close()
    assert.are.equal("spinal.task (closed)", tostring(task))
    assert.has_error(function() task:eval(0) end,
      "calling 'eval' on bad self (expected a spinal.task, got a closed task)")
  end)
end)
