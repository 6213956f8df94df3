-- mpi_spec.lua: spinal.mpi in a world of one (a plain process: MPI is not started) and the byte
-- form values travel in. The collectives across ranks are tested under mpirun by
-- tests/integration/mpi_*.sh.
local mpi = require "spinal.mpi"
local A = require "spinal.array"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. p))
  return p
end

describe("spinal.mpi in a plain process", function()
  it("is a world of one that never starts MPI", function()
    assert.is_nil(mpi.launched())
    assert.are.equal(0, mpi.rank())
    assert.are.equal(1, mpi.size())
    assert.is_false(mpi.active())
  end)

  it("returns every collective's input", function()
    local a = A.new { 1.5, -2 }
    assert.are.equal(a, mpi.allreduce(a, "mean"))
    assert.are.same({ 1.5, -2 }, a:totable())
    assert.are.equal(7, mpi.allreduce(7, "max"))
    assert.are.same({ 1, 2 }, mpi.allreduce({ 1, 2 }))
    assert.are.same({ x = 1 }, mpi.broadcast { x = 1 })
    local rows, counts = mpi.gather(A.zeros(3, 2))
    assert.are.same({ 3, 2 }, rows.shape)
    assert.are.same({ 3 }, counts)
    assert.are.same({ { 1, 2 } }, mpi.gather { 1, 2 })
  end)

  it("refuses an unknown op and a root outside the world, naming the argument", function()
    assert.has_error(function() mpi.allreduce(1, "avg") end,
      "bad argument #2 to 'allreduce' (expected one of 'sum', 'mean', 'max', 'min', got 'avg')")
    assert.has_error(function() mpi.gather(1, 1) end,
      "bad argument #2 to 'gather' (expected a root rank in [0, 0], got 1)")
  end)
end)

describe("mpi.encode", function()
  it("round-trips numbers exactly, integers as integers, strings, tables, arrays", function()
    local v = { 0.1, -0.0, 1 / 0, -1 / 0, math.mininteger,
                5e-324, s = "a\0b", t = { true, false, { deep = 1.25 } },
                a = A.new { { 1, 2, 3 }, { 4, 5, 6 } } }
    local back = mpi.decode(mpi.encode(v))
    for i = 1, 6 do
      assert.are.equal(string.pack("<d", v[i]), string.pack("<d", back[i]))
      assert.are.equal(math.type(v[i]), math.type(back[i]))
    end
    assert.are.equal("a\0b", back.s)
    assert.are.same(v.t, back.t)
    assert.are.same({ 2, 3 }, back.a.shape)
    assert.are.equal(6, back.a[2][3])
    local nan = mpi.decode(mpi.encode(0 / 0))
    assert.is_true(nan ~= nan)
  end)

  it("refuses what cannot travel, naming where it sits", function()
    assert.has_error(function() mpi.encode { run = { f = print } } end,
      "mpi: cannot send the value.run.f: a function")
    local cyc = {}
    cyc.self = cyc
    assert.has_error(function() mpi.encode(cyc) end)
  end)
end)

describe("mpi.map", function()
  it("returns the results in order and resumes from the results already written", function()
    local dir = tmpdir()
    local calls = 0
    local function f(item, i)
      calls = calls + 1
      return { sq = item * item, i = i, half = item / 2 }
    end
    local r1 = mpi.map({ 3, 4, 5 }, f, { dir = dir })
    assert.are.equal(3, calls)
    assert.are.same({ sq = 16, i = 2, half = 2.0 }, r1[2])
    os.remove(dir .. "/0002.result")
    local resumed = {}
    local r2 = mpi.map({ 3, 4, 5 }, f, { dir = dir, on_result = function(i, _, was)
      resumed[i] = was or false
    end })
    assert.are.equal(4, calls)  -- only item 2 ran again
    assert.are.same(r1, r2)
    assert.are.same({ true, false, true }, resumed)
    os.execute("rm -rf " .. dir)
  end)

  it("keys result files by opts.key", function()
    local dir = tmpdir()
    mpi.map({ { name = "a" }, { name = "b" } }, function(s) return s.name end,
      { dir = dir, key = function(s) return "run_" .. s.name end })
    assert.is_not_nil(io.open(dir .. "/run_b.result"))
    os.execute("rm -rf " .. dir)
  end)
end)

describe("mpi.gather_transitions", function()
  it("turns rollouts into (x, u, x') rows with their episode", function()
    local tr = { X = A.new { { 0, 0 }, { 1, 1 }, { 2, 2 } }, U = A.new { { 10 }, { 20 } },
                 flags = A.new { 0, 4 } }
    local d = mpi.gather_transitions { tr, tr }
    assert.are.same({ 4, 2 }, d.X.shape)
    assert.are.same({ 1, 1 }, d.X_next[1]:totable())
    assert.are.same({ 2, 2 }, d.X_next[4]:totable())
    assert.are.same({ 10, 20, 10, 20 }, d.U:reshape(4):totable())
    assert.are.same({ 1, 1, 2, 2 }, d.episode:totable())
    assert.are.same({ 0, 0, 0, 0 }, d.rank:totable())
    assert.are.same({ 0, 4, 0, 4 }, d.flags:totable())
    assert.are.same({ 4 }, d.counts)
  end)
end)
