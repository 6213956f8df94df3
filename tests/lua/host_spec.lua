-- host_spec.lua: the spinal binary as a user drives it (command line, scripts, REPL over a pipe,
-- Ctrl-C). The binary is $SPINAL_BIN; each case runs it through the shell.
local S = require "support"
local BIN = assert(S.BIN, "SPINAL_BIN is not set")
local q, slurp, spit, tmpfile, run = S.q, S.slurp, S.spit, S.tmpfile, S.run

-- a script file ending in .lua, from text
local function script(text)
  return tmpfile(text, ".lua")
end

teardown(S.cleanup)

describe("spinal --version", function()
  it("prints the spinal, Lua and BLAS versions and exits 0", function()
    local out, _, code = run "--version"
    assert.equal(0, code)
    assert.matches("^spinal 0%.1%.0\n", out)
    assert.matches("\nLua 5%.4", out)
    assert.matches("\nBLAS: ", out)
  end)
end)

describe("spinal --help", function()
  it("lists every form of the command line on stdout and exits 0", function()
    local out, _, code = run "--help"
    assert.equal(0, code)
    for _, form in ipairs { "SCRIPT.lua [key=value ...]", "-e CODE", "repl", "--version" } do
      assert.truthy(out:find(form, 1, true), form)
    end
  end)

  it("is printed to stderr with exit status 2 when no argument is given", function()
    local out, err, code = run ""
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("^usage: spinal", err)
  end)
end)

describe("usage errors", function()
  it("reject an unknown option with exit status 2", function()
    local _, err, code = run "--frobnicate"
    assert.equal(2, code)
    assert.matches("unknown option '%-%-frobnicate'", err)
  end)

  it("reject an unknown subcommand with exit status 2", function()
    local _, err, code = run "bnech"
    assert.equal(2, code)
    assert.matches("unknown command 'bnech'", err)
  end)

  it("reject -e without code and repl with a second positional argument", function()
    local _, _, code = run "-e"
    assert.equal(2, code)
    local _, err, code2 = run "repl robots/car.lua robots/other.lua"
    assert.equal(2, code2)
    assert.matches("unexpected argument 'robots/other.lua'", err)
    local _, err3, code3 = run "repl --hal model"
    assert.equal(2, code3)
    assert.matches("'%-%-hal' needs a robot file", err3)
  end)

  it("give the robot loader's message and status 1 for a robot file that is not there", function()
    local out, err, code = run "repl robots/no_such_robot.lua"
    assert.equal(1, code)
    assert.matches("robots/no_such_robot.lua", err)
    assert.equal("", out)
  end)
end)

describe("spinal -e", function()
  it("runs the chunk with spinal loaded and overrides parsed", function()
    local out, _, code = run "-e 'print(1 + 2, spinal.version, spinal.args.n + 1)' n=41"
    assert.equal(0, code)
    assert.equal("3\t0.1.0\t42\n", out)
  end)

  it("exits 1 with the error and a traceback when the chunk fails", function()
    local _, err, code = run "-e 'local t = nil; return t.x'"
    assert.equal(1, code)
    assert.matches("^spinal: %(command line%):1: attempt to index a nil value", err)
    assert.matches("stack traceback:", err)
  end)

  it("prints an error raised for the user (no source position) alone, without a traceback",
    function()
    local _, err, code = run "-e 'error(\"experiment: target: expected 3 numbers, got 2\", 0)'"
    assert.equal(1, code)
    assert.equal("spinal: experiment: target: expected 3 numbers, got 2\n", err)
    -- SPINAL_TRACEBACK=1 shows where it came from
    _, err = run("-e 'error(\"plain\", 0)'", nil, "SPINAL_TRACEBACK=1 ")
    assert.matches("^spinal: plain\nstack traceback:", err)
  end)
end)

describe("running a script", function()
  it("passes every argument in arg (arg[0] = script) and as varargs, like lua.c", function()
    local path = script [[
      print(arg[0] == (...) and "no" or arg[0])
      print(#arg, arg[1], arg[2], arg[3], select("#", ...), (...))
    ]]
    local out, _, code = run(q(path) .. " --flag=1 iters=3 plain")
    assert.equal(0, code)
    assert.equal(path .. "\n3\t--flag=1\titers=3\tplain\t3\t--flag=1\n", out)
  end)

  it("gives key=value arguments to spinal.args with numbers and booleans parsed", function()
    local path = script [[
      local a = spinal.args
      print(math.type(a.iters), a.iters, math.type(a.lr), a.lr, a.on, a.off, a.name, a.hex)
      print(a.opt.beta, a.opt.inner.k, a.plain, a["--flag"], a.empty == "")
    ]]
    local out, _, code = run(q(path) ..
      " iters=30 lr=1e-3 on=true off=false name=run1 hex=0x10 opt.beta=0.5 opt.inner.k=2" ..
      " plain --flag=2 empty=")
    assert.equal(0, code)
    assert.equal("integer\t30\tfloat\t0.001\ttrue\tfalse\trun1\t16\n0.5\t2\tnil\tnil\ttrue\n", out)
  end)

  it("merges overrides over defaults with spinal.settings, in the defaults' types", function()
    local path = script [[
      local s = spinal.settings { iters = 10, lr = 0.1, name = "x", verbose = false,
                                  opt = { beta = 0.9 } }
      print(s.iters, s.lr, s.name, s.verbose, s.opt.beta)
    ]]
    local out, err, code = run(q(path) .. " iters=3 lr=1 name=007 verbose=true opt.beta=0.5")
    assert.equal(0, code, err)
    assert.equal("3\t1.0\t007\ttrue\t0.5\n", out)
  end)

  it("stops with the settings error when an override does not fit its default", function()
    local path = script "spinal.settings { iters = 10 }"
    local _, err, code = run(q(path) .. " iters=abc")
    assert.equal(1, code)
    assert.matches("^spinal: bad override 'iters=abc' %(expected an integer in %[1, 100000%]%)\n",
      err)
    assert.is_nil(err:find("stack traceback", 1, true))  -- a usage mistake, not a crash
  end)

  it("stops with an error listing the valid keys when an override is unknown", function()
    local path = script "spinal.settings { iters = 10, lr = 0.1 }"
    local _, err, code = run(q(path) .. " iterz=5")
    assert.equal(1, code)
    assert.matches("^spinal: unknown setting in 'iterz=5' %(did you mean 'iters'%? valid: "
      .. "iters, lr%)\n", err)
  end)

  it("passes a key=value whose key is not a name to the settings, which refuse it by name",
    function()
    local path = script "spinal.settings { hidden = { 64, 64 } }"
    local _, err, code = run(q(path) .. " h.-1=5")
    assert.equal(1, code)
    assert.equal("spinal: bad override 'h.-1=5' (the key 'h.-1' is not a setting name: names of "
      .. "letters, digits and _ joined by dots, list entries as name.1, name.2, ...)\n", err)
  end)

  it("exits 1 printing the error with file:line and a traceback", function()
    local path = script "local x = 1\nlocal function f() error('boom') end\nf()\n"
    local out, err, code = run(q(path))
    assert.equal(1, code)
    assert.equal("", out)
    local name = path:gsub("%p", "%%%0")
    assert.matches("^spinal: " .. name .. ":2: boom\nstack traceback:\n", err)
    assert.matches(name .. ":3: in main chunk", err)
  end)

  it("exits 1 naming the line of a syntax error", function()
    local path = script "local x = 1\nlocal = 2\n"
    local _, err, code = run(q(path))
    assert.equal(1, code)
    assert.matches(":2: <name> expected near '='", err)
  end)

  it("reports a missing script file in one line with exit status 1", function()
    local out, err, code = run "no_such_dir/foo.lua"
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("spinal: cannot open no_such_dir/foo.lua (No such file or directory)\n", err)
  end)

  it("runs __close handlers and exits 0 when the script ends normally", function()
    local flag = tmpfile()
    local path = script(([[
      local f <close> = setmetatable({}, { __close = function()
        local h = io.open(%q, "w"); h:write("closed"); h:close() end })
    ]]):format(flag))
    local _, _, code = run(q(path))
    assert.equal(0, code)
    assert.equal("closed", slurp(flag))
  end)
end)

describe("spinal repl over a pipe", function()
  it("prints an expression's value without prompts", function()
    assert.equal("2\n", (run("repl", "1+1\n")))
    assert.equal("2\n", (run("repl", "print(1+1)\n")))
  end)

  it("prints several results tab-separated", function()
    assert.equal("1\tx\tnil\ttrue\n", (run("repl", "1, 'x', nil, true\n")))
  end)

  it("continues an incomplete chunk over several lines", function()
    local out, _, code = run("repl", "function f(x)\n  return x * 2\nend\nf(21)\n")
    assert.equal(0, code)
    assert.equal("42\n", out)
  end)

  it("reports an error with a traceback and goes on with the next line", function()
    local out, err, code = run("repl", "error('bad')\n'after'\n")
    assert.equal(0, code)
    assert.equal("after\n", out)
    assert.matches("^repl:1: bad\nstack traceback:", err)
  end)

  it("pretty-prints tables, summarising long ones and marking cycles", function()
    local out = run("repl", "{ 1, 2, { a = 1 }, b = 'x' }\n" ..
      "local t = {} for i = 1, 1000 do t[i] = i end return t\n" ..
      "t = { n = 1 } t.me = t return t\n")
    local lines = {}
    for line in out:gmatch "[^\n]+" do lines[#lines + 1] = line end
    assert.equal('{ 1, 2, { a = 1 }, b = "x" }', lines[1])
    assert.matches("^{ 1, 2, 3, .*, %.%.%. %(1000 items%) }$", lines[2])
    assert.matches("^{ me = <cycle: .*>, n = 1 }$", lines[3])
  end)

  it("has spinal and sp as globals and answers :help", function()
    local out, _, code = run("repl", "sp == spinal, spinal.version\n:help\n")
    assert.equal(0, code)
    assert.matches("^true\t0%.1%.0\n", out)
    assert.matches(":quit", out)
    assert.matches("\n  settings ", out)
  end)

  it("stops at :quit", function()
    assert.equal("1\n", (run("repl", "1\n:quit\n2\n")))
  end)

  it("reports a chunk left incomplete at the end of input", function()
    local _, err, code = run("repl", "function g(\n")
    assert.equal(0, code)
    assert.matches("<eof>", err)
  end)
end)

describe("Ctrl-C", function()
  -- start the script in the background, send SIGINT(s) after it printed "ready"
  local function interrupt(body, signals, extra)
    local flag = tmpfile()
    os.remove(flag)
    local path = script(([[
      local flag = %q
      local f <close> = setmetatable({}, { __close = function()
        local h = io.open(flag, "w"); h:write("flushed"); h:close() end })
      io.stdout:write("ready\n"); io.stdout:flush()
    ]]):format(flag) .. body)
    local out, err = tmpfile(), tmpfile()
    local kills = {}
    for _ = 1, signals do kills[#kills + 1] = "kill -INT $pid; sleep 0.2" end
    local cmd = ("%s %s %s >%s 2>%s </dev/null & pid=$!; " ..
      "for i in $(seq 50); do grep -q ready %s && break; sleep 0.1; done; %s; wait $pid")
      :format(q(BIN), q(path), extra or "", out, err, out, table.concat(kills, "; "))
    local t0 = os.time()
    local _, _, code = os.execute(cmd)
    return code, slurp(flag), slurp(err), os.time() - t0
  end

  it("sets spinal.interrupted() so a polling script stops cleanly with exit 130", function()
    local code, flag, err = interrupt([[
      while not spinal.interrupted() do end
      print("stopped")
    ]], 1)
    assert.equal(130, code)
    assert.equal("flushed", flag)
    assert.matches("spinal: interrupted", err)
  end)

  it("raises 'interrupted' in a script that does not poll, closing it and exiting 130", function()
    local code, flag, err = interrupt("while true do end", 1)
    assert.equal(130, code)
    assert.equal("flushed", flag)
    assert.matches("interrupted", err)
  end)

  it("interrupts at once on a second Ctrl-C", function()
    local code, flag, _, seconds = interrupt("while true do end", 2)
    assert.equal(130, code)
    assert.equal("flushed", flag)
    assert.is_true(seconds < 2)
  end)

  it("stops a progress loop at a step boundary", function()
    local code, flag, err = interrupt([[
      local p = spinal.progress { total = 1e9, label = "train" }
      for i = 1, 1e9 do p:update(i) end
    ]], 1)
    assert.equal(130, code)
    assert.equal("flushed", flag)
    assert.matches("train", err)
    assert.matches("interrupted", err)
  end)

  it("leaves the REPL on a pipe with exit status 130 while waiting for input", function()
    local out = tmpfile()
    local _, _, code = os.execute(("(echo '1+1'; sleep 2) | %s repl >%s 2>&1 & pid=$!; " ..
      "sleep 0.5; kill -INT $pid 2>/dev/null; wait $pid"):format(q(BIN), out))
    assert.equal(130, code)
    assert.equal("2\n", slurp(out))
  end)
end)

describe("require 'spinal'", function()
  local spinal = require "spinal"

  it("loads a submodule on first use and caches it", function()
    assert.is_nil(rawget(spinal, "progress"))
    local p = spinal.progress
    assert.equal(require "spinal.progress", p)
    assert.equal(p, rawget(spinal, "progress"))
  end)

  it("finds C bindings preloaded by the host the same way", function()
    assert.equal(require "spinal.host", spinal.host)
    assert.equal("0.1.0", spinal.host.version)
  end)

  it("gives nil for a name that is no module", function()
    assert.is_nil(spinal.no_such_module)
    assert.is_nil(spinal[1])
  end)

  it("lists its modules, Lua files and C bindings alike", function()
    local names = table.concat(spinal.modules(), " ")
    assert.matches("host", names)
    assert.matches("progress", names)
    assert.matches("settings", names)
    assert.is_nil(names:find "init")
  end)

  it("reports Ctrl-C through spinal.interrupted, false in a normal run", function()
    assert.is_false(spinal.interrupted())
  end)
end)
