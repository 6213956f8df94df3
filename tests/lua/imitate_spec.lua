-- imitate_spec.lua: spinal.imitate, method 2's loop on a floating-base robot: the conversion
-- between the plant's (qpos, qvel) and the world model's state (checked against MuJoCo's own
-- free-joint conventions), the encoder's conditioning, the reference aligned to a start state,
-- and the errors a user sees. The loop itself (collect, train, checkpoint, resume) is exercised
-- by tests/integration/quadruped_imitate.sh.
local imitate = require "spinal.imitate"
local motion = require "spinal.motion"
local sp = require "spinal"
local A = require "spinal.array"

local SRC = os.getenv "SPINAL_SOURCE_DIR" or "."
local STAND = { 0, 0.9, -1.8, 0, 0.9, -1.8, 0, 0.9, -1.8, 0, 0.9, -1.8 }

-- a clip of the standing pose walking along its heading yaw at speed v
local function walking_clip(v, yaw, n)
  local frames = {}
  for i = 1, n do
    local t = (i - 1) * 0.02
    local row = { v * t * math.cos(yaw), v * t * math.sin(yaw), 0.285, math.cos(yaw / 2), 0, 0,
                  math.sin(yaw / 2) }
    for j = 1, 12 do row[7 + j] = STAND[j] end
    frames[i] = row
  end
  return motion.clip { frames = A(frames), frame_duration = 0.02 }
end

local function qmul(a, b)
  return { a[1] * b[1] - a[2] * b[2] - a[3] * b[3] - a[4] * b[4],
           a[1] * b[2] + a[2] * b[1] + a[3] * b[4] - a[4] * b[3],
           a[1] * b[3] - a[2] * b[4] + a[3] * b[1] + a[4] * b[2],
           a[1] * b[4] + a[2] * b[3] - a[3] * b[2] + a[4] * b[1] }
end

describe("imitate state conversion", function()
  it("rotates the linear velocity into the body frame and back, and reorders the rest", function()
    local x = {}
    for i = 1, 37 do x[i] = i / 10 end
    local c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)  -- 90 degrees about z
    x[4], x[5], x[6], x[7] = c, 0, 0, s
    x[20], x[21], x[22] = 1, 0, 0.5                            -- world: along +x, up
    local w = imitate.to_wm(x, 12)
    assert.near(0, w[8], 1e-15)                                -- body: the robot faces +y, so
    assert.near(-1, w[9], 1e-15)                               -- +x world is its right (-y)
    assert.near(0.5, w[10], 1e-15)
    assert.equal(x[23], w[11])                                 -- angular: already body frame
    assert.equal(x[8], w[14])                                  -- first joint angle
    assert.equal(x[26], w[26])                                 -- first joint velocity
    local back = imitate.to_plant(w, 12)
    for i = 1, 37 do assert.near(x[i], back[i], 1e-15) end
  end)

  it("matches MuJoCo's free joint: linear velocity in the world frame, angular in the body's", function()
    local robot = sp.robot.load(SRC .. "/robots/quadruped_joint.lua")
    local plant = assert(sp.hal.open(robot, "mujoco"))
    plant:activate()
    -- a trunk in the air, turned 90 degrees, moving forward and rolling about its own x axis
    local s0 = { 0, 0, 1.5, math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4), 1, 0, 0, 0.5, 0, 0 }
    for j = 1, 12 do s0[13 + j], s0[25 + j] = STAND[j], 0 end
    plant:reset(imitate.to_plant(s0, 12))
    plant:write(STAND)
    local s1 = imitate.to_wm(plant:read(), 12)
    local dt = 0.02
    -- forward in the body frame is +y in the world
    assert.near(0, (s1[1] - s0[1]) / dt, 0.02)
    assert.near(1, (s1[2] - s0[2]) / dt, 0.02)
    assert.near(1, s1[8], 0.05)
    -- q1 = q0 Exp(w_body dt): the rotation between them, in the body frame, is about body x
    local q0c = { s0[4], -s0[5], -s0[6], -s0[7] }
    local d = qmul(q0c, { s1[4], s1[5], s1[6], s1[7] })
    assert.near(0.5, 2 * d[2] / dt, 0.05)
    assert.near(0, 2 * d[3] / dt, 0.05)
    assert.near(0, 2 * d[4] / dt, 0.05)
    plant:close()
  end)
end)

describe("imitate.reference", function()
  it("conditions on future frames: features and the planar displacement in the heading frame", function()
    local clip = walking_clip(0.5, 0.7, 60)
    local ref = imitate.reference(clip, 0.02, { 1, 5 }, "walk")
    assert.equal(60, ref.n)
    assert.equal(imitate.nc(12, { 1, 5 }), ref.nc)
    assert.equal(2 * 37, ref.nc)
    local c = ref.cond[10]
    assert.near(0.285, c[1], 1e-12)                 -- height
    assert.near(1, c[4], 1e-12)                     -- up in the body frame
    assert.near(0.5, c[5], 1e-9)                    -- forward body velocity
    assert.near(STAND[2], c[15], 1e-12)             -- a joint
    assert.near(0.5 * 0.02, c[35], 1e-9)            -- offset 1: dx ahead, in the heading frame
    assert.near(0, c[36], 1e-9)
    assert.near(0, c[37], 1e-12)                    -- no heading change
    assert.near(0.5 * 0.1, c[37 + 35], 1e-9)        -- offset 5
    -- past the end the clip holds its last frame
    assert.near(0, ref.cond[60][35], 1e-12)
  end)

  it("aligns the reference to a start state's horizontal position and heading", function()
    local ref = imitate.reference(walking_clip(0.5, 0, 60), 0.02, { 1 }, "walk")
    local s0 = { 3, -2, 0.28, math.cos(0.5), 0, 0, math.sin(0.5) }  -- heading 1 rad at (3, -2)
    local al = imitate.alignment(ref, 11, s0)
    local r = imitate.aligned(ref, 11, al)
    assert.near(3, r[1], 1e-12)
    assert.near(-2, r[2], 1e-12)
    assert.near(0.285, r[3], 1e-12)
    for i = 4, 7 do assert.near(s0[i], r[i], 1e-12) end
    local r2 = imitate.aligned(ref, 21, al)          -- 0.2 s later: 0.1 m along heading 1 rad
    assert.near(3 + 0.1 * math.cos(1), r2[1], 1e-9)
    assert.near(-2 + 0.1 * math.sin(1), r2[2], 1e-9)
  end)
end)

describe("imitate.to_reference", function()
  it("moves a start state onto its reference frame's position and heading, keeping its tilt", function()
    local ref = imitate.reference(walking_clip(0.5, 0.3, 60), 0.02, { 1 }, "walk")
    -- heading 1 rad, pitched 0.2 rad about its own y axis, at (3, -2)
    local qy, qz = { math.cos(0.1), 0, math.sin(0.1), 0 }, { math.cos(0.5), 0, 0, math.sin(0.5) }
    local q = qmul(qz, qy)
    local s0 = { 3, -2, 0.27, q[1], q[2], q[3], q[4] }
    for j = 8, 37 do s0[j] = j end
    local s = imitate.to_reference(ref, 11, s0)
    local r = ref.frames[11]
    assert.near(r[1], s[1], 1e-12)
    assert.near(r[2], s[2], 1e-12)
    assert.equal(0.27, s[3])
    local want = qmul({ math.cos(0.15), 0, 0, math.sin(0.15) }, qy)  -- heading 0.3, same pitch
    for i = 1, 4 do assert.near(want[i], s[3 + i], 1e-12) end
    for j = 8, 37 do assert.equal(j, s[j]) end
  end)
end)

describe("imitate.stand_up", function()
  -- a robot over udp the host cannot reset: the trunk's height of each read, in turn (the last
  -- repeats), the rearms counted
  local function robot(heights)
    local p = { backend = "udp", can_reset = false, reads = 0, rearms = 0 }
    function p:read()
      self.reads = self.reads + 1
      local x = { 0, 0, heights[math.min(self.reads, #heights)], 1, 0, 0, 0 }
      for i = 8, 37 do x[i] = 0 end
      return x
    end
    function p:rearm() self.rearms = self.rearms + 1 end
    return p
  end
  local function fell(s) return s[3] < 0.15 end

  it("returns where a standing robot is, asking nobody", function()
    local p = robot { 0.28 }
    local s = imitate.stand_up(p, fell, 12, function() error "asked" end)
    assert.equal(0.28, s[3])
    assert.equal(0, p.rearms)
  end)

  it("asks the operator to stand a fallen robot up, re-arms and reads it again", function()
    local p, asked = robot { 0.08, 0.10, 0.28 }, {}
    local s = imitate.stand_up(p, fell, 12, function(q) asked[#asked + 1] = q return "" end)
    assert.equal(0.28, s[3])
    assert.equal(2, #asked)  -- still down after the first Enter: asked again
    assert.matches("the robot is down %(trunk at 0.08 m%) and the host cannot reset it %(udp%): "
      .. "stand it up, then press Enter", asked[1])
    assert.equal(2, p.rearms)
  end)

  it("stops the run with nobody to ask, or when the operator answers q", function()
    local ok, err = pcall(imitate.stand_up, robot { 0.05 }, fell, 12, function() return nil end)
    assert.is_false(ok)
    assert.matches("the robot is down %(trunk at 0.05 m%) and the host cannot reset it %(udp%) "
      .. "and there is no terminal to ask the operator to stand it up", err)
    ok, err = pcall(imitate.stand_up, robot { 0.05 }, fell, 12, function() return "q" end)
    assert.is_false(ok)
    assert.matches("stopped by the operator", err)
  end)

  it("without a terminal the default asks nobody", function()
    -- CTest runs busted with stdin not a terminal
    local host = require "spinal.host"
    if host.isatty(io.stdin) and host.isatty(io.stderr) then return end
    assert.is_nil(imitate.ask_operator "stand it up")
  end)
end)

describe("imitate.new", function()
  it("refuses a plant that is not a floating base with a joint per action", function()
    local robot = sp.robot.load(SRC .. "/robots/quadruped.lua")
    local plant = assert(sp.hal.open(robot, "model"))
    local ok, msg = pcall(imitate.new, { plant = plant, robot = robot,
                                         clips = { walking_clip(0.5, 0, 10) } })
    assert.is_false(ok)
    assert.matches("imitate: the plant's state has 3 entries, expected 17", msg)
    plant:close()
  end)
end)

describe("imitate.load", function()
  local robot, plant, dir, clips
  setup(function()
    robot = sp.robot.load(SRC .. "/robots/quadruped_joint.lua")
    plant = assert(sp.hal.open(robot, "mujoco"))
    plant:activate()
    clips = { { clip = walking_clip(0.2, 0, 40), name = "slow" },
              { clip = walking_clip(0.4, 0, 40), name = "fast" } }
    local L = imitate.new { plant = plant, robot = robot, clips = clips, seed = 1,
                            wm_hidden = 8, wm_layers = 1, pol_hidden = 8, pol_layers = 1, lat = 2,
                            wm_batch = 4, pol_batch = 4, horizon = 2, wm_iters = 1, pol_iters = 1,
                            collect = 60, episode_steps = 20, bootstrap = false }
    L:iterate()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute(("mkdir -p '%s'"):format(dir)))
    L:save(dir)
  end)
  teardown(function()
    os.execute(("rm -rf '%s'"):format(dir))
    plant:close()
  end)

  it("loads a checkpoint with the clips it was trained on", function()
    local L = imitate.load(dir, { plant = plant, robot = robot, clips = clips })
    assert.equal(2, #L.refs)
    assert.is_true(L.starts.n > 0)
  end)

  it("refuses other clips, naming the checkpoint and the clip (quick runs use another library)",
    function()
      local ok, msg = pcall(imitate.load, dir, { plant = plant, robot = robot, clips = { clips[1] } })
      assert.is_false(ok)
      assert.matches("was trained on 2 gait clips, given 1", msg, 1, true)
      assert.matches(dir, msg, 1, true)
      assert.matches("quick=true", msg, 1, true)
      ok, msg = pcall(imitate.load, dir, { plant = plant, robot = robot,
                                           clips = { clips[2], clips[1] } })
      assert.is_false(ok)
      assert.matches("clip 1 is slow (40 frames), given fast (40 frames)", msg, 1, true)
    end)

  it("checks an older checkpoint's start records against the clips given", function()
    -- loop.json without its clips (checkpoints before they were recorded), one short clip given
    local json = require "spinal.json"
    local old = dir .. "-old"
    assert(os.execute(("cp -r '%s' '%s'"):format(dir, old)))
    local note = json.read(old .. "/loop.json")
    note.clips = nil
    local f = assert(io.open(old .. "/loop.json", "w"))
    f:write(json.encode(note), "\n")
    f:close()
    local short = { { clip = walking_clip(0.2, 0, 3), name = "short" } }
    local ok, msg = pcall(imitate.load, old, { plant = plant, robot = robot, clips = short })
    os.execute(("rm -rf '%s'"):format(old))
    assert.is_false(ok)
    assert.matches("which the 1 given clips do not have", msg, 1, true)
  end)
end)

describe("imitate.pretrain", function()
  local robot, plant, clips
  local tiny = { wm_hidden = 8, wm_layers = 1, pol_hidden = 8, pol_layers = 1, lat = 2,
                 wm_batch = 4, pol_batch = 4, horizon = 2, wm_iters = 1, pol_iters = 1,
                 collect = 30, episode_steps = 20, bootstrap = false }
  setup(function()
    robot = sp.robot.load(SRC .. "/robots/quadruped_joint.lua")
    plant = assert(sp.hal.open(robot, "mujoco"))
    plant:activate()
    clips = { { clip = walking_clip(0.2, 0, 40), name = "slow" } }
  end)
  teardown(function() plant:close() end)
  local function opts(seed)
    local o = { plant = plant, robot = robot, clips = clips, seed = seed }
    for k, v in pairs(tiny) do o[k] = v end
    return o
  end

  it("collects whole rounds until the samples are reached, as the loop iterated by hand", function()
    local L = imitate.pretrain(opts(3), 70)  -- 70 samples: three rounds of 30
    assert.equal(3, L.iter)
    assert.equal(90, L.samples)
    local H = imitate.new(opts(3))
    for _ = 1, 3 do H:iterate() end
    assert.same(H.pol:params():totable(), L.pol:params():totable())
    assert.same(H.model:params():totable(), L.model:params():totable())
  end)

  it("puts imitate.quick's sizes over the options with quick = true", function()
    local L = imitate.pretrain(opts(3), 1, { quick = true })
    for k, v in pairs(imitate.quick) do assert.equal(v, L.cfg[k], k) end
    assert.equal(imitate.quick.collect, L.samples)
  end)
end)
