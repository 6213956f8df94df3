-- figure8_spec.lua: the car experiments' shared runner (spinal.figure8): checkpoints and resume=,
-- the robot check, fault reporting and a refused optimiser step, as a user of
-- experiments/car_figure8.lua relies on them.
local F = require "spinal.figure8"
local json = require "spinal.json"
local run_lib = require "spinal.run"
local A = require "spinal.array"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read "a"
  f:close()
  return s
end

-- a small but real car run: 3 updates of 6 s rollouts
local function cfg(out, extra)
  local c = { gamma = 0.5, radius = 1.5, period = 5.5, seconds = 6, iters = 3, lr = 3e-3,
              optim = "adam", trust = 0.1, trust_max = 0.2, seed = 2, segment = 0,
              hidden = { 16, 16 },
              robot = "robots/rc_car.lua", plant = "model", out = out, resume = "" }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

-- run quietly (the table goes to stdout)
local function quiet(f, ...)
  local saved = _G.print
  _G.print = function() end
  local ok, err = pcall(f, ...)
  _G.print = saved
  if not ok then error(err, 0) end
end

describe("car experiment checkpoints", function()
  for _, optim in ipairs { "adam", "gn" } do
  it("resume= after an interruption gives bitwise the result of an uninterrupted run (optim="
    .. optim .. ")", function()
    local whole, cut = tmpdir(), tmpdir()
    quiet(F.experiment, "t", cfg(whole, { optim = optim }))
    -- interrupted (as by Ctrl-C) at the progress update after the first update's checkpoint
    local calls = 0
    local ok, err = pcall(quiet, F.experiment, "t", cfg(cut, { optim = optim }), {
      interrupted = function()
        calls = calls + 1
        return calls > 1
      end,
    })
    assert.is_false(ok)
    assert.are.equal("interrupted", err)
    assert.is_nil(io.open(cut .. "/summary.json"))
    local note = json.decode(select(1, (function()
      local car = F.setup(cfg(cut, { optim = optim }))
      return car.policy:load(cut .. "/policy.ckpt")
    end)()))
    assert.are.equal(2, note.next)
    -- a crash after iteration 2's metrics row and before its checkpoint: the row is redone
    local f = assert(io.open(cut .. "/metrics.csv", "a"))
    f:write("2,999,12,0,1,0.5\n")
    f:close()
    quiet(F.experiment, "t", cfg("", { resume = cut, optim = optim }))
    local a, b = json.read(whole .. "/summary.json"), json.read(cut .. "/summary.json")
    assert.are.same(a, b)
    assert.are.equal(read(whole .. "/metrics.csv"), read(cut .. "/metrics.csv"))
    assert.are.equal(read(whole .. "/learned_X.npy"), read(cut .. "/learned_X.npy"))
    assert.are.equal(read(whole .. "/policy.ckpt"), read(cut .. "/policy.ckpt"))
    os.execute(("rm -rf '%s' '%s'"):format(whole, cut))
  end)
  end

  it("saves the learned policy so it can be loaded and deployed", function()
    local dir = tmpdir()
    quiet(F.experiment, "t", cfg(dir, { iters = 1 }))
    local car = F.setup(cfg(dir))
    local P = require "spinal.policy"
    local pol = assert(P.load(dir .. "/policy.ckpt", { controller = car.robot.controller,
                                                      task = car.task }))
    local learned = A.load(dir .. "/learned_U.npy")
    local traj = car:rollout(pol)
    assert.are.equal(0, (traj.U - learned):abs():max())
    os.execute(("rm -rf '%s'"):format(dir))
  end)

  it("refuses to resume with a different setting, naming it", function()
    local dir = tmpdir()
    quiet(F.experiment, "t", cfg(dir, { iters = 1 }))
    local c = cfg("", { resume = dir, iters = 1 })
    c.lr = 0.01
    local run = require "spinal.run"
    assert.has_error(function() run.resume_settings(dir, c, { lr = 0.01 }) end,
      ("run: cannot resume %s with lr=0.01: the run was started with lr=0.003 (a resumed run "
        .. "continues with its own settings)"):format(dir))
    assert.has_error(function() quiet(F.experiment, "t", cfg("", { resume = dir, iters = 1 })) end,
      ("run: %s is complete (1 iterations): nothing to resume"):format(dir))
    os.execute(("rm -rf '%s'"):format(dir))
  end)
end)

describe("car experiment honesty", function()
  it("refuses a robot file without the car's states and actions, naming what is missing", function()
    assert.has_error(function() F.setup(cfg("", { robot = "robots/double_pendulum.lua" })) end,
      "figure8: robots/double_pendulum.lua is not a robot for figure8: its state must start "
        .. "with px, py, v, phi (missing: px, py, v, phi; it has th1, th2, w1, w2); its action "
        .. "must start with throttle, steer (missing: throttle, steer; it has tau1, tau2)")
  end)

  it("refuses an optimiser step that would make the parameters non-finite (lr=1e308)", function()
    local dir = tmpdir()
    local ok, err = pcall(quiet, F.experiment, "t", cfg(dir, { lr = 1e308, iters = 2 }))
    assert.is_false(ok)
    assert.are.equal("step: adam (lr 1e+308) would make parameter 1 of 554 non-finite; step "
      .. "refused, parameters unchanged", err)
    assert.is_nil(io.open(dir .. "/summary.json"))
    os.execute(("rm -rf '%s'"):format(dir))
  end)

  it("reports a policy that faulted: counts, the metric marked invalid, a warning", function()
    local dir = tmpdir()
    local c = cfg(dir, { iters = 0 })
    local car = F.setup(c)
    local theta = car.policy:params()
    theta[theta:numel()] = 0 / 0   -- a NaN bias in the last layer: every command is NaN
    local run = run_lib.start { name = "t", settings = c }
    local result = F.learn(car, { iters = 0 })
    assert.are.equal(car.steps, result.faults[1])
    local err = io.stderr
    local captured = {}
    io.stderr = { write = function(_, ...)
      for _, s in ipairs { ... } do captured[#captured + 1] = s end
    end }
    local lines = {}
    local saved = _G.print
    _G.print = function(s) lines[#lines + 1] = s end
    local ok, e = pcall(F.report, "t", c, car, run, result, {})
    _G.print, io.stderr = saved, err
    assert(ok, e)
    local s = json.read(dir .. "/summary.json")
    assert.is_false(s.learned_valid)
    assert.are.equal(car.steps, s.learned_faults)
    assert.are.equal(json.null, s.reduction)
    assert.matches("t: warning: the policy faulted on " .. car.steps .. " ticks",
      table.concat(captured))
    local table_text = table.concat(lines, "\n")
    assert.matches("learned policy +invalid +invalid +" .. car.steps, table_text)
    os.execute(("rm -rf '%s'"):format(dir))
  end)
end)

describe("quadruped figure-eight", function()
  local function qcfg(extra)
    local c = { variant = "quadruped", speed = 0.5, radius = 1.5, laps = 0.5, iters = 1,
                lr = 3e-3, optim = "adam", seed = 1, segment = 0, hidden = { 8, 8 },
                gain_scale = { 0.25, 0.25, 0.25, 1, 0.25, 0.35 },
                robot = "robots/quadruped.lua", plant = "model", out = "", resume = "" }
    for k, v in pairs(extra or {}) do c[k] = v end
    return c
  end

  it("flies the paper's figure-eight: period 4 pi R / speed, laps of it per rollout", function()
    local q = F.setup(qcfg { speed = 0.5, radius = 1.5, laps = 1.6 })
    assert.is_true(math.abs(q.cfg.period - 4 * math.pi * 1.5 / 0.5) < 1e-12)
    assert.are.equal(math.floor(1.6 * q.cfg.period * 10 + 0.5), q.steps)
    assert.are.equal(math.floor(q.cfg.period / 4 * 10 + 0.5), q.skip)
  end)

  it("starts as exactly the robot's tracker (the network's last layer is zero)", function()
    local q = F.setup(qcfg())
    local ctrl = q.robot.controller
    local x, t = { 0.3, -0.2, 1.2 }, 4.0
    local r = q.task:eval(t)
    local u = q.policy:act(x, t)
    local want = ctrl:act(x, r)
    assert.are.equal(want[1], u[1])
    assert.are.equal(want[2], u[2])
  end)

  it("refuses a perturbation on a plant that has none, naming it and the plant", function()
    assert.has_error(function() F.setup(qcfg { payload = 2.5 }) end,
      "figure8: payload=2.5 needs a plant with the robot's perturbations (plant=mujoco); "
        .. "plant=model is a model plant")
  end)
end)
