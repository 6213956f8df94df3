-- progress_spec.lua: the progress line (spinal.progress), with a fake stream and clock.
local progress = require "spinal.progress"

-- a stream that records writes and a clock the test moves
local function fixture(opts)
  local stream = { text = "" }
  function stream:write(...)
    self.text = self.text .. table.concat({ ... })
    return self
  end
  local now = { t = 100 }
  opts = opts or {}
  opts.stream, opts.clock = stream, function() return now.t end
  if opts.interrupted == nil then opts.interrupted = function() return false end end
  return progress(opts), stream, now
end

local function lines(text)
  local out = {}
  for line in text:gmatch "[^\n]+" do out[#out + 1] = line end
  return out
end

describe("spinal.progress", function()
  it("shows label, count, percent, rate, ETA and metrics", function()
    local p, _, now = fixture { total = 15, label = "train", tty = false }
    now.t = now.t + 7 / 2.1
    p.i, p.metrics = 7, { cost = 1.23 }
    assert.equal("train  7/15  47%  2.1 it/s  ETA 4s  cost=1.23", p:line())
  end)

  it("rewrites one line with \\r on a terminal and ends it at done", function()
    local p, stream, now = fixture { total = 3, tty = true }
    for i = 1, 3 do
      now.t = now.t + 1
      p:update(i)
    end
    assert.equal(3, select(2, stream.text:gsub("\r", "")))
    assert.equal(1, select(2, stream.text:gsub("\n", "")))
    assert.matches("3/3  100%%  1%.0 it/s  in 3s\27%[K\n$", stream.text)
  end)

  it("prints plain lines at most once per interval when not a terminal, plus the last", function()
    local p, stream, now = fixture { total = 100, tty = false, interval = 1 }
    for i = 1, 100 do
      now.t = now.t + 0.05
      p:update(i)
    end
    local got = lines(stream.text)
    assert.is_nil(stream.text:find "\r")
    -- 5 s in steps of 0.05 s: the first step, then one a second, then the final line
    assert.is_true(#got >= 5 and #got <= 7, #got .. " lines")
    assert.matches("^100/100  100%%", got[#got])
    assert.matches("in 5s$", got[#got])
  end)

  it("prints the final line once even when done is called again", function()
    local p, stream = fixture { total = 2, tty = false }
    p:update(1)
    p:update(2)
    p:done()
    p:done()
    assert.equal(2, #lines(stream.text))
  end)

  it("works without a total, showing the count and rate", function()
    local p, _, now = fixture { label = "collect", tty = false }
    now.t = now.t + 4
    p.i = 8
    assert.equal("collect  8  2.0 it/s", p:line())
  end)

  it("formats metrics sorted by name, floats with 4 significant digits", function()
    local p = fixture { tty = false }
    p.metrics = { z = 1, a = 0.123456, s = "ok" }
    assert.matches("a=0%.1235  s=ok  z=1$", p:line())
  end)

  it("gives slow rates in seconds per step and long ETAs in minutes or hours", function()
    local p, _, now = fixture { total = 1000, tty = false }
    now.t = now.t + 10
    p.i = 4
    assert.matches("2%.5 s/it  ETA 41m30s", p:line())
    assert.equal("1h02m", progress.duration(3725))
    assert.equal("59s", progress.duration(59.4))
  end)

  it("finishes the line and raises 'interrupted' once spinal.interrupted() is true", function()
    local stop = false
    local p, stream = fixture { total = 10, tty = true, interrupted = function() return stop end }
    p:update(1)
    stop = true
    local ok, err = pcall(p.update, p, 2)
    assert.is_false(ok)
    assert.equal("interrupted", err)
    assert.matches("\n$", stream.text)
    assert.is_true(p.finished)
  end)

  it("closes like done when used as a to-be-closed variable", function()
    local stream
    do
      local p <close>, s = fixture { total = 10, tty = false }
      stream = s
      p:update(1)
    end
    assert.matches("in 0s\n$", stream.text)
  end)

  it("rejects a total that is not a number", function()
    assert.has_error(function() progress { total = "ten" } end,
      "bad argument 'total' to 'progress' (expected a non-negative number, got ten)")
  end)
end)
