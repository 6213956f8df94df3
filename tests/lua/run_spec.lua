-- run_spec.lua: the run directory library (spinal.run), its JSON (spinal.json) and its plots
-- (spinal.plot): what an experiment script and a reader of its files rely on.
local json = require "spinal.json"
local run_lib = require "spinal.run"
local plot = require "spinal.plot"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local function read(path)
  local f = assert(io.open(path, "r"))
  local s = f:read "a"
  f:close()
  return s
end

describe("spinal.json", function()
  it("round-trips nested tables, lists, strings with escapes, integers and floats", function()
    local v = { a = { 1, 2.5, -3e-7 }, b = { c = "x\"y\n\\z\1", d = true, e = false },
                ["0.5"] = 0.1 + 0.2, n = 12345678901 }
    local back = assert(json.decode(json.encode(v)))
    assert.are.same(v, back)
    assert.are.same(v, assert(json.decode(json.encode(v, { indent = 2 }))))
    assert.are.equal("integer", math.type(back.n))
  end)

  it("writes sorted keys, null for json.null, NaN and infinities", function()
    assert.are.equal('{"a":null,"b":[1,null,null],"c":[]}',
      json.encode { c = {}, b = { 1, 0 / 0, math.huge }, a = json.null })
    assert.are.equal(json.null, json.decode("[null]")[1])
  end)

  it("returns nil and a message naming the place of a syntax error", function()
    local v, err = json.decode '{"a": [1, 2}'
    assert.is_nil(v)
    assert.matches("expected ',' or ']' at line 1", err)
    assert.is_nil((json.decode "[1] x"))
  end)

  it("refuses a table that contains itself", function()
    local t = {}
    t.self = t
    assert.has_error(function() json.encode(t) end, "json.encode: a table contains itself")
  end)
end)

describe("spinal.run", function()
  it("creates the run directory with settings.json and a summary a script can read", function()
    local dir = tmpdir()
    local run = run_lib.start { name = "t", settings = { gamma = 0.5, out = dir } }
    assert.are.equal(dir, run.dir)
    assert.are.same({ gamma = 0.5, out = dir }, json.read(dir .. "/settings.json"))
    run:summary { iters = 3, costs = { 3, 2, 1 }, by = { ["0.5"] = 1 } }
    local s = assert(json.read(dir .. "/summary.json"))
    assert.are.same({ 3, 2, 1 }, s.costs)
    assert.are.equal(1, s.by["0.5"])
    run:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("puts runs under root/name/<UTC time>, a second run of the same second beside it", function()
    local root = tmpdir()
    local a = run_lib.start { name = "exp", root = root }
    local b = run_lib.start { name = "exp", root = root }
    assert.matches("^" .. root:gsub("%p", "%%%0") .. "/exp/%d%d%d%d%d%d%d%d%-%d%d%d%d%d%d", a.dir)
    assert.are_not.equal(a.dir, b.dir)
    os.execute("rm -rf '" .. root .. "'")
  end)

  it("appends metrics rows flushed as they come, columns fixed by the first row", function()
    local dir = tmpdir()
    local run = run_lib.start { name = "t", out = dir }
    run:log { cost = 2.5, iter = 1, note = "a,b" }
    assert.are.equal('iter,cost,note\n1,2.5,"a,b"\n', read(dir .. "/metrics.csv"))
    run:log { iter = 2, cost = 1 }
    assert.are.equal('iter,cost,note\n1,2.5,"a,b"\n2,1,\n', read(dir .. "/metrics.csv"))
    assert.error_matches(function() run:log { iter = 3, other = 1 } end,
      "run:log: column 'other' is not in metrics.csv (its first row fixed: iter, cost, note)", nil,
      true)
    run:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("saves a trajectory's arrays as NPY files", function()
    local A = require "spinal.array"
    local dir = tmpdir()
    local run = run_lib.start { name = "t", out = dir }
    run:save_traj("nominal", { X = A.ones(3, 4), U = A.zeros(2, 2), t = A { 0, 1, 2 } })
    assert.are.same({ 3, 4 }, { A.load(dir .. "/nominal_X.npy").shape[1],
                                A.load(dir .. "/nominal_X.npy").shape[2] })
    assert.are.equal(2, A.load(dir .. "/nominal_t.npy")[3])
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("draws a PNG with gnuplot, or says why not without failing", function()
    local dir = tmpdir()
    local run = run_lib.start { name = "t", out = dir }
    local path, err = run:plot { file = "c.png", title = "cost_1", series = { { y = { 3, 2, 1 } } } }
    if plot.available() then
      assert.are.equal(dir .. "/c.png", path)
      assert.are.equal("\137PNG", read(path):sub(1, 4))
    else
      assert.is_nil(path)
      assert.matches("gnuplot", err)
    end
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
