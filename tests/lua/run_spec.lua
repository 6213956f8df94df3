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
    local settings = json.read(dir .. "/settings.json")
    local spinal = settings.spinal
    settings.spinal = nil
    assert.are.same({ gamma = 0.5, out = dir }, settings)
    -- the version, and the commit of a build from a git checkout (null elsewhere)
    assert.are.equal(require("spinal.host").version, spinal.version)
    assert.is_true(spinal.commit == json.null or spinal.commit:match "^%x+" ~= nil)
    -- what computed the float32 products: OpenBLAS's configuration and spinal's own kernel or not
    assert.are.equal(require("spinal.host").blas, spinal.blas)
    assert.matches("OpenBLAS", spinal.blas, 1, true)
    assert.are.equal(require("spinal.nn").gemm_kernel(), spinal.float32_gemm)
    assert.is_truthy(({ avx512 = true, openblas = true })[spinal.float32_gemm])
    run:summary { iters = 3, costs = { 3, 2, 1 }, by = { ["0.5"] = 1 } }
    local s = assert(json.read(dir .. "/summary.json"))
    assert.are.same({ 3, 2, 1 }, s.costs)
    assert.are.equal(1, s.by["0.5"])
    run:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("warns when out= names a directory holding an earlier finished run", function()
    local dir = tmpdir()
    local said = {}
    local stderr = io.stderr
    io.stderr = { write = function(_, text) said[#said + 1] = text end }
    local ok, err = pcall(function()
      run_lib.start({ name = "t", settings = { out = dir } }):close()   -- unfinished: no word
      local first = #said
      local r = run_lib.start { name = "t", settings = { out = dir } }
      r:summary { done = true }
      r:close()
      run_lib.start({ name = "t", settings = { out = dir } }):close()   -- finished: a warning
      return first
    end)
    io.stderr = stderr
    os.execute("rm -rf '" .. dir .. "'")
    assert(ok, err)
    assert.equal(0, err)
    assert.equal(1, #said)
    assert.matches(dir .. " holds an earlier finished run (summary.json)", said[1], 1, true)
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

  it("names the columns of a trajectory in a sidecar and saves its flags as integers", function()
    local A = require "spinal.array"
    local dir = tmpdir()
    local run = run_lib.start { name = "t", out = dir }
    run:save_traj("learned", { X = A.ones(3, 4), U = A.zeros(2, 2), t = A { 0, 1, 2 },
                               flags = A { 0, 68, 2 ^ 19 } },
                  { states = { "px", "py", "v", "phi" }, actions = { "throttle", "steer" } })
    local side = json.read(dir .. "/learned.json")
    assert.are.same({ "px", "py", "v", "phi" }, side.columns.X)
    assert.are.same({ "throttle", "steer" }, side.columns.U)
    assert.are.equal(4, side.flags.nan)
    assert.are.equal(64, side.flags.safe)
    assert.are.equal("learned_flags.npy", side.files.flags)
    local raw = read(dir .. "/learned_flags.npy")
    assert.matches("'descr': '<u4'", raw)
    local flags = A.load(dir .. "/learned_flags.npy")
    assert.are.same({ 0, 68, 524288 }, { flags[1], flags[2], flags[3] })
    assert.are.equal(string.pack("<I4<I4<I4", 0, 68, 524288), raw:sub(-12))
    assert.has_error(function()
      run:save_traj("bad", { X = A.ones(3, 4) }, { states = { "a" } })
    end, "run:save_traj: 1 state names for 4 columns")
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("counts a trajectory's fault ticks (NaN, safe command, robot faults)", function()
    local A = require "spinal.array"
    -- robot status bits on the first ticks (before any command reached it) are not faults
    local n, by = run_lib.faults { flags = A { 2 ^ 17, 2 ^ 17 + 2 ^ 9, 0, 4 + 64, 1, 2 ^ 19 } }
    assert.are.equal(2, n)
    assert.are.same({ nan = 1, safe = 1, plant_fault = 1 }, by)
  end)

  describe("when a file cannot be written", function()
    local saved
    before_each(function() saved = run_lib.fs.open end)
    after_each(function() run_lib.fs.open = saved end)

    -- writes fail from now on as on a full disk (ENOSPC at close, after a buffered write)
    local function disk_full()
      run_lib.fs.open = function(path, mode)
        local f = assert(saved(path, mode))
        return {
          write = function(_, s) return f:write(s:sub(1, 3)) end,
          close = function()
            f:close()
            return nil, "No space left on device"
          end,
        }
      end
    end

    local function leftovers(dir)
      local names = {}
      for name in io.popen("ls -A '" .. dir .. "'"):lines() do names[#names + 1] = name end
      table.sort(names)
      return names
    end

    it("raises naming the file and the reason, and keeps what was written whole", function()
      local dir = tmpdir()
      local run = run_lib.start { name = "t", settings = { a = 1 }, out = dir }
      run:log { iter = 0, cost = 2.5 }
      run:summary { iters = 1, cost = 2.5 }
      disk_full()
      assert.has_error(function() run:summary { iters = 2, cost = 1.5 } end,
        "run: cannot write " .. dir .. "/summary.json (No space left on device)")
      assert.has_error(function() run:log { iter = 1, cost = 1.5 } end,
        "run: cannot write " .. dir .. "/metrics.csv (No space left on device)")
      assert.has_error(function()
        run:save_traj("x", { t = require("spinal.array") { 1, 2 } })
      end, "run: cannot write " .. dir .. "/x.json (No space left on device)")
      run_lib.fs.open = saved
      assert.are.same({ iters = 1, cost = 2.5 }, json.read(dir .. "/summary.json"))
      assert.are.equal("iter,cost\n0,2.5\n", read(dir .. "/metrics.csv"))
      assert.are.same({ "metrics.csv", "settings.json", "summary.json", "x_t.npy" },
        leftovers(dir))
      os.execute("rm -rf '" .. dir .. "'")
    end)

    it("raises for a plot whose files cannot be written", function()
      if not plot.available() then return end
      local dir = tmpdir()
      local run = run_lib.start { name = "t", out = dir }
      disk_full()
      assert.has_error(function()
        run:plot { file = "c.png", series = { { y = { 3, 2, 1 } } } }
      end, "run: cannot write " .. dir .. "/c.dat (No space left on device)")
      run_lib.fs.open = saved
      assert.are.same({ "settings.json" }, leftovers(dir))
      os.execute("rm -rf '" .. dir .. "'")
    end)
  end)

  it("numbers the points of a series without x from 0 (iteration 0 first)", function()
    if not plot.available() then return end
    local dir = tmpdir()
    local run = run_lib.start { name = "t", out = dir }
    assert(run:plot { file = "c.png", series = { { y = { 3, 2, 1 }, label = "J" } } })
    assert.are.equal("# J\n0 3\n1 2\n2 1\n\n\n", read(dir .. "/c.dat"))
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

describe("run.fell", function()
  local A = require "spinal.array"
  local run = require "spinal.run"
  local function traj(rows, qpos)
    local X = A.zeros(#rows, #rows[1])
    for k, r in ipairs(rows) do for i, v in ipairs(r) do X[k][i] = v end end
    local t = { X = X }
    if qpos then
      t.qpos = A.zeros(#qpos, 7)
      for k, z in ipairs(qpos) do t.qpos[k][3] = z end
    end
    return t
  end

  it("a trunk height state below min_height is a fall, above it is not", function()
    local robot = { state = { "px", "py", "phi", "pz" } }
    assert.is_false(run.fell(traj { { 0, 0, 0, 0.28 }, { 0, 0, 0, 0.2 } }, robot, 0.15))
    assert.is_true(run.fell(traj { { 0, 0, 0, 0.28 }, { 0, 0, 0, 0.1 } }, robot, 0.15))
  end)

  it("without a height state, MuJoCo's recorded root height decides", function()
    local robot = { state = { "px", "py", "phi" } }
    assert.is_false(run.fell(traj({ { 0, 0, 0 } }, { 0.28, 0.27 }), robot, 0.15))
    assert.is_true(run.fell(traj({ { 0, 0, 0 } }, { 0.28, 0.05 }), robot, 0.15))
    assert.is_false(run.fell(traj { { 0, 0, 0 } }, robot, 0.15))  -- nothing to tell by
  end)

  it("a roll or pitch beyond 1 rad is a fall", function()
    local robot = { state = { "px", "roll" } }
    assert.is_false(run.fell(traj { { 0, 0.9 }, { 0, -0.9 } }, robot))
    assert.is_true(run.fell(traj { { 0, 0.2 }, { 0, -1.2 } }, robot))
  end)
end)
