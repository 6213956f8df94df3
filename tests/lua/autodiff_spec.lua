-- autodiff_spec.lua: lua/spinal/autodiff.lua against central finite differences (every operator
-- and math function, several seeds), compositions, a user-style cost, the accel unicycle
-- written in Lua against its hand Jacobians, subgradients at kinks, and errors.
local ad = require "spinal.autodiff"
local m = ad.math

local SEEDS = { 1, 2, 3, 4, 5 }
local H = 1e-6

-- central-difference gradient of f: R^n -> R at x
local function fd_gradient(f, x)
  local g = {}
  for i = 1, #x do
    local xp, xm = {}, {}
    for j = 1, #x do xp[j], xm[j] = x[j], x[j] end
    xp[i], xm[i] = x[i] + H, x[i] - H
    g[i] = (f(xp) - f(xm)) / (2 * H)
  end
  return g
end

local function close(a, b, tol)
  tol = tol or 1e-6
  return math.abs(a - b) <= tol * (1 + math.abs(a) + math.abs(b))
end

-- the gradient from AD equals the FD gradient and the value equals the plain evaluation
local function check_against_fd(f, x, tol)
  local v, g = ad.gradient(f, x)
  assert.is_true(close(v, f(x), 1e-14), "value " .. v .. " vs " .. f(x))
  local fd = fd_gradient(f, x)
  for i = 1, #x do
    assert.is_true(close(g[i], fd[i], tol),
      string.format("d/dx%d: ad %.12g fd %.12g at x = {%s}", i, g[i], fd[i], table.concat(x, ", ")))
  end
end

local function uniform(lo, hi) return lo + (hi - lo) * math.random() end

describe("spinal.autodiff", function()
  describe("operators", function()
    local binary = {
      ["+"] = function(a, b) return a + b end,
      ["-"] = function(a, b) return a - b end,
      ["*"] = function(a, b) return a * b end,
      ["/"] = function(a, b) return a / b end,
      ["^"] = function(a, b) return a ^ b end,
      ["%"] = function(a, b) return a % b end,
    }
    for name, op in pairs(binary) do
      it("differentiates " .. name .. " between duals and with numbers on either side", function()
        for _, seed in ipairs(SEEDS) do
          math.randomseed(seed)
          -- positive operands keep ^ real; b away from 0 keeps / finite
          local x = { uniform(0.5, 2), uniform(0.5, 2) }
          local c = uniform(0.5, 2)
          check_against_fd(function(z) return op(z[1], z[2]) end, x)
          check_against_fd(function(z) return op(z[1], c) end, x)
          check_against_fd(function(z) return op(c, z[2]) end, x)
          check_against_fd(function(z) return op(op(z[1], z[2]), z[1]) end, x)
        end
      end)
    end

    it("gives floor division as a plain number and wraps angles with %", function()
      local q
      local v, g = ad.gradient(function(z)
        q = z[1] // z[2]
        return (z[1] + math.pi) % (2 * math.pi) - math.pi
      end, { 7.0, 2.0 })
      assert.are.equal(3, q)
      assert.is_true(close(v, 7 - 2 * math.pi, 1e-14))
      assert.are.same({ 1, 0 }, g)
    end)

    it("differentiates unary minus", function()
      for _, seed in ipairs(SEEDS) do
        math.randomseed(seed)
        check_against_fd(function(z) return -z[1] * z[2] end, { uniform(-2, 2), uniform(-2, 2) })
      end
    end)

    it("differentiates integer powers of negative and zero bases", function()
      local v, g = ad.gradient(function(z) return z[1] ^ 3 + z[2] ^ 2 end, { -1.5, 0.0 })
      assert.is_true(close(v, -3.375, 1e-14))
      assert.is_true(close(g[1], 3 * 2.25, 1e-14))
      assert.are.equal(0, g[2])
    end)

    it("compares values between duals and numbers", function()
      local seen = {}
      ad.gradient(function(z)
        seen.lt = z[1] < z[2]
        seen.le = z[1] <= 1
        seen.gt = 2 > z[1]
        seen.ge = z[2] >= 3
        seen.eq = z[1] == z[1] * 1
        return z[1]
      end, { 1, 2 })
      assert.is_true(seen.lt)
      assert.is_true(seen.le)
      assert.is_true(seen.gt)
      assert.is_false(seen.ge)
      assert.is_true(seen.eq)
    end)
  end)

  describe("math functions", function()
    local cases = {
      { "sin", function(z) return m.sin(z[1]) end, -3, 3 },
      { "cos", function(z) return m.cos(z[1]) end, -3, 3 },
      { "tan", function(z) return m.tan(z[1]) end, -1.2, 1.2 },
      { "asin", function(z) return m.asin(z[1]) end, -0.9, 0.9 },
      { "acos", function(z) return m.acos(z[1]) end, -0.9, 0.9 },
      { "exp", function(z) return m.exp(z[1]) end, -2, 2 },
      { "log", function(z) return m.log(z[1]) end, 0.1, 5 },
      { "log with a base", function(z) return m.log(z[1], 10) end, 0.1, 5 },
      { "log with a dual base", function(z) return m.log(z[1], z[1] + 2) end, 0.1, 5 },
      { "sqrt", function(z) return m.sqrt(z[1]) end, 0.1, 5 },
      { "abs", function(z) return m.abs(z[1]) end, -3, 3 },
      { "tanh", function(z) return m.tanh(z[1]) end, -3, 3 },
      { "sinh", function(z) return m.sinh(z[1]) end, -2, 2 },
      { "cosh", function(z) return m.cosh(z[1]) end, -2, 2 },
      { "atan of one argument", function(z) return m.atan(z[1]) end, -3, 3 },
      { "atan(y, x)", function(z) return m.atan(z[1], z[1] - 2.5) end, -3, 3 },
      { "atan(y, number)", function(z) return m.atan(z[1], -0.7) end, -3, 3 },
      { "atan(number, x)", function(z) return m.atan(0.4, z[1]) end, -3, 3 },
      { "min", function(z) return m.min(z[1], 0.3, z[1] * z[1]) end, -3, 3 },
      { "max", function(z) return m.max(z[1], 0.3, -z[1]) end, -3, 3 },
      { "clamp", function(z) return m.clamp(2 * z[1], -1, z[1] + 1.5) end, -3, 3 },
      { "floor", function(z) return m.floor(z[1]) * z[1] end, -3, 3 },
      { "ceil", function(z) return m.ceil(z[1]) + z[1] end, -3, 3 },
    }
    for _, case in ipairs(cases) do
      local name, f, lo, hi = case[1], case[2], case[3], case[4]
      it("differentiates " .. name .. " at random points", function()
        for _, seed in ipairs(SEEDS) do
          math.randomseed(seed)
          for _ = 1, 10 do
            local x = { uniform(lo, hi) }
            -- stay away from kinks (abs, min, max, clamp, floor, ceil, the atan2 branch cut)
            local kinks = { 0, 0.3, -0.3, 1, -1, 2, -2, 3, -3, -0.5, 1.5, 0.5 }
            local near = false
            for _, k in ipairs(kinks) do near = near or math.abs(x[1] - k) < 1e-3 end
            if name == "atan(y, x)" and math.abs(x[1]) < 1e-2 then near = true end
            if not near then check_against_fd(f, x) end
          end
        end
      end)
    end

    it("works on plain numbers exactly as math does", function()
      assert.are.equal(math.sin(0.3), m.sin(0.3))
      assert.are.equal(math.atan(0.3, -2), m.atan(0.3, -2))
      assert.are.equal(math.log(8, 2), m.log(8, 2))
      assert.are.equal(3, m.max(1, 3, 2))
      assert.are.equal(math.pi, m.pi)
      assert.are.equal(math.huge, m.huge)
      assert.is_true(close(m.tanh(0.5), (math.exp(1) - 1) / (math.exp(1) + 1), 1e-15))
      assert.are.equal(1.0, m.tanh(50))
      assert.are.equal(0.75, m.clamp(0.75, -1, 1))
      assert.are.equal(1, m.clamp(3, -1, 1))
    end)

    it("uses the documented subgradients at kinks", function()
      local _, g = ad.gradient(function(z) return m.abs(z[1]) end, { 0 })
      assert.are.equal(0, g[1])
      _, g = ad.gradient(function(z) return m.sqrt(z[1] * z[1] + z[2] * z[2]) end, { 0, 0 })
      assert.are.same({ 0, 0 }, g)
      -- min and max follow the first argument on ties
      _, g = ad.gradient(function(z) return m.min(z[1], z[2]) end, { 1, 1 })
      assert.are.same({ 1, 0 }, g)
      _, g = ad.gradient(function(z) return m.max(z[2], z[1]) end, { 1, 1 })
      assert.are.same({ 0, 1 }, g)
      -- clamp passes x's derivative on the bounds, the bound's outside
      _, g = ad.gradient(function(z) return m.clamp(z[1], -1, 1) end, { 1 })
      assert.are.same({ 1 }, g)
      _, g = ad.gradient(function(z) return m.clamp(z[1], -1, z[2]) end, { 2, 1 })
      assert.are.same({ 0, 1 }, g)
      _, g = ad.gradient(function(z) return m.floor(z[1]) end, { 2.5 })
      assert.are.same({ 0 }, g)
      _, g = ad.gradient(function(z) return m.atan(z[1], z[2]) end, { 0, 0 })
      assert.are.same({ 0, 0 }, g)
    end)
  end)

  describe("compositions", function()
    it("differentiates a chain of compositions in several variables", function()
      local function f(z)
        local a = m.exp(m.sin(z[1] * z[2]) + m.sqrt(z[1] ^ 2 + z[3] ^ 2))
        local b = (1 + m.tanh(z[3] - z[4])) ^ 2
        return a / b + m.log(1 + z[4] ^ 2) * m.atan(z[2], z[1]) - m.cos(a / 10) ^ 3
      end
      for _, seed in ipairs(SEEDS) do
        math.randomseed(seed)
        local x = {}
        for i = 1, 4 do x[i] = uniform(0.2, 1.5) end
        check_against_fd(f, x, 1e-5)
      end
    end)

    it("gives the Jacobian of a vector function from one evaluation", function()
      local calls = 0
      local function f(z)
        calls = calls + 1
        return { z[1] * z[2], m.sin(z[3]) + z[1], 7, z[2] ^ 3 / z[3] }
      end
      for _, seed in ipairs(SEEDS) do
        math.randomseed(seed)
        local x = { uniform(0.5, 2), uniform(0.5, 2), uniform(0.5, 2) }
        calls = 0
        local y, J = ad.jacobian(f, x)
        assert.are.equal(1, calls)
        assert.are.equal(4, #y)
        assert.are.equal(7, y[3])
        for i = 1, 4 do
          local fd = fd_gradient(function(z) return f(z)[i] end, x)
          for j = 1, 3 do assert.is_true(close(J[i][j], fd[j]), i .. "," .. j) end
        end
      end
    end)

    it("accepts a spinal.array as the point", function()
      local x = require("spinal.array").new { 1, 2, 3 }
      local v, g = ad.gradient(function(z) return z[1] * z[2] * z[3] end, x)
      assert.are.equal(6, v)
      assert.are.same({ 6, 3, 2 }, g)
    end)

    it("treats a scalar output of jacobian as one row", function()
      local y, J = ad.jacobian(function(z) return z[1] * z[2] end, { 2, 3 })
      assert.are.same({ 6 }, y)
      assert.are.same({ { 3, 2 } }, J)
    end)

    it("differentiates a user-style tracking cost written with ad.math", function()
      -- method 1's car cost, written as a user would in a script
      local R, vref = 1.5, 6 * math.pi / 5.5
      local function cost(z)
        local px, py, v, phi, cx = z[1], z[2], z[3], z[4], z[5]
        local dx, dy = px - cx, py
        local r = m.sqrt(dx * dx + dy * dy)
        local des = m.atan(dy, dx) - math.pi / 2
        local e = phi - des
        e = e - 2 * math.pi * m.floor((e + math.pi) / (2 * math.pi))
        return (r - R) ^ 2 + (v - vref) ^ 2 / 30 + (10 / 30) * e ^ 2
      end
      -- the hand-computed point of the C test: 0.5 m outside, 0.3 rad off, speed 2
      local v = ad.gradient(cost, { 3.5, 0, 2, -math.pi / 2 + 0.3, 1.5 })
      assert.is_true(close(v, 0.25 + (2 - vref) ^ 2 / 30 + 0.03, 1e-12))
      for _, seed in ipairs(SEEDS) do
        math.randomseed(seed)
        local x = { uniform(2, 3.5), uniform(-1, 1), uniform(0, 4), uniform(-1, 1), 1.5 }
        check_against_fd(cost, x)
      end
    end)
  end)

  describe("a model written in Lua", function()
    -- accel-input unicycle (METHODS.md method 1), one Euler step, with gains p = (kv, kw):
    --   x+ = x + v cos(phi) dt, y+ = y + v sin(phi) dt, v+ = v + kv u1 dt, phi+ = phi + kw v u2 dt
    local dt = 0.02
    local function step(x, u, p)
      local v, phi = x[3], x[4]
      return {
        x[1] + v * m.cos(phi) * dt,
        x[2] + v * m.sin(phi) * dt,
        v + p[1] * u[1] * dt,
        phi + p[2] * v * u[2] * dt,
      }
    end

    it("has Jacobians equal to the hand-derived ones", function()
      for _, seed in ipairs(SEEDS) do
        math.randomseed(seed)
        local x = { uniform(-2, 2), uniform(-2, 2), uniform(0, 3), uniform(-3, 3) }
        local u = { uniform(-1, 1), uniform(-1, 1) }
        local p = { uniform(0.5, 2), uniform(0.5, 2) }
        local y, A, B, P = ad.linearize(step, x, u, p)
        local v, phi, c, s = x[3], x[4], math.cos(x[4]), math.sin(x[4])
        local Ah = {
          { 1, 0, c * dt, -v * s * dt },
          { 0, 1, s * dt, v * c * dt },
          { 0, 0, 1, 0 },
          { 0, 0, p[2] * u[2] * dt, 1 },
        }
        local Bh = { { 0, 0 }, { 0, 0 }, { p[1] * dt, 0 }, { 0, p[2] * v * dt } }
        local Ph = { { 0, 0 }, { 0, 0 }, { u[1] * dt, 0 }, { 0, v * u[2] * dt } }
        assert.is_true(close(y[4], phi + p[2] * v * u[2] * dt, 1e-15))
        for i = 1, 4 do
          for j = 1, 4 do assert.is_true(close(A[i][j], Ah[i][j], 1e-14), "A" .. i .. j) end
          for j = 1, 2 do
            assert.is_true(close(B[i][j], Bh[i][j], 1e-14), "B" .. i .. j)
            assert.is_true(close(P[i][j], Ph[i][j], 1e-14), "P" .. i .. j)
          end
        end
      end
    end)

    it("linearizes without parameters when p is nil", function()
      local y, A, B, P = ad.linearize(function(x, u) return { x[1] * u[1] } end, { 2 }, { 3 })
      assert.are.same({ 6 }, y)
      assert.are.same({ { 3 } }, A)
      assert.are.same({ { 2 } }, B)
      assert.is_nil(P)
    end)

    it("does not modify the inputs", function()
      local x, u, p = { 1, 2, 3, 0.5 }, { 0.1, -0.2 }, { 1, 1 }
      ad.linearize(step, x, u, p)
      assert.are.same({ 1, 2, 3, 0.5 }, x)
      assert.are.same({ 0.1, -0.2 }, u)
      assert.are.same({ 1, 1 }, p)
    end)
  end)

  describe("errors", function()
    it("says what f returned when it is not a number", function()
      assert.has_error(function() ad.gradient(function() return "x" end, { 1 }) end,
        "gradient: f must return a number, got string")
      assert.has_error(function() ad.gradient(function() end, { 1 }) end,
        "gradient: f must return a number, got nil")
      assert.has_error(function() ad.gradient(function(z) return { z[1] } end, { 1 }) end,
        "gradient: f must return a number, got a table (use ad.jacobian for vector outputs)")
      assert.has_error(function() ad.jacobian(function(z) return { z[1], "b" } end, { 1 }) end,
        "jacobian: f must return a table of numbers, entry 2 is a string")
      assert.has_error(function() ad.jacobian(function() return true end, { 1 }) end,
        "jacobian: f must return a number or a table of numbers, got boolean")
    end)

    it("rejects inputs that are not tables of numbers", function()
      assert.has_error(function() ad.gradient(function(z) return z[1] end, 3) end,
        "bad argument #2 to 'gradient' (expected a table of numbers, got number)")
      assert.has_error(function() ad.gradient(function(z) return z[1] end, { 1, "a" }) end,
        "bad argument #2 to 'gradient' (expected a table of numbers, entry 2 is a string)")
      assert.has_error(function() ad.linearize(function(x) return x end, { 1 }, nil) end,
        "bad argument #3 to 'linearize' (expected a table of numbers, got nil)")
    end)

    it("refuses arithmetic between a dual and a non-number", function()
      local ok, err = pcall(ad.gradient, function(z) return z[1] + {} end, { 1 })
      assert.is_false(ok)
      assert.truthy(err:find("attempt to perform arithmetic %(%+%) on a table value"))
    end)

    it("refuses to mix duals of different tangent sizes", function()
      local a, b = ad.dual(1, { 1, 0 }), ad.dual(2, { 1 })
      local ok, err = pcall(function() return a + b end)
      assert.is_false(ok)
      assert.truthy(err:find("duals with 2 and 1 tangents mixed", 1, true))
    end)
  end)

  it("prints duals with their tangents", function()
    assert.are.equal("dual(1.5; 1, 0)", tostring(ad.dual(1.5, { 1, 0 })))
    assert.are.equal(1.5, ad.value(ad.dual(1.5, { 1 })))
    assert.are.equal(2, ad.value(2))
    assert.is_true(ad.isdual(ad.dual(0, {})))
    assert.is_false(ad.isdual(0))
  end)
end)
