-- motion_spec.lua: the spinal.motion binding (lua/bind/motion.c): clips built from frames, sampled
-- and windowed, saved and loaded in spinal's formats, the public mocap text (x, y, z, w quaternions,
-- joint map), and the errors a user sees.
local motion = require "spinal.motion"
local array = require "spinal.array"

local function err(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok)
  return tostring(msg)
end

local function tmpfile(name)
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. p))
  return p .. "/" .. name
end

-- a walk along x at 1 m/s with the first joint swinging: 11 frames 0.1 s apart
local function walk(nj)
  local F = array.zeros(11, 7 + nj)
  for i = 1, 11 do
    F[i][1] = 0.1 * (i - 1)
    F[i][3] = 0.4
    F[i][4] = 1
    F[i][8] = math.sin(i)
  end
  return F
end

describe("motion.clip", function()
  it("samples the state layout of the world model with body-frame velocities", function()
    local c = motion.clip { frames = walk(2), frame_duration = 0.1 }
    assert.equal(17, c.nx)
    assert.equal(11, c.nframes)
    assert.near(1.0, c.duration, 1e-15)
    local s = c:sample(0.25)
    assert.near(0.25, s[1], 1e-12)   -- position
    assert.near(1, s[4], 1e-12)      -- quaternion w
    assert.near(1, s[8], 1e-12)      -- forward body velocity, m/s
    local w = c:window(0.2, { 0, 1 / 30, 1 })
    assert.same({ 3, 17 }, w.shape)
    assert.near(c:sample(0.2 + 1 / 30)[1], w[2][1], 1e-15)
    assert.equal("clip: 11 frames of 2 joints, 1 s", tostring(c))
  end)

  it("refuses frames of the wrong shape and zero quaternions, naming the field", function()
    assert.matches("field 'frames': expected an array %(frames >= 2, 7 %+ joints%) of position, "
                   .. "quaternion w x y z and joint angles, got shape 1x9",
                   err(motion.clip, { frames = array.zeros(1, 9), frame_duration = 0.1 }))
    assert.matches("field 'frames': frame 0: quaternion is zero",
                   err(motion.clip, { frames = array.zeros(3, 9), frame_duration = 0.1 }))
    assert.matches("field 'frame_duration': expected a number > 0, got nil",
                   err(motion.clip, { frames = walk(1) }))
  end)
end)

describe("motion files", function()
  it("round-trips spinal's JSON and NPY formats", function()
    local c = motion.clip { frames = walk(3), frame_duration = 0.1, loop = true }
    local pj, pn = tmpfile("walk.json"), tmpfile("walk.npy")
    assert.is_true(c:save(pj))
    assert.is_true(c:save(pn))
    local a = assert(motion.load(pj))
    assert.is_true(a.loop)
    local b = assert(motion.load(pn, { frame_duration = 0.1 }))
    assert.is_false(b.loop)
    local F = c:frames()
    for i = 1, 11 do
      for k = 1, 10 do
        assert.equal(F[i][k], a:frames()[i][k])
        assert.equal(F[i][k], b:frames()[i][k])
      end
    end
    assert.matches("field 'frame_duration': expected a number > 0, got nil",
                   err(motion.load, pn))
  end)

  it("loads the public mocap text with x, y, z, w quaternions through the joint map", function()
    local p = tmpfile("dog.txt")
    local f = assert(io.open(p, "w"))
    -- 90 degrees of yaw: (x, y, z, w) = (0, 0, sin 45, cos 45)
    local q = ("0, 0, %.17g, %.17g"):format(math.sin(math.pi / 4), math.cos(math.pi / 4))
    local joints = "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11"
    f:write('{"LoopMode": "Clamp", "FrameDuration": 0.05, "Frames": [\n',
            "[0, 0, 0.4, ", q, ", ", joints, "],\n",
            "[0, 0.1, 0.4, ", q, ", ", joints, "]]}\n")
    f:close()
    local c = assert(motion.load(p))
    assert.equal(12, c.nj)
    local s = c:sample(0)
    assert.near(math.cos(math.pi / 4), s[4], 1e-15)   -- w first inside spinal
    assert.near(math.sin(math.pi / 4), s[7], 1e-15)
    assert.near(2, s[8], 1e-12)   -- 2 m/s along world y is forward in the yawed body frame
    assert.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, motion.default_map().perm)
    assert.equal(0, s[14])        -- the files' order is spinal's quadruped's
    -- a robot ordered FL, FR, HL, HR, its first abduction axis reversed
    local m = motion.default_map()
    m.perm = { 4, 5, 6, 1, 2, 3, 10, 11, 12, 7, 8, 9 }
    m.sign[1] = -1
    local c2 = assert(motion.load(p, { map = m }))
    assert.equal(-3, c2:sample(0)[14])
    assert.equal(8, c2:sample(0)[25])
    m.perm[2] = 4
    assert.matches("field 'map.perm': perm%[1%] = 3, expected a permutation of 0..11",
                   err(motion.load, p, { map = m }))
  end)

  it("returns nil and a message naming the file, line and field", function()
    local p = tmpfile("bad.txt")
    local f = assert(io.open(p, "w"))
    f:write('{"LoopMode": "Wrap",\n "FrameDuration": -1, "Frames": []}')
    f:close()
    local c, msg = motion.load(p)
    assert.is_nil(c)
    assert.equal(p .. ": line 2: field 'FrameDuration': expected a number > 0, got -1", msg)
  end)
end)
