-- rng_spec.lua: spinal.rng from Lua: reproducible streams, ranges and argument checks.
local R = require "spinal.rng"

local function draws(g, n, method, ...)
  local t = {}
  for i = 1, n do t[i] = g[method](g, ...) end
  return t
end

describe("spinal.rng", function()
  it("repeats exactly for the same seed and stream", function()
    for _, seed in ipairs{0, 1, 123456789} do
      assert.same(draws(R.new(seed, 5), 50, "normal"), draws(R.new(seed, 5), 50, "normal"))
    end
  end)

  it("gives different sequences on different streams and seeds", function()
    local a = draws(R.new(42, 0), 20, "uniform")
    local b = draws(R.new(42, 1), 20, "uniform")
    local c = draws(R.new(43, 0), 20, "uniform")
    for i = 1, 20 do
      assert.are_not.equal(a[i], b[i])
      assert.are_not.equal(a[i], c[i])
    end
  end)

  it("reseeds to restart a sequence", function()
    local g = R.new(3, 2)
    local first = draws(g, 10, "uniform")
    g:seed(3, 2)
    assert.same(first, draws(g, 10, "uniform"))
  end)

  it("draws uniform numbers in their interval and integers in 1..n", function()
    for seed = 1, 3 do
      local g = R.new(seed)
      local seen = {}
      for _ = 1, 2000 do
        local u = g:uniform(-2, 3)
        assert.is_true(u >= -2 and u < 3)
        local k = g:integer(6)
        assert.is_true(math.type(k) == "integer" and k >= 1 and k <= 6)
        seen[k] = true
      end
      for k = 1, 6 do assert.is_true(seen[k]) end
    end
  end)

  it("draws normals with the requested mean and spread", function()
    for seed = 1, 3 do
      local g = R.new(seed, 7)
      local n, s, ss = 20000, 0, 0
      for _ = 1, n do
        local x = g:normal(2, 0.5)
        s, ss = s + x, ss + x * x
      end
      local mean = s / n
      local sd = math.sqrt(ss / n - mean * mean)
      assert.is_true(math.abs(mean - 2) < 5 * 0.5 / math.sqrt(n))
      assert.is_true(math.abs(sd - 0.5) < 0.02)
    end
  end)

  it("rejects bad arguments saying what it expected", function()
    local g = R.new(1)
    local ok, err = pcall(function() return g:integer(0) end)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'integer' (expected an integer >= 1, got 0)", err, 1, true)
    ok, err = pcall(function() return R.new(-1) end)
    assert.is_false(ok)
    assert.matches("expected a non-negative integer, got -1", err, 1, true)
    ok, err = pcall(function() return g:normal(0, -1) end)
    assert.is_false(ok)
    assert.matches("expected a standard deviation >= 0", err, 1, true)
  end)
end)
