-- render_spec.lua: offscreen pictures of recorded MuJoCo runs: the renderer binding
-- (spinal.renderer over render/render.c, headless EGL), what a mujoco rollout records for it
-- (qpos and the MJCF), and spinal.render.video writing the MP4 and the poster, with its errors.
local R = require "spinal.renderer"
local A = require "spinal.array"
local hal = require "spinal.hal"
local json = require "spinal.json"
local run_lib = require "spinal.run"
local robot_lib = require "spinal.robot"
local render = require "spinal.render"
local S = require "support"

local XML = "robots/rc_car.xml"

local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return (tostring(err):gsub("^[^:]+:%d+: ", ""))
end

local function tmpdir()
  local p = S.tmpfile()
  os.remove(p)
  assert(os.execute("mkdir -p " .. S.q(p)))
  return p
end

-- the car at (x, y), at rest on its wheels
local function car_at(x, y)
  return { x, y, 0.0498, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
end

-- mean of the red-minus-blue of an image's pixels: the red chassis in view raises it
local function redness(img)
  local s = 0
  for i = 1, #img, 3 do
    local r, _, b = img:byte(i, i + 2)
    s = s + r - b
  end
  return s / (#img / 3)
end

local CAM = { lookat = { 0, 0, 0.05 }, distance = 1.5, azimuth = 90, elevation = -30 }

-- a short car rollout on the mujoco plant, saved as a run (learned trajectory, reference path)
local function recorded_run(steps)
  local dir = tmpdir()
  local robot = robot_lib.load "robots/rc_car.lua"
  local plant = run_lib.open_plant(robot, "mujoco", "render_spec")
  local traj = plant:rollout(robot.controller, { steps = steps, r = { 0, 0.5, 1, 0, 0, 0 } })
  plant:close()
  local run = run_lib.start { name = "render_spec", out = dir, settings = { seed = 1 } }
  run:save_traj("learned", traj, { states = robot.state, actions = robot.action })
  run:save_reference({ -1, 0, 1, 2 }, { 0, 0.5, 0, -0.5 })
  return dir, traj
end

local function ffprobe_frames(file)
  local p = io.popen("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
    .. "stream=nb_read_frames,width,height,codec_name -of csv=p=0 " .. S.q(file))
  local out = p:read "a"
  p:close()
  return out:gsub("%s+$", "")
end

describe("spinal.renderer", function()
  teardown(S.cleanup)

  it("draws the car where its pose puts it, the same pose the same image", function()
    local r = assert(R.open { mjcf = XML, width = 64, height = 48 })
    assert.are.equal(13, r.nq)
    assert.are.equal(64, r.width)
    assert.are.equal(48, r.height)
    assert.are.equal("spinal.renderer (64 x 48, nq = 13)", tostring(r))
    r:pose(car_at(0, 0))
    local here = r:frame(CAM)
    assert.are.equal(64 * 48 * 3, #here)
    r:pose(car_at(30, 0))
    local gone = r:frame(CAM)
    assert.is_true(redness(here) > redness(gone) + 3)
    -- by row of an (n x nq) array: the same picture
    local Q = A.zeros(2, 13)
    for j, v in ipairs(car_at(0, 0)) do Q[2][j] = v end
    r:pose(Q, 2)
    assert.are.equal(here, r:frame(CAM))
    r:close()
    assert.are.equal("spinal.renderer (closed)", tostring(r))
    assert.are.equal("calling 'frame' on bad self (the renderer is closed)",
      error_of(function() r:frame(CAM) end))
  end)

  it("follows the robot's root body and measures its size", function()
    local r = assert(R.open { mjcf = XML, width = 32, height = 32 })
    r:pose(car_at(2, -1))
    local c, radius = r:focus()
    assert.is_true(math.abs(c[1] - 2) < 0.02 and math.abs(c[2] + 1) < 0.02)
    assert.is_true(radius > 0.18 and radius < 0.35)
    r:track "rear_left"
    local w, wr = r:focus()
    assert.is_true(math.abs(w[1] - 1.84) < 0.01 and wr < 0.08)
    r:close()
  end)

  it("draws the quadruped standing and lying, following its trunk", function()
    -- the two keyframes of robots/quadruped.xml, as a mujoco plant records them
    local function pose(key)
      local p = assert(hal.open("mujoco", { mjcf = "robots/quadruped.xml", keyframe = key }))
      local tr = p:rollout { steps = 1, policy = { K = A.zeros(p.nu, p.nx) } }
      p:close()
      return tr.qpos[1]
    end
    local r = assert(R.open { mjcf = "robots/quadruped.xml", width = 64, height = 48 })
    r:pose(pose "stand")
    local c1, rad = r:focus()
    local cam = { lookat = c1, distance = 5 * rad, azimuth = 135, elevation = -30 }
    local standing = r:frame(cam)
    r:pose(pose "lying")
    local c2 = r:focus()
    local lying = r:frame(cam)
    assert.is_true(rad > 0.25 and rad < 0.6)  -- a Go1-sized robot: legs and trunk
    assert.is_true(c1[3] > c2[3] + 0.1)       -- the trunk is lower lying down
    assert.are_not.equal(standing, lying)
    local lo, hi = 255, 0
    for i = 1, #standing do
      local b = standing:byte(i)
      lo, hi = math.min(lo, b), math.max(hi, b)
    end
    assert.is_true(hi - lo > 100)  -- not blank: dark legs on a light floor
    r:close()
  end)

  it("refuses bad arguments naming them", function()
    assert.are.equal("bad argument #1 to 'open' (unknown option 'size'; valid: mjcf, width, "
      .. "height, samples, track)", error_of(function() R.open { mjcf = XML, size = 3 } end))
    assert.are.equal("bad argument #1 to 'open' (field 'width': expected an integer in [16, "
      .. "4096], got 8)", error_of(function() R.open { mjcf = XML, width = 8 } end))
    local r = assert(R.open { mjcf = XML, width = 32, height = 24 })
    assert.are.equal("bad argument #1 to 'pose' (expected a configuration (qpos) of length 13, "
      .. "got 3)", error_of(function() r:pose { 1, 2, 3 } end))
    assert.are.equal("bad argument #1 to 'pose' (expected an (n x 13) array of configurations, "
      .. "got (3 x 4))", error_of(function() r:pose(A.zeros(3, 4), 1) end))
    assert.are.equal("bad argument #2 to 'pose' (expected a row in [1, 3], got 4)",
      error_of(function() r:pose(A.zeros(3, 13), 4) end))
    assert.are.equal("bad argument #1 to 'frame' (field 'lookat': expected 3 numbers (a world "
      .. "point), got nil)", error_of(function() r:frame {} end))
    assert.are.equal("bad argument #1 to 'frame' (field 'paths[1].points': expected a "
      .. "contiguous (n x 3) spinal.array, got a (3 x 2) array)", error_of(function()
        r:frame { lookat = { 0, 0, 0 }, distance = 1, paths = { { points = A.zeros(3, 2) } } }
      end))
    assert.are.equal("bad argument #1 to 'frame' (field 'paths[1].count': expected an integer "
      .. "in [0, 3], got 4)", error_of(function()
        r:frame { lookat = { 0, 0, 0 }, distance = 1,
                  paths = { { points = A.zeros(3, 3), count = 4 } } }
      end))
    assert.are.equal("bad argument #1 to 'track' (render: no body named 'wing')",
      error_of(function() r:track "wing" end))
    r:close()
  end)

  it("gives nil and a message for a missing file, an unknown body, a non-finite pose", function()
    local r, err = R.open { mjcf = "no/such/car.xml" }
    assert.is_nil(r)
    assert.are.equal("render: cannot open MJCF no/such/car.xml", err)
    r, err = R.open { mjcf = XML, track = "wing" }
    assert.is_nil(r)
    assert.are.equal("render: no body named 'wing' (in robots/rc_car.xml)", err)
    r = assert(R.open { mjcf = XML, width = 32, height = 24 })
    local q = car_at(0, 0)
    q[8] = 0 / 0
    local ok, perr = r:pose(q)
    assert.is_nil(ok)
    assert.are.equal("render: the configuration is not finite", perr)
    r:close()
  end)

  it("writes to a pipe whose reader is gone as an error, not SIGPIPE", function()
    local r = assert(R.open { mjcf = XML, width = 320, height = 240 })
    r:draw(CAM)
    local p = io.popen("exit 0", "w")
    local ok, err = r:write(p)  -- 230 kB: more than a pipe holds, so the write sees the reader go
    assert.is_nil(ok)
    assert.are.equal("render: cannot write the image (Broken pipe)", err)
    p:close()
    r:close()
  end)
end)

describe("a rollout on a mujoco plant", function()
  teardown(S.cleanup)

  it("records MuJoCo's configuration with every state, and the model file", function()
    local robot = robot_lib.load "robots/rc_car.lua"
    local plant = run_lib.open_plant(robot, "mujoco", "render_spec")
    local traj = plant:rollout(robot.controller, { steps = 20, r = { 0, 0.5, 1, 0, 0, 0 } })
    assert.are.same({ 21, 13 }, { traj.qpos.shape[1], traj.qpos.shape[2] })
    for k = 1, 21 do  -- px, py of the state are the free joint's x, y
      assert.are.equal(traj.X[k][1], traj.qpos[k][1])
      assert.are.equal(traj.X[k][2], traj.qpos[k][2])
    end
    assert.is_truthy(traj.mjcf:match "^/.*/robots/rc_car%.xml$")
    plant:close()
    -- a model plant has no MuJoCo configuration
    local model = run_lib.open_plant(robot, "model", "render_spec")
    local mt = model:rollout(robot.controller, { steps = 5, r = { 0, 0.5, 1, 0, 0, 0 } })
    assert.is_nil(mt.qpos)
    assert.is_nil(mt.mjcf)
    model:close()
  end)

  it("is saved with its trajectory, the sidecar naming the model", function()
    local dir = recorded_run(10)
    local side = assert(json.read(dir .. "/learned.json"))
    assert.are.equal("learned_qpos.npy", side.files.qpos)
    assert.are.equal("learned_qpos.npy", side.mujoco.qpos)
    assert.are.equal(13, side.mujoco.nq)
    assert.is_truthy(side.mujoco.mjcf:match "robots/rc_car%.xml$")
    local Q = assert(A.load(dir .. "/learned_qpos.npy"))
    assert.are.same({ 11, 13 }, { Q.shape[1], Q.shape[2] })
    local ref = assert(A.load(dir .. "/reference_path.npy"))
    assert.are.same({ 4, 2 }, { ref.shape[1], ref.shape[2] })
    assert.are.equal(0.5, ref[2][2])
  end)
end)

describe("spinal.render.video", function()
  teardown(S.cleanup)

  it("writes an MP4 of every frame and a PNG poster", function()
    local dir = recorded_run(25)  -- 0.5 s at 50 Hz
    local res = assert(render.video { run = dir, width = 64, height = 48, fps = 10 })
    assert.are.equal(6, res.frames)
    assert.are.equal(dir .. "/learned.mp4", res.video)
    assert.are.equal(dir .. "/learned.png", res.poster)
    assert.are.equal("learned", res.traj)
    assert.are.equal("h264,64,48,6", ffprobe_frames(res.video))
    assert.are.equal("\137PNG\r\n\26\n", S.slurp(res.poster):sub(1, 8))
    -- twice the speed: half the frames; another file, no poster, a GIF
    local gif = dir .. "/fast.gif"
    res = assert(render.video { run = dir, width = 64, height = 48, fps = 10, speed = 2,
                                out = dir .. "/fast.mp4", poster = "none", gif = gif,
                                camera = "overview" })
    assert.are.equal(3, res.frames)
    assert.is_nil(res.poster)
    assert.are.equal("h264,64,48,3", ffprobe_frames(dir .. "/fast.mp4"))
    assert.are.equal("GIF89a", S.slurp(gif):sub(1, 6))
  end)

  it("stops when its progress function says so, leaving no file behind", function()
    local dir = recorded_run(25)
    local seen = 0
    local res, err = render.video { run = dir, width = 32, height = 32, fps = 10,
                                    progress = function(i) seen = i return i < 3 end }
    assert.is_nil(res)
    assert.are.equal("render: interrupted (no video written)", err)
    assert.are.equal(3, seen)
    assert.is_nil(io.open(dir .. "/learned.mp4"))
    assert.is_nil(io.open(dir .. "/learned.mp4.part"))
    assert.is_nil(io.open(dir .. "/learned.png"))
  end)

  it("names what is missing: a run, a recording, a robot file, the model file", function()
    local _, err = render.video { run = "/nonexistent/run" }
    assert.are.equal("render: /nonexistent/run is not a run directory (no settings.json, nor a "
      .. "loop's recording)", err)

    -- a run without trajectories
    local dir = tmpdir()
    S.spit(dir .. "/settings.json", "{}\n")
    _, err = render.video { run = dir }
    assert.are.equal(("render: %s has no recording to draw (no trajectory with MuJoCo's "
      .. "configuration or states, no loop recording x.npy)"):format(dir), err)
    -- states but no MuJoCo configuration, and no robot file to draw them with
    S.spit(dir .. "/learned.json", json.encode { files = { X = "learned_X.npy" } })
    _, err = render.video { run = dir }
    assert.are.equal(("render: %s: 'learned' has states but no MuJoCo configuration, and no "
      .. "robot file is named to draw them with (pass --robot FILE)"):format(dir), err)
    _, err = render.video { run = dir, traj = "best" }
    assert.are.equal(("render: %s has no trajectory 'best' (%s/best.json)"):format(dir, dir), err)

    -- a recording whose model file has moved
    dir = recorded_run(5)
    local side = json.read(dir .. "/learned.json")
    side.mujoco.mjcf = "/moved/rc_car.xml"
    S.spit(dir .. "/learned.json", json.encode(side))
    _, err = render.video { run = dir }
    assert.are.equal("render: the model file /moved/rc_car.xml is missing (the recording names "
      .. "it; pass --mjcf FILE, or mjcf = FILE, if it moved)", err)
    local res = assert(render.video { run = dir, mjcf = XML, width = 32, height = 32,
                                      poster = "none" })
    assert.are.equal(dir .. "/learned.mp4", res.video)
  end)

  it("checks its options", function()
    local function err_of(o)
      local _, e = render.video(o)
      return e
    end
    assert.are.equal("render: width and height: expected even numbers of pixels (H.264 video), "
      .. "got 65 x 48", err_of { run = "x", width = 65, height = 48 })
    assert.are.equal("render: camera: expected track or overview, got orbit",
      err_of { run = "x", camera = "orbit" })
    assert.are.equal("render: fps: expected an integer in [1, 240], got 0",
      err_of { run = "x", fps = 0 })
    assert.are.equal("render: unknown option 'colour'", err_of { run = "x", colour = 1 })
  end)
end)

-- a trajectory of the quadruped's velocity level on its model plant (no MuJoCo), saved as a run
-- whose settings name the robot file: what a udp:// or model-plant run leaves
local function state_run(steps)
  local dir = tmpdir()
  local robot = robot_lib.load "robots/quadruped.lua"
  local plant = run_lib.open_plant(robot, "model", "render_spec")
  local traj = plant:rollout(robot.controller, { steps = steps, x0 = { 0.5, -0.2, 0.3 },
                                                 r = { 0, 0, 0, 0, 0.5, 0.1 } })
  plant:close()
  assert.is_nil(traj.qpos)
  local run = run_lib.start { name = "render_spec", out = dir,
                              settings = { robot = "robots/quadruped.lua" } }
  run:save_traj("learned", traj, { states = robot.state, actions = robot.action })
  return dir, traj
end

-- the trunk's yaw of a configuration row (free joint quaternion at 4..7)
local function yaw_of(Q, k)
  local w, x, y, z = Q[k][4], Q[k][5], Q[k][6], Q[k][7]
  return math.atan(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
end

describe("spinal.render of recordings without MuJoCo's configuration", function()
  teardown(S.cleanup)

  it("poses the robot file's mujoco plant at every recorded state", function()
    local _, traj = state_run(20)
    local Q, mjcf = assert(render.poses("robots/quadruped.lua", traj.X, { "px", "py", "phi" }))
    assert.is_truthy(mjcf:match "robots/quadruped%.xml$")
    assert.are.same({ 21, 19 }, { Q.shape[1], Q.shape[2] })
    for k = 1, 21 do
      assert.is_near(traj.X[k][1], Q[k][1], 1e-12)
      assert.is_near(traj.X[k][2], Q[k][2], 1e-12)
      assert.is_near(traj.X[k][3], yaw_of(Q, k), 1e-12)
      assert.are.equal(0.285, Q[k][3])  -- the rest from the "stand" keyframe
      assert.are.equal(0.9, Q[k][9])
    end
    -- plant:qpos() is MuJoCo's configuration, which only a mujoco plant has
    local model = run_lib.open_plant(robot_lib.load "robots/quadruped.lua", "model", "render_spec")
    local none, why = model:qpos()
    model:close()
    assert.is_nil(none)
    assert.are.equal("qpos: only mujoco plants have MuJoCo's configuration (this one is model)", why)
    -- states that are not the robot file's
    local _, err = render.poses("robots/quadruped.lua", traj.X, { "x", "y", "phi" })
    assert.are.equal("the recording's state 1 is 'x' but robots/quadruped.lua's is 'px'", err)
    _, err = render.poses("robots/quadruped.lua", A.zeros(3, 2))
    assert.are.equal("the recording has 2 states per row but robots/quadruped.lua has 3 (px py "
      .. "phi)", err)
  end)

  it("renders a run on a model or udp plant from its states", function()
    local dir = state_run(10)  -- 1 s at 10 Hz
    local res = assert(render.video { run = dir, width = 64, height = 48, fps = 10 })
    assert.is_true(res.from_states)
    assert.are.equal("learned", res.traj)
    assert.are.equal("h264,64,48,11", ffprobe_frames(res.video))
  end)

  it("renders a live loop's recording, which names its robot file", function()
    local dir = tmpdir() .. "/rec"
    local robot = robot_lib.load "robots/quadruped.lua"
    local plant = assert(robot:open "model")
    local loop = require("spinal.live").loop(robot, plant)
    loop:start()
    loop:resume()
    loop:record(1)
    assert.are.equal(dir, (loop:save(dir)))
    loop:close()
    plant:close()
    local info = assert(json.read(dir .. "/recording.json"))
    assert.are.equal("loop", info.kind)
    assert.are.equal("quadruped", info.robot)
    assert.is_truthy(info.robot_file:match "^/.*/robots/quadruped%.lua$")
    assert.are.equal("model", info.plant)
    assert.are.same({ "px", "py", "phi" }, info.state)
    assert.are.same({ "v", "w" }, info.action)
    local res = assert(render.video { run = dir, width = 64, height = 48, fps = 5 })
    assert.are.equal("recording", res.traj)
    assert.is_true(res.from_states)
    assert.are.equal(dir .. "/recording.mp4", res.video)
    assert.is_truthy(S.slurp(dir .. "/recording.png"))
  end)

  it("draws a payload as a block on the trunk, where it sits", function()
    local text = S.slurp "robots/quadruped.xml"
    local out = assert(render.payload_mjcf(text, { mass = 3, x = 0.1, y = 0 }))
    -- a steel cube of 3 kg (side 7.26 cm) on the trunk's box (half height 0.055 m)
    assert.is_truthy(out:find('<body name="trunk" pos="0 0 0.45">\n<geom name="spinal_payload" '
      .. 'type="box" size="0.0363 0.0363 0.0363" pos="0.1000 0.0000 0.0913"', 1, true))
    local _, err = render.payload_mjcf("<mujoco><worldbody/></mujoco>", { mass = 1, x = 0, y = 0 })
    assert.are.equal("the MJCF has no free-floating body to carry the payload", err)
    -- the same pose, from above, with and without it: the red block shows
    local copy = S.tmpfile() .. ".xml"
    S.spit(copy, out)
    local q = { 0, 0, 0.285, 1, 0, 0, 0 }
    for _ = 1, 4 do for _, v in ipairs { 0, 0.9, -1.8 } do q[#q + 1] = v end end
    local cam = { lookat = { 0, 0, 0.3 }, distance = 1.2, azimuth = 90, elevation = -80 }
    local function red_pixels(file)
      local r = assert(R.open { mjcf = file, width = 128, height = 96 })
      r:pose(q)
      local img = r:frame(cam)
      r:close()
      local n = 0
      for i = 1, #img, 3 do
        local cr, cg, cb = img:byte(i, i + 2)
        if cr > cg + 80 and cr > cb + 80 then n = n + 1 end
      end
      return n
    end
    local with, without = red_pixels(copy), red_pixels "robots/quadruped.xml"
    os.remove(copy)
    assert.is_true(with > without + 20, ("red pixels %d with, %d without"):format(with, without))
  end)
end)
