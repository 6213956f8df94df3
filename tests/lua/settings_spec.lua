-- settings_spec.lua: key=value overrides (spinal.args) and spinal.settings(defaults [, opts]).
local settings = require "spinal.settings"

local function with(list, defaults, opts)
  opts = opts or {}
  opts.args = list
  return settings(defaults, opts)
end

local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)  -- override mistakes are error objects whose text is their __tostring
end

describe("settings.parse", function()
  it("turns numbers, true/false and other text into numbers, booleans and strings", function()
    local a = settings.parse { "i=3", "f=2.5", "e=1e-3", "t=true", "n=false", "s=abc", "z=" }
    assert.equal(3, a.i)
    assert.equal("integer", math.type(a.i))
    assert.equal(2.5, a.f)
    assert.equal(1e-3, a.e)
    assert.is_true(a.t)
    assert.is_false(a.n)
    assert.equal("abc", a.s)
    assert.equal("", a.z)
  end)

  it("nests dotted keys and indexes lists with numeric segments", function()
    local a = settings.parse { "opt.lr=0.1", "opt.adam.beta=0.9", "hidden.2=32" }
    assert.same({ lr = 0.1, adam = { beta = 0.9 } }, a.opt)
    assert.same({ [2] = 32 }, a.hidden)
  end)

  it("ignores arguments that are not key=value", function()
    assert.same({ k = 1 }, settings.parse { "--flag=1", "file.lua", "k=1", "=3", "1x=2" })
  end)

  it("lets the last of two equal keys win", function()
    assert.same({ k = 2 }, settings.parse { "k=1", "k=2" })
  end)

  it("rejects a key that is both a value and a group", function()
    assert.equal("conflicting overrides 'a=1' and 'a.b=2'",
      error_of(settings.parse, { "a=1", "a.b=2" }))
    assert.equal("conflicting overrides 'a.b=2' and 'a=1'",
      error_of(settings.parse, { "a.b=2", "a=1" }))
  end)

  it("rejects an empty segment in a dotted key", function()
    assert.matches("^bad override 'a%.%.b=1'", error_of(settings.parse, { "a..b=1" }))
  end)
end)

describe("spinal.settings", function()
  local defaults = {
    iters = 10, lr = 0.1, name = "run", verbose = false, hidden = { 64, 64 },
    opt = { beta = 0.9, kind = "adam" },
  }

  it("returns the defaults, as a copy, when nothing is overridden", function()
    local s = with({}, defaults)
    assert.same(defaults, s)
    assert.are_not.equal(defaults, s)
    assert.are_not.equal(defaults.opt, s.opt)
  end)

  it("converts each override to the type of its default", function()
    local s = with({ "iters=3", "lr=1", "name=007", "verbose=true", "opt.beta=0.5" }, defaults)
    assert.equal(3, s.iters)
    assert.equal("integer", math.type(s.iters))
    assert.equal(1.0, s.lr)
    assert.equal("float", math.type(s.lr))
    assert.equal("007", s.name)
    assert.is_true(s.verbose)
    assert.equal(0.5, s.opt.beta)
    assert.equal("adam", s.opt.kind)
  end)

  it("does not change the defaults table", function()
    with({ "iters=3", "opt.beta=0.1", "hidden=1,2,3" }, defaults)
    assert.equal(10, defaults.iters)
    assert.equal(0.9, defaults.opt.beta)
    assert.same({ 64, 64 }, defaults.hidden)
  end)

  it("reads a list default from comma-separated text or by index", function()
    assert.same({ 32, 16, 8 }, with({ "hidden=32,16,8" }, defaults).hidden)
    assert.same({ 64, 5 }, with({ "hidden.2=5" }, defaults).hidden)
  end)

  it("rejects text that is not a number for a number default", function()
    assert.equal("bad override 'iters=abc' (expected an integer in [1, 100000])",
      error_of(with, { "iters=abc" }, defaults))
    assert.equal("bad override 'lr=' (expected a number > 0 and <= 10)",
      error_of(with, { "lr=" }, defaults))
    assert.equal("bad override 'x=abc' (expected a number)",
      error_of(with, { "x=abc" }, { x = 1.5 }))
  end)

  it("rejects a fraction for an integer default", function()
    assert.equal("bad override 'iters=2.5' (expected an integer in [1, 100000])",
      error_of(with, { "iters=2.5" }, defaults))
    assert.equal("bad override 'n=2.5' (expected an integer)",
      error_of(with, { "n=2.5" }, { n = 1 }))
  end)

  it("refuses values outside a setting's range, naming the range (one line)", function()
    for _, case in ipairs {
      { "iters=-5", "an integer in [1, 100000]" },
      { "iters=0", "an integer in [1, 100000]" },
      { "iters=1e12", "an integer in [1, 100000]" },
      { "iters=0x7fffffffffffffffff", "an integer in [1, 100000]" },  -- wraps around to -1
      { "iters=0x10000000000000005", "an integer in [1, 100000]" },   -- wraps around to 5
      { "seconds=1e9", "a number > 0 and <= 86400" },
      { "seconds=0", "a number > 0 and <= 86400" },
      { "lr=inf", "a number > 0 and <= 10" },
      { "lr=nan", "a number > 0 and <= 10" },
      { "hidden=64,0", "an integer in [1, 4096]" },
      { "hidden.1=-1", "an integer in [1, 4096]" },
    } do
      assert.equal("bad override '" .. case[1] .. "' (expected " .. case[2] .. ")",
        error_of(with, { case[1] }, { iters = 10, seconds = 21.5, lr = 0.1, hidden = { 64, 64 } }))
    end
    assert.equal(100000, with({ "iters=100000" }, defaults).iters)
    assert.equal(16, with({ "iters=0x10" }, defaults).iters)
  end)

  it("takes a caller's ranges over the standard ones, a list's range for each entry", function()
    local ranges = { iters = { min = 0, max = 5 }, ["opt.beta"] = { min = 0, max = 1 },
      hidden = { min = 8, max = 16 } }
    assert.equal(0, with({ "iters=0" }, defaults, { ranges = ranges }).iters)
    assert.equal("bad override 'iters=6' (expected an integer in [0, 5])",
      error_of(with, { "iters=6" }, defaults, { ranges = ranges }))
    assert.equal("bad override 'opt.beta=1.5' (expected a number in [0, 1])",
      error_of(with, { "opt.beta=1.5" }, defaults, { ranges = ranges }))
    assert.equal("bad override 'hidden=8,32' (expected an integer in [8, 16])",
      error_of(with, { "hidden=8,32" }, defaults, { ranges = ranges }))
    assert.equal("bad override 'hidden.2=4' (expected an integer in [8, 16])",
      error_of(with, { "hidden.2=4" }, defaults, { ranges = ranges }))
    -- an integer without a range still cannot leave the doubles' exact integers
    assert.equal("bad override 'n=1e300' (expected an integer)",
      error_of(with, { "n=1e300" }, { n = 1 }))
  end)

  it("refuses a key that is not a setting name and a list index past the list", function()
    assert.equal("bad override 'h.-1=5' (the key 'h.-1' is not a setting name: names of "
      .. "letters, digits and _ joined by dots, list entries as name.1, name.2, ...)",
      error_of(with, { "h.-1=5" }, defaults))
    assert.equal("bad override 'hidden.3=5' (hidden has entries 1 to 2; set the whole list "
      .. "with hidden=64,64)", error_of(with, { "hidden.3=5" }, defaults))
  end)

  it("suggests the closest name for a misspelled setting", function()
    assert.equal("unknown setting in 'iterz=3' (did you mean 'iters'? valid: hidden, iters, lr, "
      .. "name, opt.beta, opt.kind, verbose)", error_of(with, { "iterz=3" }, defaults))
    assert.equal("unknown setting in 'opt.btea=3' (did you mean 'opt.beta'? valid: hidden, "
      .. "iters, lr, name, opt.beta, opt.kind, verbose)",
      error_of(with, { "opt.btea=3" }, defaults))
  end)

  it("rejects anything but true or false for a boolean default", function()
    assert.equal("bad override 'verbose=yes' (expected true or false)",
      error_of(with, { "verbose=yes" }, defaults))
  end)

  it("rejects a value for a group of settings", function()
    assert.matches("^bad override 'opt=1' %(a group of settings",
      error_of(with, { "opt=1" }, defaults))
  end)

  it("rejects an unknown key, listing the valid ones", function()
    assert.equal("unknown setting in 'speed=3' (valid: hidden, iters, lr, name, opt.beta, "
      .. "opt.kind, verbose)", error_of(with, { "speed=3" }, defaults))
    assert.matches("^unknown setting in 'opt%.gamma=1'",
      error_of(with, { "opt.gamma=1" }, defaults))
    assert.matches("^unknown setting in 'iters%.x=1'", error_of(with, { "iters.x=1" }, defaults))
  end)

  it("keeps unknown keys, parsed, when opts.allow_unknown is set", function()
    local s = with({ "extra=3", "opt.new=true", "deep.a.b=x" }, defaults, { allow_unknown = true })
    assert.equal(3, s.extra)
    assert.is_true(s.opt.new)
    assert.equal("x", s.deep.a.b)
    assert.equal(10, s.iters)
  end)

  it("takes a fraction for a real-valued setting written as an integer, as a float", function()
    local cfg = with({ "settle=0.5", "seconds=3", "wait=0.25" },
      { settle = 2, seconds = 10, iters = 5, wait = 1 },
      { ranges = { wait = { min = 0, real = true } } })
    assert.equal(0.5, cfg.settle)
    assert.equal("float", math.type(cfg.seconds))
    assert.equal(0.25, cfg.wait)
    local err = error_of(with, { "settle=-1" }, { settle = 2 })
    assert.truthy(err:find("expected a number in [0, 86400]", 1, true), err)
    err = error_of(with, { "iters=2.5" }, { iters = 5 })
    assert.truthy(err:find("expected an integer", 1, true), err)
  end)

  it("counts a standard setting with an exclusive bound as real-valued", function()
    for name, r in pairs(settings.RANGES) do
      if r.above ~= nil then assert.is_true(settings.REAL[name], name .. " is not in REAL") end
    end
    for name in pairs(settings.REAL) do assert.is_table(settings.RANGES[name], name) end
  end)

  it("rejects defaults that are not a table", function()
    assert.matches("expected a table of defaults, got number", error_of(settings, 3))
  end)

  it("is reachable as spinal.settings, with the command line as spinal.args", function()
    local spinal = require "spinal"
    assert.equal(settings, spinal.settings)
    assert.same(settings.parse(settings.overrides()), spinal.args)
  end)
end)

describe("settings.fill", function()
  local defaults = { iters = 100, lr = 1e-3, name = "run", opt = { beta = 0.9 }, quick = false }

  it("sets only what the overrides did not set, in the type of the default", function()
    local cfg = with({ "iters=7", "opt.beta=0.5" }, defaults)
    assert.equal(cfg, settings.fill(cfg, { iters = 3, lr = 1, name = "quick", opt = { beta = 0 } }))
    assert.equal(7, cfg.iters)                 -- set on the command line: kept
    assert.equal(1.0, cfg.lr)
    assert.equal("float", math.type(cfg.lr))   -- as lr=1 on the command line would be
    assert.equal("quick", cfg.name)
    assert.same({ beta = 0.5 }, cfg.opt)       -- a group with a field set counts as set
    local other = with({}, { iters = 100, settle = 2 })
    settings.fill(other, { iters = 3.0, settle = 1 })
    assert.equal("integer", math.type(other.iters))
    assert.equal("float", math.type(other.settle))   -- a real-valued setting (settings.REAL)
  end)

  it("refuses a name that is no setting, a value of the wrong type, a table not from settings",
    function()
      local cfg = with({}, defaults)
      local err = error_of(settings.fill, cfg, { iterz = 3 })
      assert.truthy(err:find("'iterz' is not a setting", 1, true), err)
      assert.truthy(err:find("iters, lr, name, opt.beta, quick", 1, true), err)
      err = error_of(settings.fill, cfg, { iters = "3" })
      assert.truthy(err:find("iters=3: the setting is a number", 1, true), err)
      err = error_of(settings.fill, cfg, { iters = 2.5 })
      assert.truthy(err:find("iters=2.5: the setting is an integer", 1, true), err)
      err = error_of(settings.fill, { iters = 1 }, { iters = 3 })
      assert.truthy(err:find("expected a table spinal.settings returned", 1, true), err)
      assert.equal(100, cfg.iters)
    end)
end)

describe("the experiments' settings", function()
  -- the defaults table an experiment passes to spinal.settings (the script stops right there)
  local function defaults_of(path)
    local real, stop = settings.settings, {}
    local got
    settings.settings = function(d) got = d; error(stop) end
    local ok, err = pcall(dofile, path)
    settings.settings = real
    assert(not ok and err == stop, path .. " did not call spinal.settings: " .. tostring(err))
    return got
  end

  it("every numeric setting of every experiment has a range", function()
    local checked = 0
    for path in io.popen("ls experiments/*.lua"):lines() do
      for name, v in pairs(defaults_of(path)) do
        local numeric = type(v) == "number" or (type(v) == "table" and type(v[1]) == "number")
        if numeric then
          assert.is_table(settings.RANGES[name], path .. ": setting '" .. name .. "' has no range")
          checked = checked + 1
        end
      end
    end
    assert.is_true(checked > 40)
  end)
end)

describe("settings.integers", function()
  local integers = require("spinal.settings").integers
  it("reads a comma-separated list of integers", function()
    assert.same({ 1, 2, 3 }, integers("x", "seeds", "1,2,3"))
    assert.same({ 512, 256 }, integers("x", "hidden", "512,256", 1))
    assert.same({ 7 }, integers("x", "seeds", 7))  -- a single number from the command line
  end)
  it("refuses anything else, naming the experiment and the setting", function()
    for _, text in ipairs { "abc", "1,2,x", "1,,2", "1.5", "" } do
      local ok, msg = pcall(integers, "exp", "seeds", text)
      assert.is_false(ok)
      assert.equal(("exp: seeds=%s: expected a comma-separated list of integers (e.g. 1,2,3)")
        :format(text), msg)
    end
    local ok, msg = pcall(integers, "exp", "hidden", "64,0", 1)
    assert.is_false(ok)
    assert.matches("hidden=64,0: expected a comma-separated list of integers >= 1", msg, 1, true)
  end)
end)

describe("settings from the command line of a script", function()
  it("refuses a bare word after the script (quick for quick=true), suggesting the setting", function()
    local saved = _G.arg
    _G.arg = { [0] = "experiments/x.lua", "seed=3", "quick" }
    local ok, err = pcall(settings, { seed = 1, quick = false })
    _G.arg = { [0] = "experiments/x.lua", "fast" }
    local ok2, err2 = pcall(settings, { seed = 1, quick = false })
    _G.arg = saved
    assert.is_false(ok)
    assert.equal("unexpected argument 'quick' (settings are key=value, did you mean 'quick=...'?)",
      tostring(err))
    assert.is_false(ok2)
    assert.matches("unexpected argument 'fast' (settings are key=value, e.g. ", tostring(err2), 1,
      true)
  end)
  it("leaves a program's own arguments alone when it is not a .lua script (busted's)", function()
    local saved = _G.arg
    _G.arg = { [0] = "/usr/bin/busted", "-o", "utfTerminal", "spec.lua" }
    local ok = pcall(settings, { seed = 1 })
    _G.arg = saved
    assert.is_true(ok)
  end)
end)
