-- model_spec.lua: the spinal.model binding (lua/bind/model.c).
local M = require "spinal.model"
local A = require "spinal.array"

local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local function close(a, b, tol)
  return math.abs(a - b) <= (tol or 1e-12) * math.max(1, math.abs(a), math.abs(b))
end

-- central differences of the step in x (which = "x") or u (which = "u"): an nx x n table
local function step_fd(m, x, u, which)
  local z = which == "x" and x or u
  local J = {}
  for i = 1, m.nx do J[i] = {} end
  for j = 1, #z do
    local z0, h = z[j], 1e-6 * math.max(1, math.abs(z[j]))
    z[j] = z0 + h
    local a = m:step(x, u)
    z[j] = z0 - h
    local b = m:step(x, u)
    z[j] = z0
    for i = 1, m.nx do J[i][j] = (a[i] - b[i]) / (2 * h) end
  end
  return J
end

describe("spinal.model", function()
  it("lists every built-in model and describes each by name", function()
    local names = {}
    for _, n in ipairs(M.list()) do names[n] = true end
    for _, n in ipairs { "unicycle_accel", "car_drag", "unicycle_vel", "bicycle_kin",
                         "bicycle_dyn", "pendulum", "double_pendulum", "cartpole" } do
      assert.is_true(names[n], n)
      local info = M.info(n)
      assert.equal(n, info.name)
      assert.equal(info.np, #info.p_names)
      for _, p in ipairs(info.p_names) do assert.is_number(info.defaults[p]) end
    end
    local none, msg = M.info("no_such_model")
    assert.is_nil(none)
    assert.matches("no model named 'no_such_model'", msg, 1, true)
  end)

  it("creates a model with parameters by name and options, defaults elsewhere", function()
    local m = M.new("car_drag", { c_d = 0.3 }, { dt = 0.02, integrator = "euler", substeps = 2 })
    assert.equal(4, m.nx)
    assert.equal(2, m.nu)
    assert.equal(4, m.np)
    assert.equal(0.3, m.params.c_d)
    assert.equal(11.25, m.params.k_a)
    assert.equal(0.02, m.dt)
    assert.equal("euler", m.integrator)
    assert.equal(2, m.substeps)
    assert.same({ "px", "py", "v", "phi" }, m.x_names)
    local d = M.new("pendulum")
    assert.equal("rk4", d.integrator)
    assert.equal(1, d.substeps)
    assert.equal(0.01, d.dt)
    assert.matches("spinal.model car_drag", tostring(m), 1, true)
  end)

  it("steps unicycle_accel with Euler exactly as the paper's discrete car model", function()
    local dt = 0.02
    local m = M.new("unicycle_accel", nil, { dt = dt, integrator = "euler" })
    local x, u = { 0.5, -1, 1.3, 0.7 }, { 0.4, -0.2 }
    local xn = m:step(x, u)
    assert.is_true(A.is_array(xn))
    assert.equal(x[1] + x[3] * math.cos(x[4]) * dt, xn[1])
    assert.equal(x[2] + x[3] * math.sin(x[4]) * dt, xn[2])
    assert.equal(x[3] + u[1] * dt, xn[3])
    assert.equal(x[4] + x[3] * u[2] * dt, xn[4])
  end)

  it("accepts arrays as well as tables, and a number for a single action", function()
    local m = M.new("pendulum", nil, { dt = 0.05 })
    local a = m:step(A.new { 0.3, -0.1 }, A.new { 0.5 })
    local b = m:step({ 0.3, -0.1 }, 0.5)
    assert.equal(a[1], b[1])
    assert.equal(a[2], b[2])
  end)

  it("returns step Jacobians that match finite differences", function()
    for _, name in ipairs { "unicycle_accel", "double_pendulum", "bicycle_kin" } do
      local m = M.new(name, nil, { dt = 0.05, substeps = 2 })
      local x, u = {}, {}
      for i = 1, m.nx do x[i] = 0.3 * i - 0.5 end
      for i = 1, m.nu do u[i] = 0.2 * i - 0.1 end
      local Ax, Bu, P, xn = m:jac(x, u)
      assert.same({ m.nx, m.nx }, Ax.shape)
      assert.same({ m.nx, m.nu }, Bu.shape)
      assert.same({ m.nx, m.np }, P.shape)
      local s = m:step(x, u)
      for i = 1, m.nx do assert.equal(s[i], xn[i]) end
      local dA, dB = step_fd(m, x, u, "x"), step_fd(m, x, u, "u")
      for i = 1, m.nx do
        for j = 1, m.nx do assert.is_true(close(Ax[i][j], dA[i][j], 1e-6), name) end
        for j = 1, m.nu do assert.is_true(close(Bu[i][j], dB[i][j], 1e-6), name) end
      end
    end
  end)

  it("returns the transposed products A^T g, B^T g, P^T g from vjp", function()
    local m = M.new("cartpole", nil, { dt = 0.02 })
    local x, u, g = { 0.1, 0.4, -0.3, 0.2 }, { 1.5 }, { 1, -2, 0.5, 3 }
    local Ax, Bu, P = m:jac(x, u)
    local gx, gu, gp = m:vjp(x, u, g)
    for j = 1, m.nx do
      local e = 0
      for i = 1, m.nx do e = e + Ax[i][j] * g[i] end
      assert.is_true(close(gx[j], e))
    end
    local e = 0
    for i = 1, m.nx do e = e + Bu[i][1] * g[i] end
    assert.is_true(close(gu[1], e))
    for j = 1, m.np do
      e = 0
      for i = 1, m.nx do e = e + P[i][j] * g[i] end
      assert.is_true(close(gp[j], e))
    end
  end)

  it("gives the continuous-time dynamics and their Jacobians", function()
    local m = M.new("pendulum", { m = 2, l = 0.5, g = 10, b = 0.1 })
    local xd = m:f({ 0.3, -1 }, 0.4)
    assert.is_true(close(xd[1], -1))
    assert.is_true(close(xd[2], (0.4 + 0.1) / (2 * 0.25) + 10 / 0.5 * math.sin(0.3)))
    local fx, fu, fp = m:f_jac({ 0, 0 }, 0)
    assert.same({ { 0, 1 }, { 20, -0.1 / 0.5 } }, fx:totable())
    assert.same({ { 0 }, { 1 / 0.5 } }, fu:totable())
    assert.same({ 2, 4 }, fp.shape)
  end)

  it("does not change its inputs", function()
    local m = M.new("unicycle_accel")
    local x, u = A.new { 1, 2, 3, 0.5 }, { 0.1, 0.2 }
    m:step(x, u)
    m:jac(x, u)
    m:vjp(x, u, { 1, 1, 1, 1 })
    assert.same({ 1, 2, 3, 0.5 }, x:totable())
    assert.same({ 0.1, 0.2 }, u)
  end)

  it("changes parameters by name and changes the dynamics with them", function()
    local m = M.new("unicycle_accel", nil, { integrator = "euler", dt = 0.1 })
    m:set_param("k_a", 3)
    assert.equal(3, m.params.k_a)
    assert.equal(3, m:get_param("k_a"))
    local xn = m:step({ 0, 0, 0, 0 }, { 1, 0 })
    assert.is_true(close(xn[3], 0.3))
  end)

  it("lets dt, integrator and substeps be assigned, and checks them", function()
    local m = M.new("pendulum")
    m.dt = 0.05
    m.integrator = "euler"
    m.substeps = 4
    assert.equal(0.05, m.dt)
    assert.equal("euler", m.integrator)
    assert.equal(4, m.substeps)
    assert.matches("expected dt a positive number, got 0",
                   error_of(function() m.dt = 0 end), 1, true)
    assert.matches("expected integrator 'euler' or 'rk4', got midpoint",
                   error_of(function() m.integrator = "midpoint" end), 1, true)
    assert.matches("expected substeps a positive integer, got 0",
                   error_of(function() m.substeps = 0 end), 1, true)
    assert.matches("cannot set field 'nx'", error_of(function() m.nx = 3 end), 1, true)
    assert.equal(0.05, m.dt)
    assert.equal("euler", m.integrator)
    assert.equal(4, m.substeps)
  end)

  it("names expected and given lengths when a vector has the wrong size", function()
    local m = M.new("unicycle_accel")
    assert.matches("bad argument #1 to 'step' (expected a state of length 4, got 3)",
                   error_of(function() return m:step({ 1, 2, 3 }, { 0, 0 }) end), 1, true)
    assert.matches("bad argument #2 to 'jac' (expected an action of length 2, got 1)",
                   error_of(function() return m:jac({ 1, 2, 3, 4 }, { 0 }) end), 1, true)
    assert.matches(
      "bad argument #3 to 'vjp' (expected a gradient of the next state of length 4, got 2)",
      error_of(function() return m:vjp({ 1, 2, 3, 4 }, { 0, 0 }, { 1, 2 }) end), 1, true)
    assert.matches("expected a state of length 4, got string",
                   error_of(function() return m:step("x", { 0, 0 }) end), 1, true)
    assert.matches("expected a state of length 4, got an array of shape",
                   error_of(function() return m:step({ { 1, 2, 3, 4 } }, { 0, 0 }) end), 1, true)
  end)

  it("names the known models, parameters and options when given unknown ones", function()
    assert.matches("expected a model name (unicycle_accel, ", error_of(M.new, "nope"), 1, true)
    assert.matches("got 'nope'", error_of(M.new, "nope"), 1, true)
    assert.matches("expected parameters of pendulum (m, l, g, b), got 'zz'",
                   error_of(M.new, "pendulum", { zz = 1 }), 1, true)
    assert.matches("expected a number for parameter 'm', got string",
                   error_of(M.new, "pendulum", { m = "heavy" }), 1, true)
    assert.matches("(unknown option 'intgrator'; valid: dt, integrator, substeps)",
                   error_of(M.new, "pendulum", nil, { intgrator = "rk4" }), 1, true)
    assert.matches("(field 'dt': expected a number > 0, got -1)",
                   error_of(M.new, "pendulum", nil, { dt = -1 }), 1, true)
    local m = M.new("pendulum")
    assert.matches("bad argument #1 to 'set_param' (expected a parameter of pendulum (m, l, g, b), "
                   .. "got 'k'", error_of(function() m:set_param("k", 1) end), 1, true)
    assert.equal(1, m.params.m)
  end)

  it("refuses to step a closed model and closes with a to-be-closed variable", function()
    local m = M.new("pendulum")
    m:close()
    assert.matches("closed model", error_of(function() return m:step({ 0, 0 }, 0) end), 1, true)
    assert.equal("spinal.model (closed)", tostring(m))
    local outer
    do
      local c <close> = M.new("pendulum")
      outer = c
    end
    assert.equal("spinal.model (closed)", tostring(outer))
  end)
end)
