-- walk_spec.lua: the velocity-tracking report's schedule and metrics (spinal.walk), as a user of
-- experiments/quadruped_walk.lua reads them: the commands sent, the errors, falls, slip and cost
-- of transport computed from what the robot did.
local W = require "spinal.walk"

-- a synthetic record of a walk over segs at `rate` Hz: the achieved velocity is f(cmd, t)
local function record(segs, rate, f, extra)
  local rec = { t = {}, seg = {}, cmd = {}, vel = {}, pz = {}, pos = {} }
  local x, y = 0, 0
  for k = 1, math.floor(W.duration(segs) * rate + 0.5) do
    local t = k / rate
    local cmd, i = W.command(segs, t - 1 / rate)
    rec.t[k], rec.seg[k], rec.cmd[k] = t, i, cmd
    rec.vel[k] = f(cmd, t)
    x, y = x + rec.vel[k][1] / rate, y + rec.vel[k][2] / rate
    rec.pos[k] = { x, y }
    rec.pz[k] = 0.28
    if extra then extra(rec, k, t) end
  end
  return rec
end

describe("walk schedules", function()
  it("the default schedule covers forward 0-1 m/s, lateral 0.3, yaw 1 rad/s and turning", function()
    local segs = W.schedule("default", 2)
    local max = { 0, 0, 0 }
    local turning = false
    for _, s in ipairs(segs) do
      for j = 1, 3 do max[j] = math.max(max[j], math.abs(s.from[j]), math.abs(s.to[j])) end
      turning = turning or (s.to[1] ~= 0 and s.to[3] ~= 0)
    end
    assert.are.same({ 1, 0.3, 1 }, max)
    assert.is_true(turning)
    assert.are.equal(0, segs[1].t0)
    for i = 2, #segs do assert.are.equal(segs[i - 1].t1, segs[i].t0) end
  end)

  it("holds a step's command and interpolates a ramp linearly", function()
    local segs = W.schedule("default", 2)  -- stand 2 s, then a 4 s ramp of vx from 0 to 1
    assert.are.same({ { 0, 0, 0 }, 1 }, { W.command(segs, 1.9) })
    assert.are.same({ { 0, 0, 0 }, 2 }, { W.command(segs, 2) })
    assert.are.same({ { 0.5, 0, 0 }, 2 }, { W.command(segs, 4) })
    assert.are.same({ { 1, 0, 0 }, 3 }, { W.command(segs, 6) })
    local last = segs[#segs]
    assert.are.same({ last.to, #segs }, { W.command(segs, last.t1 + 5) })
  end)

  it("refuses an unknown schedule, naming the valid ones", function()
    assert.has_error(function() W.schedule("zigzag", 1) end,
      "walk: unknown schedule 'zigzag' (valid: default)")
  end)
end)

describe("walk metrics", function()
  local segs = W.schedule("default", 2)

  it("perfect tracking has zero error and no fall", function()
    local rep = W.metrics(record(segs, 50, function(c) return { c[1], c[2], c[3] } end), segs)
    assert.are.same({ 0, 0, 0 }, rep.mean_abs_error)
    assert.are.equal(0, rep.falls)
    assert.are.equal(#segs, rep.scored)
  end)

  it("a constant shortfall is the error of every command, the transient of steps left out",
    function()
      -- 0.1 m/s short in vx always, and 1 m/s off during each step's first 0.5 s
      local rec = record(segs, 50, function(c, t)
        local _, i = W.command(segs, t - 1 / 50)
        local s = segs[i]
        local transient = not s.ramp and t - s.t0 < 0.5  -- measured within 0.5 s of its start
        return { c[1] - 0.1 + (transient and 1 or 0), c[2], c[3] }
      end)
      local rep = W.metrics(rec, segs, { settle = 0.5 })
      assert.is_true(math.abs(rep.mean_abs_error[1] - 0.1) < 1e-9)
      assert.are.equal(0, rep.mean_abs_error[2])
      for _, s in ipairs(rep.segments) do
        assert.is_true(math.abs(s.abs_error[1] - 0.1) < 1e-9)
        assert.is_true(math.abs(s.achieved[1] - (s.cmd[1] - 0.1)) < 1e-9)
      end
    end)

  it("a fall is counted once, at its time, and nothing after it is scored", function()
    local rec = record(segs, 50, function(c) return { c[1], c[2], c[3] } end,
      function(r, k, t) if t >= 7 then r.pz[k] = 0.05 end end)
    local rep = W.metrics(rec, segs)
    assert.are.equal(1, rep.falls)
    assert.is_true(math.abs(rep.fell_at - 7) < 1e-9)
    assert.is_nil(rep.segments[#segs].abs_error)
    assert.is_true(rep.scored < #segs)
  end)

  it("foot slip averages the speed of feet in contact only", function()
    local rec = record(segs, 50, function(c) return { c[1], c[2], c[3] } end, function(r, k)
      r.feet = r.feet or {}
      -- foot 1 in contact sliding at 0.2 m/s; foot 2 in the air moving fast
      r.feet[k] = { { z = 0.021, speed = 0.2 }, { z = 0.08, speed = 3 } }
    end)
    local rep = W.metrics(rec, segs, { foot_radius = 0.02, contact_margin = 0.005 })
    assert.is_true(math.abs(rep.slip_speed - 0.2) < 1e-12)
    assert.are.equal(1, rep.slip_share)
  end)

  it("cost of transport is energy over m g distance, counted while a command translates",
    function()
    local rec = record(segs, 50, function(c) return { c[1], c[2], c[3] } end, function(r, k)
      r.power = r.power or {}
      r.power[k] = 100   -- W, always, standing still included
    end)
    local rep = W.metrics(rec, segs, { mass = 10, g = 10 })
    local moving_time, distance = 0, 0
    for k = 2, #rec.t do
      local c = rec.cmd[k]
      if c[1] ~= 0 or c[2] ~= 0 then
        moving_time = moving_time + (rec.t[k] - rec.t[k - 1])
        distance = distance + math.sqrt((rec.pos[k][1] - rec.pos[k - 1][1]) ^ 2
          + (rec.pos[k][2] - rec.pos[k - 1][2]) ^ 2)
      end
    end
    assert.is_true(moving_time > 1)
    assert.is_true(math.abs(rep.energy_j - 100 * moving_time) < 1e-6)
    -- chords a quarter second apart: never longer than the path, shorter only where a corner
    -- is cut (the schedule changes direction between segments)
    assert.is_true(rep.distance_m <= distance + 1e-9)
    assert.is_true(rep.distance_m > 0.99 * distance, rep.distance_m .. " vs " .. distance)
    assert.is_true(math.abs(rep.cost_of_transport - rep.energy_j / (100 * rep.distance_m)) < 1e-12)
  end)

  it("sensor noise on the position does not lengthen the distance walked", function()
    local exact = record(segs, 50, function(c) return { c[1], c[2], c[3] } end)
    local noisy = record(segs, 50, function(c) return { c[1], c[2], c[3] } end)
    local seed = 12345
    local function normal()   -- a small LCG and Box-Muller: the test's own noise, reproducible
      seed = (seed * 1103515245 + 12345) % 2147483648
      local u1 = (seed + 1) / 2147483649
      seed = (seed * 1103515245 + 12345) % 2147483648
      local u2 = seed / 2147483648
      return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
    end
    for k = 1, #noisy.pos do
      noisy.pos[k] = { noisy.pos[k][1] + 0.01 * normal(), noisy.pos[k][2] + 0.01 * normal() }
    end
    local d0 = W.metrics(exact, segs, {}).distance_m
    local d1 = W.metrics(noisy, segs, {}).distance_m
    -- sample to sample, 1 cm of noise at 50 Hz would add more than the walk itself
    assert.is_true(d0 > 1)
    assert.is_true(math.abs(d1 - d0) < 0.1 * d0, ("%g vs %g"):format(d1, d0))
  end)
end)

describe("the measuring MJCF", function()
  it("adds the report's sensors before </mujoco> and refuses a text without it", function()
    local xml = W.measuring_mjcf("<mujoco>\n</mujoco>\n",
      { feet = { "FR_foot" }, actuators = { "FR_knee" }, joints = { "FR_knee" } })
    assert.matches('<framepos name="walk_pos_FR_foot" objtype="site" objname="FR_foot"/>', xml,
      1, true)
    assert.matches('<framelinvel name="walk_vel_FR_foot" objtype="site" objname="FR_foot"/>',
      xml, 1, true)
    assert.matches('<frameangvel name="walk_ang_FR_foot" objtype="site" objname="FR_foot"/>',
      xml, 1, true)
    assert.matches('<actuatorfrc name="walk_frc_FR_knee" actuator="FR_knee"/>', xml, 1, true)
    assert.matches('<jointvel name="walk_qd_FR_knee" joint="FR_knee"/>', xml, 1, true)
    assert.matches("</sensor>\n</mujoco>\n$", xml)
    assert.has_error(function() W.measuring_mjcf("<mujoco>", {}) end,
      "walk: the MJCF has no closing </mujoco>")
  end)
end)
