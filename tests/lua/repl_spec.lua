-- repl_spec.lua: the Lua side of the REPL: pretty printer, :commands, completion candidates.
local repl = require "spinal.repl"

describe("repl.pretty", function()
  it("prints scalars as Lua would write them, strings quoted", function()
    assert.equal("42", repl.pretty(42))
    assert.equal("1.5", repl.pretty(1.5))
    assert.equal("nil", repl.pretty(nil))
    assert.equal('"a\\"b\\n"', repl.pretty('a"b\n'))
  end)

  it("prints lists, then other keys sorted (numbers first), inline when they fit", function()
    assert.equal("{}", repl.pretty {})
    assert.equal('{ 1, 2, { a = 1 }, [10] = 0, b = "x", ["not id"] = true }',
      repl.pretty { 1, 2, { a = 1 }, b = "x", ["not id"] = true, [10] = 0 })
  end)

  it("summarises long tables with their size", function()
    local t = {}
    for i = 1, 1000 do t[i] = i end
    assert.equal("{ 1, 2, 3, ... (1000 items) }", repl.pretty(t, { items = 3 }))
  end)

  it("stops at the depth limit, saying how much is hidden", function()
    assert.equal("{ a = { b = { ... (2 items) } } }",
      repl.pretty({ a = { b = { c = 1, d = 2 } } }, { depth = 2 }))
    assert.equal("{ a = { ... (1 item) } }", repl.pretty({ a = { 1 } }, { depth = 1 }))
  end)

  it("marks cycles instead of following them, but prints shared tables twice", function()
    local t = { n = 1 }
    t.me = t
    assert.matches("^{ me = <cycle: .+>, n = 1 }$", repl.pretty(t))
    local shared = { 1 }
    assert.equal("{ { 1 }, { 1 } }", repl.pretty { shared, shared })
  end)

  it("breaks a wide table into one item per line, indented", function()
    local t = { alpha = ("a"):rep(30), beta = ("b"):rep(30), gamma = { ("c"):rep(30) } }
    assert.equal(
      '{\n  alpha = "' .. ("a"):rep(30) .. '",\n  beta = "' .. ("b"):rep(30) ..
      '",\n  gamma = { "' .. ("c"):rep(30) .. '" }\n}', repl.pretty(t))
  end)

  it("uses __tostring for tables and userdata that define it, even when it fails", function()
    local obj = setmetatable({}, { __tostring = function() return "OBJ" end })
    assert.equal("{ OBJ }", repl.pretty { obj })
    assert.matches("^file %(", repl.pretty(io.stdout))
    local bad = setmetatable({}, { __tostring = function() error "no" end })
    assert.matches("^<table: __tostring failed", repl.pretty(bad))
  end)
end)

describe("repl.complete", function()
  it("completes global names and keywords", function()
    local got = repl.complete("setm", "setm")
    assert.same({ "setmetatable" }, got)
    assert.same({ "function" }, repl.complete("functio", "functio"))
  end)

  it("completes fields after a dot, as full words", function()
    assert.same({ "string.upper" }, repl.complete("string.up", "string.up"))
    local got = repl.complete("math.", "math.")
    assert.truthy(#got > 10)
    for _, w in ipairs(got) do assert.matches("^math%.", w) end
  end)

  it("completes methods after a colon through a table __index, as on userdata", function()
    local got = repl.complete("io.stdout:wr", "io.stdout:wr")
    assert.same({ "io.stdout:write" }, got)
    _G.__repl_spec_obj = setmetatable({ field = 1 }, { __index = { method = function() end } })
    assert.same({ "__repl_spec_obj:method" }, repl.complete("__repl_spec_obj:", "x"))
    assert.same({ "__repl_spec_obj.field", "__repl_spec_obj.method" },
      repl.complete("__repl_spec_obj.", "x"))
    _G.__repl_spec_obj = nil
  end)

  it("lists spinal modules that are not loaded yet", function()
    _G.spinal = _G.spinal or require "spinal"
    local got = repl.complete("spinal.prog", "spinal.prog")
    assert.same({ "spinal.progress" }, got)
  end)

  it("completes REPL commands at the start of a line", function()
    assert.same({ ":help" }, repl.complete(":he", ":he"))
  end)

  it("returns nothing for an unknown or non-table base", function()
    assert.same({}, repl.complete("nosuchthing.x", "nosuchthing.x"))
    assert.same({}, repl.complete("math.pi.x", "math.pi.x"))
  end)
end)

describe("repl.command", function()
  it("answers :quit with true and other commands with false", function()
    assert.is_true(repl.command ":quit")
    local saved = io.stdout
    local out = {}
    io.stdout = { write = function(_, ...) out[#out + 1] = table.concat { ... } end }
    local quit = repl.command ":help"
    io.stdout = saved
    assert.is_false(quit)
    assert.matches(":help", table.concat(out))
    -- the Gauss-Newton module (C) is listed with a whole sentence
    local gn_line = "\n  gn%s+Method 1's Gauss%-Newton optimiser, with a trust region on the "
      .. "change of actions%.\n"
    assert.matches(gn_line, table.concat(out))
  end)
end)

-- what repl.help / a command prints (io.stdout replaced while f runs)
local function printed(f, ...)
  local saved, out = io.stdout, {}
  io.stdout = { write = function(_, ...) out[#out + 1] = table.concat { ... } end }
  local ok, err = pcall(f, ...)
  io.stdout = saved
  assert(ok, err)
  return table.concat(out)
end

describe("repl.help", function()
  local sp = require "spinal"

  it("prints the docs/api entry of a spinal function, with file and line", function()
    local out = printed(repl.help, sp.grad.feedback)
    assert.matches("^spinal.grad.feedback %(function%)\n", out)
    assert.matches("docs/api/policy_grad.md:%d+\n", out)
    assert.matches("`G.feedback(pol, model, traj, opts)`", out, 1, true)
  end)

  it("prints a module's section and its functions", function()
    local out = printed(repl.help, sp.hal)
    assert.matches("## Lua: `spinal.hal`", out, 1, true)
    assert.matches("functions: backends bridge open", out, 1, true)
  end)

  it("prints docs for every object the REPL can hold: a robot, its plant, a trajectory, a run",
    function()
    local src = os.getenv "SPINAL_SOURCE_DIR" or "."
    local robot = sp.robot.load(src .. "/robots/rc_car.lua")
    local out = printed(repl.help, robot)
    assert.matches("^spinal.robot\n  docs/robots.md:1\n", out)
    assert.matches("methods: close open plant_config", out, 1, true)
    assert.matches("^spinal.robot:open %(function%)\n  docs/robots.md:", printed(repl.help,
      robot.open))
    local plant = robot:open "model"
    assert.matches("docs/api/hal.md:%d+\n    `hal.open%(\"replay://DIR\"%)`", printed(repl.help,
      plant))
    local traj = plant:rollout(robot.controller, { steps = 2, r = { 0, 0, 0, 0, 0, 0 } })
    assert.matches("The trajectory holds `t`", printed(repl.help, traj), 1, true)
    assert.matches("^spinal.progress\n", printed(repl.help, sp.progress { total = 1,
      label = "x" }))
    local objects = { robot.controller, robot.model, sp.array { 1 }, sp.rng.new(1, 0),
                      sp.nn.adam { lr = 1 }, sp.rbd.load_mjcf(src .. "/robots/arm3.xml"),
                      sp.task.figure_eight { radius = 1.5, period = 5.5 },
                      sp.cost.car { nx = 4, nu = 2 } }
    for _, v in ipairs(objects) do
      local text = printed(repl.help, v)
      assert.is_nil(text:find("not a spinal", 1, true), text)
      assert.is_nil(text:find("no entry in docs", 1, true), text)
    end
    plant:close()
  end)

  it("names what is not spinal's", function()
    assert.equal("help: 42 is not a spinal function, module or object (try help(sp.hal) or "
      .. ":help)\n", printed(repl.help, 42))
  end)

  it(":help gives every module a whole sentence", function()
    local out = printed(repl.command, ":help")
    assert.is_nil(out:find("(C module)", 1, true))
    local modules = out:match "modules %(spinal.<name>, also as sp.<name>%):\n(.-)\nhelp%(x%)"
    local entries = {}
    for line in modules:gmatch "[^\n]+" do
      local name, text = line:match "^  (%S+)%s+(.*)$"
      if name then
        entries[#entries + 1] = text
      else
        entries[#entries] = entries[#entries] .. " " .. line:match "^%s+(.*)$"
      end
    end
    for _, e in ipairs(entries) do assert.matches("%.$", e) end
    assert.equal(#sp.modules(), #entries)
  end)

  it(":show prints a table whole", function()
    _G.big = {}
    for i = 1, 100 do big[i] = { i } end
    local out = printed(repl.command, ":show big")
    _G.big = nil
    assert.matches("{ 100 }", out, 1, true)
    assert.is_nil(out:find("items)", 1, true))
  end)
end)

describe("repl.named_params", function()
  it("names a controller's gain and reference blocks, entries by state and action", function()
    local pd = require("spinal.ctrl").pd(2, { 1, 2 }, { 3, 4 })
    local lines = repl.named_params(pd, { 1, 2, 3, 4 }, { 0.5, 0, 0, 0, 0, 0 }, nil,
      { "hip", "knee" })
    assert.same({ "gains (pd): kp = { hip = 1, knee = 2 }, kd = { hip = 3, knee = 4 }",
      "reference: q_d = { hip = 0.5, knee = 0 }, qdot_d = { hip = 0, knee = 0 }, "
        .. "u_ff = { hip = 0, knee = 0 }" }, lines)
  end)

  it("reads every class's blocks from the class: the LQR's rows by action, a new class too",
    function()
    local A = require "spinal.array"
    local lqr = require("spinal.ctrl").lqr(A { { 1, 2 }, { 3, 4 } })
    local lines = repl.named_params(lqr, { 1, 2, 3, 4 }, { 0, 0, 0, 0 }, { "q", "qd" },
      { "tau1", "tau2" })
    assert.same({ "gains (lqr): K[tau1] = { q = 1, qd = 2 }, K[tau2] = { q = 3, qd = 4 }",
      "reference: x_set = { q = 0, qd = 0 }, u_ff = { tau1 = 0, tau2 = 0 }" }, lines)
    local tracker = require("spinal.ctrl").tracker "car"
    assert.same("gains (tracker_car): kx = 0.45, ky = 0.45, kv = 0.35, kphi = 0.35, ka = 0.0, "
      .. "kw = 0.0",
      repl.named_params(tracker, tracker:gains(), nil)[1])
    -- a class added later: whatever blocks it names print by name, with no Lua edit
    local future = { name = "future", nx = 2, nu = 1, nr = 1, nk = 4,
                     gain_blocks = { { name = "k", size = 1, kind = "fixed" },
                                     { name = "w", size = 3, kind = "fixed" } },
                     ref_blocks = { { name = "speed", size = 1, kind = "fixed" } } }
    assert.same({ "gains (future): k = 1, w = { 2, 3, 4 }", "reference: speed = 0.5" },
      repl.named_params(future, { 1, 2, 3, 4 }, { 0.5 }))
  end)
end)
