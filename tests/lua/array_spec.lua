-- array_spec.lua: the spinal.array binding as a user sees it: construction, 1-based indexing,
-- views sharing storage, broadcasting arithmetic, reductions, products, printing, NPY files
-- (including round trips through numpy) and the error messages for bad arguments.
local A = require "spinal.array"
local R = require "spinal.rng"

local PY = "/usr/bin/python3"

local function errmsg(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local function assert_error_matches(pattern, f, ...)
  local msg = errmsg(f, ...)
  assert(msg:find(pattern), ("error %q does not match %q"):format(msg, pattern))
end

local numpy_found
local function has_numpy()
  if numpy_found == nil then
    local p = io.popen(PY .. ' -c "import numpy" 2>&1; echo $?')
    numpy_found = p:read("a"):match("(%d+)%s*$") == "0"
    p:close()
  end
  return numpy_found
end

describe("construction", function()
  it("builds an array from nested tables with the table's shape", function()
    local a = A{ {1, 2, 3}, {4, 5, 6} }
    assert.same({2, 3}, a.shape)
    assert.equal(2, a.ndim)
    assert.same({ {1, 2, 3}, {4, 5, 6} }, a:totable())
    assert.same({1, 2}, A.new{1, 2}:totable())
  end)

  it("rejects ragged and non-numeric tables naming the place", function()
    assert_error_matches("expected a rectangular table, got length 1 at %[2%] where 2 was expected",
                         A.new, { {1, 2}, {3} })
    assert_error_matches("expected a number at %[1%]%[2%], got string", A.new, { {1, "x"} })
  end)

  it("makes zeros, ones, full, eye, arange and linspace", function()
    assert.same({ {0, 0, 0}, {0, 0, 0} }, A.zeros(2, 3):totable())
    assert.same({ {0, 0, 0}, {0, 0, 0} }, A.zeros{2, 3}:totable())
    assert.same({1, 1}, A.ones(2):totable())
    assert.same({ {7, 7} }, A.full({1, 2}, 7):totable())
    assert.same({ {1, 0}, {0, 1} }, A.eye(2):totable())
    assert.same({0, 1, 2}, A.arange(3):totable())
    assert.same({2, 4, 6}, A.arange(2, 8, 2):totable())
    assert.same({0, 0.25, 0.5, 0.75, 1}, A.linspace(0, 1, 5):totable())
  end)

  it("draws the same random arrays for the same seed and stream", function()
    for _, seed in ipairs{1, 7, 42} do
      local a = A.randn({3, 4}, R.new(seed, 2))
      local b = A.randn({3, 4}, R.new(seed, 2))
      local c = A.randn({3, 4}, R.new(seed, 3))
      assert.same(a:totable(), b:totable())
      assert.is_false(A.allclose(a, c))
      local u = A.rand(1000, R.new(seed))
      assert.is_true(u:min() >= 0 and u:max() < 1)
      assert.is_true(math.abs(u:mean() - 0.5) < 0.05)
    end
  end)

  it("requires a generator for random arrays", function()
    assert_error_matches("bad argument #2 to 'rand' %(expected a spinal.rng",
                         function() return A.rand({2}) end)
  end)
end)

describe("indexing", function()
  it("reads numbers from 1-D arrays and row views from 2-D arrays", function()
    local a = A{ {1, 2}, {3, 4} }
    assert.equal(3, a[2][1])
    assert.is_true(A.is_array(a[1]))
    assert.equal(2, a[-1].shape[1])
    assert.equal(4, a[-1][-1])
    assert.equal(2, #a)
  end)

  it("assigns elements, rows from numbers and rows from arrays", function()
    local a = A.zeros(2, 3)
    a[1][2] = 5
    a[2] = 1
    assert.same({ {0, 5, 0}, {1, 1, 1} }, a:totable())
    a[1] = {7, 8, 9}
    assert.same({7, 8, 9}, a[1]:totable())
    a:set(2, 3, -1)
    assert.equal(-1, a:get(2, 3))
  end)

  it("raises an error rather than crashing out of range", function()
    local a = A.zeros(2, 3)
    assert_error_matches("index 3 out of range for dimension 1 of size 2",
                         function() return a[3] end)
    assert_error_matches("index 0 out of range", function() return a[0] end)
    assert_error_matches(
      "bad argument #2 to 'get' %(index 4 out of range for dimension 2 of size 3%)",
                         function() return a:get(1, 4) end)
    assert_error_matches("bad argument #2 to 'get' %(expected 2 indices for a 2%-D array, got 1%)",
                         function() return a:get(1) end)
    assert_error_matches("expected a number", function() local v = A.zeros(2); v[1] = "x" end)
  end)
end)

describe("views", function()
  it("share storage with the original in both directions", function()
    local a = A.arange(12):reshape(3, 4)
    local n = a:narrow(2, 2, 2)
    local s = a:select(1, 3)
    local t = a:t()
    assert.same({ {1, 2}, {5, 6}, {9, 10} }, n:totable())
    n[1][1] = 100
    assert.equal(100, a:get(1, 2))
    assert.equal(100, t:get(2, 1))
    a:set(3, 4, -5)
    assert.equal(-5, s[4])
    assert.same({4, 3}, t.shape)
    assert.is_false(t:is_contiguous())
  end)

  it("keep the storage alive after the original is collected", function()
    local v
    do
      local a = A.arange(6):reshape(2, 3)
      v = a:select(1, 2)
    end
    collectgarbage()
    collectgarbage()
    assert.same({3, 4, 5}, v:totable())
  end)

  it("release their reference on close and are unusable afterwards", function()
    local a = A.ones(3)
    local escaped
    do
      local v <close> = a:narrow(1, 1, 2)
      escaped = v
      assert.equal(2, v:sum())
    end
    assert_error_matches("closed array", function() return escaped:sum() end)
    assert.equal(3, a:sum())
  end)

  it("reshape is a view of contiguous arrays and a copy of transposed ones", function()
    local a = A.arange(6)
    local r = a:reshape(2, -1)
    r:set(1, 1, 42)
    assert.equal(42, a[1])
    local c = r:t():reshape(6)
    c[1] = -1
    assert.equal(42, a[1])
    assert.same({42, 3, 1, 4, 2, 5}, r:t():reshape{6}:totable())
    assert_error_matches("expected a shape with 6 elements, got 4x2",
                         function() return a:reshape(4, 2) end)
  end)

  it("slice takes ranges with steps, indices and whole dimensions", function()
    local a = A.arange(12):reshape(3, 4)
    assert.same({ {0, 2}, {8, 10} }, a:slice({1, 3, 2}, {1, 4, 2}):totable())
    assert.same({3, 2, 1, 0}, a:slice(1, {-1, 1, -1}):totable())
    assert.same({1, 5, 9}, a:slice(nil, 2):totable())
  end)

  it("cat and stack join arrays along an existing or a new dimension", function()
    local a, b = A{ {1, 2} }, A{ {3, 4} }
    assert.same({ {1, 2}, {3, 4} }, A.cat{a, b}:totable())
    assert.same({ {1, 2, 3, 4} }, A.cat({a, b}, 2):totable())
    assert.same({ {1, 3}, {2, 4} }, A.stack({A{1, 2}, A{3, 4}}, 2):totable())
    assert.same({ {1}, {2} }, A{1, 2}:unsqueeze(2):totable())
    assert_error_matches("expected arrays that agree in shape, got 2 at %[1%] and 1 at %[2%]",
                         function() return A.stack{A{1, 2}, A{3}} end)
  end)

  it("transpose, contiguous and copy behave as documented", function()
    local a = A.arange(24):reshape(2, 3, 4)
    local t = a:transpose(1, 3)
    assert.same({4, 3, 2}, t.shape)
    assert.equal(a:get(2, 3, 1), t:get(1, 3, 2))
    local c = t:contiguous()
    assert.is_true(c:is_contiguous())
    assert.equal(a, a:contiguous())
    local d = a:copy()
    d:fill_(0)
    assert.equal(276, a:sum())
  end)

  it("checks view arguments and says what it expected", function()
    local a = A.zeros(2, 3)
    assert_error_matches(
      "bad argument #1 to 'narrow' %(dimension 3 out of range for a 2%-D array%)",
                         function() return a:narrow(3, 1, 1) end)
    assert_error_matches("expected a length in 0..2 from start 2, got 3",
                         function() return a:narrow(2, 2, 3) end)
    assert_error_matches("expected a 1%-D or 2%-D array, got 3%-D",
                         function() return A.zeros(1, 1, 1):t() end)
  end)
end)

describe("arithmetic", function()
  it("broadcasts like numpy across operators", function()
    local col = A{ {1}, {2} }
    local row = A{10, 20, 30}
    assert.same({ {11, 21, 31}, {12, 22, 32} }, (col + row):totable())
    assert.same({ {9, 19, 29}, {8, 18, 28} }, (row - col):totable())
    assert.same({ {10, 20, 30}, {20, 40, 60} }, (col * row):totable())
    assert.same({5, 10, 15}, (row / 2):totable())
    assert.same({-10, -20, -30}, (-row):totable())
    assert.same({-9, -19, -29}, (1 - row):totable())
    assert.same({100, 400, 900}, (row ^ 2):totable())
  end)

  it("names both shapes when operands do not broadcast", function()
    assert_error_matches("bad operands to '%+' %(expected shapes that broadcast, got 2x3 and 2%)",
                         function() return A.zeros(2, 3) + A.zeros(2) end)
  end)

  it("updates in place and returns self for chaining", function()
    local a = A.ones(2, 2)
    local r = a:add_(1):mul_(A{1, 10})
    assert.equal(a, r)
    assert.same({ {2, 20}, {2, 20} }, a:totable())
    a:copy_(A{5, 6})
    assert.same({ {5, 6}, {5, 6} }, a:totable())
    a:zero_()
    assert.equal(0, a:sum())
    assert_error_matches("expected a shape that broadcasts to 2x2, got 3",
                         function() return a:add_(A.zeros(3)) end)
  end)

  it("in-place update with its own transpose reads before writing", function()
    local a = A{ {1, 2}, {3, 4} }
    a:add_(a:t())
    assert.same({ {2, 5}, {5, 8} }, a:totable())
  end)

  it("applies math functions elementwise", function()
    local x = A{-1, 0, 4}
    assert.same({1, 0, 4}, x:abs():totable())
    assert.same({0, 0, 2}, x:clamp(0, 2):totable())
    assert.same({2}, A{4}:sqrt():totable())
    assert.is_true(A.allclose(x:exp():log(), x))
    assert.is_true(A.allclose(x:tanh(), A{math.tanh and math.tanh(-1) or -0.7615941559557649, 0,
                                          0.999329299739067}))
    assert.is_true(A.allclose(x:sin() ^ 2 + x:cos() ^ 2, A.ones(3)))
    x:abs_()
    assert.same({1, 0, 4}, x:totable())
  end)
end)

describe("reductions and products", function()
  it("sums, averages and finds extremes over all elements or one dimension", function()
    local a = A{ {1, 2, 3}, {4, 5, 6} }
    assert.equal(21, a:sum())
    assert.equal(3.5, a:mean())
    assert.equal(6, a:max())
    assert.equal(1, a:min())
    assert.same({5, 7, 9}, a:sum(1):totable())
    assert.same({2, 5}, a:mean(2):totable())
    assert.same({3, 6}, a:max(2):totable())
    assert.equal(3, A{1, 5, 9, 2}:argmax())
  end)

  it("computes 1, 2, inf and Frobenius norms", function()
    local v = A{3, -4}
    assert.equal(5, v:norm())
    assert.equal(7, v:norm(1))
    assert.equal(4, v:norm(math.huge))
    assert.equal(4, v:norm("inf"))
    assert.is_true(math.abs(A{ {1, 2}, {2, 4} }:norm("fro") - 5) < 1e-15)
    assert_error_matches("expected 1, 2, math.huge, 'inf' or 'fro', got 'nuc'",
                         function() return v:norm("nuc") end)
  end)

  it("matmul matches a naive loop for plain and transposed operands", function()
    local g = R.new(3, 0)
    for _ = 1, 5 do
      local m, k, n = g:integer(5), g:integer(5), g:integer(5)
      local a, b = A.randn({k, m}, g):t(), A.randn({k, n}, g)
      local c = a:matmul(b)
      assert.same({m, n}, c.shape)
      for i = 1, m do
        for j = 1, n do
          local s = 0
          for p = 1, k do s = s + a:get(i, p) * b:get(p, j) end
          assert.is_true(math.abs(c:get(i, j) - s) < 1e-12)
        end
      end
      local x = A.randn(k, g)
      local y = A.matmul(a, x)
      for i = 1, m do
        local s = 0
        for p = 1, k do s = s + a:get(i, p) * x[p] end
        assert.is_true(math.abs(y[i] - s) < 1e-12)
      end
    end
  end)

  it("says which inner dimensions disagree", function()
    assert_error_matches(
      "bad argument #1 to 'matmul' %(expected inner dimensions to agree, got 2x3 and 4x5%)",
      function() return A.zeros(2, 3):matmul(A.zeros(4, 5)) end)
    assert_error_matches("bad argument #2 to 'matmul' %(expected inner dimensions to agree, got " ..
                         "2x3 and 2%)", function() return A.matmul(A.zeros(2, 3), A.zeros(2)) end)
  end)

  it("dot multiplies vectors and checks their lengths", function()
    assert.equal(32, A{1, 2, 3}:dot(A{4, 5, 6}))
    assert_error_matches("expected a 1%-D array of length 3, got shape 2",
                         function() return A{1, 2, 3}:dot(A{1, 2}) end)
  end)

  it("allclose compares with relative and absolute tolerances", function()
    assert.is_true(A.allclose(A{1, 2}, A{1 + 1e-9, 2}))
    assert.is_false(A.allclose(A{1, 2}, A{1.1, 2}))
    assert.is_true(A.allclose(A{1, 2}, A{1.1, 2}, 0.2))
    assert.is_true(A.allclose(A{ {1, 1}, {1, 1} }, A{1, 1}))
  end)
end)

describe("printing", function()
  it("looks like numpy's repr", function()
    assert.equal("array([[1., 2.],\n       [3., 4.]])", tostring(A{ {1, 2}, {3, 4} }))
    assert.equal("array([ 1. ,  2.5, -3. ])", tostring(A{1, 2.5, -3}))
    assert.equal("array([], dtype=float64)", tostring(A.zeros(0)))
    assert.equal("array(3.5)", tostring(A.new(3.5)))
  end)

  it("summarises long arrays with an ellipsis", function()
    local s = tostring(A.arange(5000))
    assert.is_truthy(s:find("..., ", 1, true))
    assert.is_true(#s < 200)
  end)

  it("prints exactly what numpy prints", function()
    if not has_numpy() then return pending("numpy not available at " .. PY) end
    local g = R.new(5, 0)
    local cases = { A.randn({3, 4}, g), A.arange(40):reshape(2, 20) * 1.123,
                    A{1e10, 1}, A{1.5e-5, 1}, A.arange(3000):reshape(3, 1000) }
    local paths = {}
    for i, a in ipairs(cases) do
      paths[i] = os.tmpname()
      assert(a:save(paths[i]))
    end
    -- one python process prints every repr, separated by a marker line
    local p = io.popen(PY .. [[ -c "import numpy, sys
for f in sys.argv[1:]: print(repr(numpy.load(f))); print('@@')" ]] .. table.concat(paths, " "))
    local out = p:read("a")
    p:close()
    local i = 0
    for want in out:gmatch("(.-)\n@@\n") do
      i = i + 1
      assert.equal(want, tostring(cases[i]))
    end
    assert.equal(#cases, i)
    for _, path in ipairs(paths) do os.remove(path) end
  end)
end)

describe("NPY files", function()
  it("round-trip through save and load", function()
    local a = A.randn({2, 3, 4}, R.new(1)):transpose(1, 3)
    local path = os.tmpname()
    assert.is_true(a:save(path))
    local b = A.load(path)
    os.remove(path)
    assert.same(a.shape, b.shape)
    assert.same(a:totable(), b:totable())
  end)

  it("return nil and a message naming the file on failure", function()
    local a, err = A.load("/nonexistent/x.npy")
    assert.is_nil(a)
    assert.matches("/nonexistent/x.npy: cannot open", err, 1, true)
    local ok, err2 = A.zeros(2):save("/nonexistent/y.npy")
    assert.is_nil(ok)
    assert.matches("/nonexistent/y.npy: cannot open for writing", err2, 1, true)
    local path = os.tmpname()
    local f = io.open(path, "wb")
    f:write("not numpy")
    f:close()
    local c, err3 = A.load(path)
    os.remove(path)
    assert.is_nil(c)
    assert.matches("bad magic", err3, 1, true)
  end)

  it("are read by numpy with the same shape and values", function()
    if not has_numpy() then return pending("numpy not available at " .. PY) end
    local a = A{ {1.5, -2, 3}, {4, 5e-300, 1e300} }
    local path = os.tmpname()
    assert(a:save(path))
    local p = io.popen(PY .. [[ -c "import numpy, sys
x = numpy.load(sys.argv[1])
print(x.dtype, x.shape, x.flags['C_CONTIGUOUS'], repr(x.tolist()))" ]] .. path)
    local out = p:read("a")
    p:close()
    os.remove(path)
    assert.equal("float64 (2, 3) True [[1.5, -2.0, 3.0], [4.0, 5e-300, 1e+300]]\n", out)
  end)

  it("load what numpy writes in other dtypes and in Fortran order", function()
    if not has_numpy() then return pending("numpy not available at " .. PY) end
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    assert(os.execute(PY .. [[ -c "import numpy as np, sys
d = sys.argv[1]
m = np.arange(6).reshape(2, 3)
np.save(d + '/f32.npy', (m / 4).astype(np.float32))
np.save(d + '/i64.npy', m - 3)
np.save(d + '/i32.npy', m.astype(np.int32))
np.save(d + '/u8.npy', m.astype(np.uint8))
np.save(d + '/bool.npy', m > 2)
np.save(d + '/fortran.npy', np.asfortranarray(m.astype(np.float64)))
np.save(d + '/big.npy', m.astype('>f8'))" ]] .. dir))
    local want = {
      f32 = { {0, 0.25, 0.5}, {0.75, 1, 1.25} },
      i64 = { {-3, -2, -1}, {0, 1, 2} },
      i32 = { {0, 1, 2}, {3, 4, 5} },
      u8 = { {0, 1, 2}, {3, 4, 5} },
      bool = { {0, 0, 0}, {1, 1, 1} },
      fortran = { {0, 1, 2}, {3, 4, 5} },
      big = { {0, 1, 2}, {3, 4, 5} },
    }
    for name, values in pairs(want) do
      local a, err = A.load(dir .. "/" .. name .. ".npy")
      assert(a, err)
      assert.same(values, a:totable())
    end
    os.execute("rm -rf " .. dir)
  end)
end)

describe("argument checks", function()
  it("reject a non-array where an array is expected", function()
    assert_error_matches(
      "bad argument #1 to 'dot' %(expected an array or a table of numbers, got string%)",
                         function() return A.zeros(2):dot("x") end)
    assert_error_matches("expected non%-negative extents", A.zeros, 2, -1)
    assert_error_matches("expected an integer extent, got 1.5", A.zeros, 1.5)
  end)
end)

describe("memory", function()
  it("collects dead arrays at the pace their buffers are made, not the Lua heap's", function()
    -- a Lua heap of some size (an experiment's recorded states), then a loop making a 2 MB
    -- temporary each iteration, 1 GB in all: the collector, told each buffer's size, has freed
    -- most of them by the loop's end (a weak table sees which are left); blind to them, it freed
    -- none, and the process held the whole 1 GB
    collectgarbage()
    local keep = {}
    for i = 1, 20000 do keep[i] = { i, i + 1, i + 2 } end
    local made = setmetatable({}, { __mode = "v" })
    for i = 1, 500 do made[i] = A.full({ 512, 512 }, i) end
    local left = 0
    for _ in pairs(made) do left = left + 1 end
    assert.is_true(left < 100, ("%d of the 500 dead arrays (2 MB each) still held"):format(left))
    assert.equal(20000, #keep)
  end)
end)
