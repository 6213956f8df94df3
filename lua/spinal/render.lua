-- render.lua: videos and posters of recorded MuJoCo runs (spinal.render, and `spinal render`).
--
-- A rollout on a mujoco plant records MuJoCo's configuration at every tick (NAME_qpos.npy, with
-- the MJCF named in NAME.json); tracking experiments also save their reference path
-- (reference_path.npy). This module draws them with MuJoCo's own renderer, headless
-- (spinal.renderer: EGL, Mesa's software rasteriser on a machine without a GPU), and encodes the
-- frames with the ffmpeg program: an MP4 (H.264), a poster PNG (the whole run from above, the
-- robot where it ended) and optionally a GIF.
--
--   local render = require "spinal.render"
--   local out = render.video { run = "runs/car_mujoco/20261205-012345" }
--     -- out.video (RUN/learned.mp4), out.poster (RUN/learned.png), out.frames, out.seconds
--   render.video { run = DIR, traj = "nominal", out = "car.mp4", gif = "car.gif", fps = 25,
--                  width = 960, height = 540, camera = "overview", seconds = 10 }
--   spinal render RUN_DIR [--traj NAME] [--out FILE] [--fps N] [--width W --height H] ...
--
-- Any run's recording renders: a trajectory with MuJoCo's configuration is drawn as recorded; a
-- trajectory without it (a run on a udp:// plant, the robot behind `spinal bridge`, or on a
-- model plant) and a live loop's recording (loop:save(DIR) and the REPL's autosave: x.npy, t.npy
-- and recording.json naming the robot file) are drawn from their states: each recorded state is
-- set on the robot file's mujoco plant as a reset would set it (the state's positions: a
-- quadruped's trunk position and heading, the joint angles it carries; the rest from the plant's
-- keyframe), so a velocity-level quadruped's legs are drawn in its keyframe's stance, not as they
-- stepped. The robot file comes from the run's settings.json (`robot`), the recording's
-- recording.json (`robot_file`) or --robot FILE. A payload perturbation (`payload`, `payload_x`,
-- `payload_y`: the run's settings, or the robot file's plants.mujoco.perturb) is drawn as a red
-- block on the trunk (a steel cube of its mass, at its offset), in a copy of the MJCF.
--
-- The tracking camera looks at the robot's root body (the centre of mass of its subtree,
-- smoothed over 0.1 s) from a distance that follows the robot's size (5 times the radius of its
-- geoms; more when a reference path is drawn, so the path around the robot shows); the overview
-- camera frames the whole reference path and the path the robot took. The reference path is
-- drawn in blue and the robot's own path so far in orange, both on the floor.
local renderer = require "spinal.renderer"
local A = require "spinal.array"
local json = require "spinal.json"

local M = {}

M.usage = [[
usage: spinal render RUN_DIR [options]
  --traj NAME          the recorded rollout to draw (default: learned, else the first found)
  --out FILE           the video (default: RUN_DIR/NAME.mp4)
  --poster FILE        the poster image (default: RUN_DIR/NAME.png; none: no poster)
  --gif FILE           also a GIF (a smaller, slower-rate copy of the video)
  --fps N              video frames per second (default 30)
  --speed X            playback speed (default 1: real time)
  --seconds S          only the first S seconds of the run
  --width W            image width in pixels, even (default 640)
  --height H           image height in pixels, even (default 480)
  --camera MODE        track (default: follow the robot) or overview (the whole run)
  --distance D         camera distance in m (default: from the robot's size)
  --azimuth DEG        camera azimuth (default 135; overview 90: x to the right)
  --elevation DEG      camera elevation, negative looks down (default -30; overview -60)
  --body NAME          the body the camera follows (default: the robot's root)
  --mjcf FILE          the model file (default: the one the recording names)
  --robot FILE         the robot file whose mujoco plant maps recorded states to poses
                       (default: the one the run's settings or recording.json name)]]

M.defaults = { traj = nil, fps = 30, speed = 1, width = 640, height = 480, camera = "track" }

local function fail(fmt, ...)
  return nil, fmt:format(...)
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- ---- what a run directory holds -------------------------------------------------------------

-- a robot file a run names relative to where it ran: as named, else in the source tree these
-- modules come from (robots/ beside lua/), else as named
local function find_robot(path)
  if exists(path) or path:sub(1, 1) == "/" then return path end
  local me = package.searchpath and package.searchpath("spinal.render", package.path)
  local root = me and me:match "^(.*)/lua/spinal/render%.lua$"
  if root and exists(root .. "/" .. path) then return root .. "/" .. path end
  return path
end

-- the robot file a run names (settings.json's robot, or recording.json's robot_file), or nil
local function robot_file(dir, o)
  if o.robot then return o.robot end
  local info = json.read(dir .. "/recording.json")
  if type(info) == "table" and type(info.robot_file) == "string" then return info.robot_file end
  local settings = json.read(dir .. "/settings.json")
  if type(settings) == "table" and type(settings.robot) == "string" then
    return find_robot(settings.robot)
  end
  return nil
end

-- a trajectory of dir: { name, Q = qpos file } (MuJoCo's configuration recorded) or
-- { name, X = states file, t = times file, states = names } (poses from the states); nil, why
local function recording(dir, name)
  if name == "recording" and exists(dir .. "/x.npy") then  -- a live loop's recording
    local info = json.read(dir .. "/recording.json")
    return { name = name, X = "x.npy", t = exists(dir .. "/t.npy") and "t.npy" or nil,
             states = type(info) == "table" and info.state or nil, loop = true }
  end
  local side = json.read(dir .. "/" .. name .. ".json")
  if type(side) ~= "table" or type(side.files) ~= "table" then
    return fail("%s has no trajectory '%s' (%s/%s.json)", dir, name, dir, name)
  end
  if type(side.mujoco) == "table" and side.mujoco.qpos then
    return { name = name, Q = side.mujoco.qpos, mjcf = side.mujoco.mjcf, t = side.files.t }
  end
  if not side.files.X then
    return fail("%s: trajectory '%s' has neither MuJoCo's configuration nor states", dir, name)
  end
  return { name = name, X = side.files.X, t = side.files.t, states = side.states }
end

-- the trajectories of dir, learned first; those with MuJoCo's configuration before those drawn
-- from their states
local function recorded(dir)
  local names, seen, from_states = {}, {}, {}
  local function try(name)
    if seen[name] then return end
    seen[name] = true
    local rec = recording(dir, name)
    if rec then
      local list = rec.Q and names or from_states
      list[#list + 1] = name
    end
  end
  try "learned"
  local ok, host = pcall(require, "spinal.host")
  local list = ok and host.listdir and host.listdir(dir) or {}
  table.sort(list)
  for _, f in ipairs(list) do
    local stem = f:match "^(.+)%.json$"
    if stem and stem ~= "settings" and stem ~= "summary" and stem ~= "recording" then try(stem) end
  end
  try "nominal"
  try "recording"
  for _, n in ipairs(from_states) do names[#names + 1] = n end
  return names
end

local function is_finite_row(X, k, n)
  for j = 1, n do
    local v = X[k][j]
    if v ~= v or v == math.huge or v == -math.huge then return false end
  end
  return true
end

-- poses from recorded states: every row of X (n x nx) set on the robot file's mujoco plant as a
-- reset sets it, MuJoCo's configuration read back. Returns Q (n x nq), the MJCF, the plant's
-- perturbations; or nil, message. A row that is not finite keeps the previous pose.
function M.poses(file, X, states)
  local ok, robot = pcall(require("spinal.robot").load, file)
  if not ok then return fail("cannot load the robot file %s: %s", file, tostring(robot)) end
  local scheme, cfg = robot:plant_config "mujoco"
  if not scheme then
    robot:close()
    return fail("%s has no mujoco plant to draw its states with (%s)", file, tostring(cfg))
  end
  local nx = #robot.state
  if X.ndim ~= 2 or X.shape[2] ~= nx then
    robot:close()
    return fail("the recording has %d states per row but %s has %d (%s)", X.ndim == 2 and
      X.shape[2] or 0, file, nx, table.concat(robot.state, " "))
  end
  if type(states) == "table" then
    for i, n in ipairs(robot.state) do
      if states[i] ~= n then
        robot:close()
        return fail("the recording's state %d is '%s' but %s's is '%s'", i, tostring(states[i]),
          file, n)
      end
    end
  end
  local plant, err = robot:open "mujoco"
  if not plant then
    robot:close()
    return fail("cannot open %s's mujoco plant: %s", file, tostring(err))
  end
  local n = X.shape[1]
  local Q, row
  local q0 = plant:qpos()
  Q = A.zeros(n, q0.shape[1])
  local x = {}
  for k = 1, n do
    if is_finite_row(X, k, nx) then
      for j = 1, nx do x[j] = X[k][j] end
      local rok, rerr = pcall(plant.reset, plant, x)
      if not rok then
        plant:close()
        robot:close()
        return fail("cannot set the recorded state %d on the plant: %s", k, tostring(rerr))
      end
      row = plant:qpos()
    end
    row = row or q0
    for j = 1, q0.shape[1] do Q[k][j] = row[j] end
  end
  plant:close()
  robot:close()
  return Q, cfg.mjcf, cfg.perturb or {}
end

-- the payload a run carried: { mass, x, y } from its settings (experiments) or the robot file's
-- plant perturbations, or nil
local function payload_of(dir, perturb)
  local s = json.read(dir .. "/settings.json")
  local src = type(s) == "table" and (tonumber(s.payload) or 0) > 0 and s or perturb or {}
  local mass = tonumber(src.payload) or 0
  if mass <= 0 then return nil end
  return { mass = mass, x = tonumber(src.payload_x) or 0, y = tonumber(src.payload_y) or 0 }
end

-- the MJCF text with the payload drawn on its root body (the first body with a free joint, the
-- body the payload perturbation loads): a visual-only steel cube of its mass, on top of the
-- body's first box geom (its half height; 5 cm without one) at the payload's offset. nil, why
-- when the text has no free-floating body.
function M.payload_mjcf(text, payload)
  local jpos = text:find("<freejoint", 1, true) or text:find("<joint[^>]-type%s*=%s*\"free\"")
  if not jpos then return fail "the MJCF has no free-floating body to carry the payload" end
  local bstart
  local from = 1
  while true do
    local i = text:find("<body[%s>]", from)
    if not i or i > jpos then break end
    bstart, from = i, i + 1
  end
  if not bstart then return fail "the MJCF has no body around its free joint" end
  local bend = text:find(">", bstart, true)
  local body = text:sub(bend + 1, text:find("</body>", bend, true) or #text)
  local top = 0.05
  for g in body:gmatch "<geom[^>]*>" do
    if g:match 'type%s*=%s*"box"' then
      local sz = g:match 'size%s*=%s*"([^"]*)"'
      local c = (sz or ""):match "%S+%s+%S+%s+(%S+)"
      if c and tonumber(c) then top = tonumber(c) end
      break
    end
  end
  local side = (payload.mass / 7850) ^ (1 / 3)  -- a steel cube of that mass
  local geom = ('\n<geom name="spinal_payload" type="box" size="%.4f %.4f %.4f" '
    .. 'pos="%.4f %.4f %.4f" rgba="0.85 0.15 0.1 1" contype="0" conaffinity="0" mass="0"/>')
    :format(side / 2, side / 2, side / 2, payload.x, payload.y, top + side / 2)
  return text:sub(1, bend) .. geom .. text:sub(bend + 1)
end

-- a temporary copy of the MJCF with the payload drawn (deleted by the caller), or nil, why
-- remove a payload_copy: the copy and the name os.tmpname reserved for it
local function remove_copy(path)
  os.remove(path)
  os.remove(path:sub(1, -5))
end

local function payload_copy(mjcf, payload)
  local f = io.open(mjcf, "rb")
  if not f then return fail("cannot read %s", mjcf) end
  local text = f:read "a"
  f:close()
  if text:find('file%s*=%s*"') or text:find("<include", 1, true) then
    return fail("%s names other files (meshes, includes): the payload is not drawn", mjcf)
  end
  local out, err = M.payload_mjcf(text, payload)
  if not out then return nil, err end
  -- MuJoCo needs the .xml suffix: the name os.tmpname reserved stays until remove_copy
  local path = os.tmpname() .. ".xml"
  local w = io.open(path, "wb")
  if not w then
    remove_copy(path)
    return fail("cannot write %s", path)
  end
  w:write(out)
  w:close()
  return path
end

-- the reference path as an (n x 3) array on the floor, or nil
local function reference(dir, z)
  local path = dir .. "/reference_path.npy"
  if not exists(path) then return nil end
  local a, err = A.load(path)
  if not a then return nil, err end
  if a.ndim ~= 2 or a.shape[2] < 2 then return nil, path .. ": expected an (n x 2) array" end
  local n = a.shape[1]
  local P = A.zeros(n, 3)
  for i = 1, n do
    P[i][1], P[i][2] = a[i][1], a[i][2]
    P[i][3] = a.shape[2] >= 3 and a[i][3] + z or z
  end
  return P
end

-- ---- cameras --------------------------------------------------------------------------------

-- x and y bounds of the rows of (n x 3) arrays
local function bounds(arrays)
  local lo, hi = { math.huge, math.huge }, { -math.huge, -math.huge }
  for _, P in ipairs(arrays) do
    for i = 1, P.shape[1] do
      for j = 1, 2 do
        local v = P[i][j]
        if v == v then lo[j], hi[j] = math.min(lo[j], v), math.max(hi[j], v) end
      end
    end
  end
  return lo, hi
end

-- the overview camera: the box of the paths seen whole from above at the given elevation
local function overview(arrays, radius, o)
  local lo, hi = bounds(arrays)
  local cx, cy = (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2
  local half = math.max(hi[1] - lo[1], (hi[2] - lo[2]) * o.width / o.height) / 2 + radius
  if half ~= half or half == math.huge then cx, cy, half = 0, 0, 4 * radius end
  local fovy = math.rad(45)  -- MuJoCo's default free-camera field of view
  local distance = o.distance or half / math.tan(fovy / 2) * o.height / o.width * 1.05
  return { lookat = { cx, cy, 0 }, distance = math.max(distance, 4 * radius),
           azimuth = o.azimuth or 90, elevation = o.elevation or -60 }
end

-- ---- encoding -------------------------------------------------------------------------------

local function have_ffmpeg()
  local ok = os.execute "command -v ffmpeg >/dev/null 2>&1"
  return ok == true or ok == 0
end

local FFMPEG_MISSING = "ffmpeg not found: the video is encoded by the ffmpeg program (Debian "
  .. "package ffmpeg, installed by tools/install-deps)"

-- run a shell command; true, or nil, message naming what failed
local function run(cmd, what)
  local ok, how, code = os.execute(cmd)
  if ok == true or ok == 0 then return true end
  return fail("ffmpeg failed to write %s (%s %s)", what, tostring(how), tostring(code))
end

local function raw_input(o)
  return ("ffmpeg -hide_banner -loglevel error -nostdin -y -f rawvideo -pix_fmt rgb24 -s %dx%d "
    .. "-framerate %s -i -"):format(o.width, o.height, tostring(o.fps))
end

-- rename a finished temporary file over its name
local function commit(tmp, path)
  local ok, err = os.rename(tmp, path)
  if not ok then
    os.remove(tmp)
    return fail("cannot write %s (%s)", path, tostring(err))
  end
  return true
end

-- ---- the video ------------------------------------------------------------------------------

local function number_opt(o, key, lo, hi, integer)
  local v = o[key]
  if v == nil then return true end
  if type(v) ~= "number" or v ~= v or v < lo or v > hi or (integer and math.type(v) ~= "integer"
      and v ~= math.floor(v)) then
    return fail("%s: expected %s in [%g, %g], got %s", key, integer and "an integer" or "a number",
      lo, hi, tostring(v))
  end
  return true
end

-- check and complete the options of M.video: the table, or nil, message
function M.options(opts)
  if type(opts) ~= "table" then return fail("expected a table of options, got %s", type(opts)) end
  local o = {}
  for k, v in pairs(M.defaults) do o[k] = v end
  for k, v in pairs(opts) do o[k] = v end
  local valid = { run = 1, traj = 1, out = 1, poster = 1, gif = 1, fps = 1, speed = 1, seconds = 1,
                  width = 1, height = 1, camera = 1, distance = 1, azimuth = 1, elevation = 1,
                  body = 1, mjcf = 1, robot = 1, progress = 1 }
  for k in pairs(opts) do
    if not valid[k] then return fail("unknown option '%s'", tostring(k)) end
  end
  if type(o.run) ~= "string" or o.run == "" then return fail "run: expected a run directory" end
  local checks = { { "fps", 1, 240, true }, { "speed", 0.01, 100 }, { "seconds", 1e-3, 86400 },
                   { "width", 16, 4096, true }, { "height", 16, 4096, true },
                   { "distance", 1e-3, 1e4 }, { "azimuth", -360, 360 }, { "elevation", -90, 90 } }
  for _, c in ipairs(checks) do
    local ok, err = number_opt(o, c[1], c[2], c[3], c[4])
    if not ok then return nil, err end
  end
  o.fps, o.width, o.height = math.tointeger(o.fps), math.tointeger(o.width),
    math.tointeger(o.height)
  if o.width % 2 == 1 or o.height % 2 == 1 then
    return fail("width and height: expected even numbers of pixels (H.264 video), got %d x %d",
      o.width, o.height)
  end
  if o.camera ~= "track" and o.camera ~= "overview" then
    return fail("camera: expected track or overview, got %s", tostring(o.camera))
  end
  return o
end

-- render a recorded run: returns { video =, poster =, gif =, frames =, seconds =, traj = }, or
-- nil, message (no such run, no MuJoCo recording, a missing MJCF, no OpenGL, no ffmpeg)
function M.video(opts)
  local o, oerr = M.options(opts)
  if not o then return nil, "render: " .. oerr end
  local dir = o.run:gsub("/+$", "")
  if not exists(dir .. "/settings.json") and not exists(dir .. "/recording.json")
      and not exists(dir .. "/x.npy")
      and not exists(dir .. "/" .. (o.traj or "learned") .. ".json") then
    return fail("render: %s is not a run directory (no settings.json, nor a loop's "
      .. "recording)", dir)
  end

  -- the recording
  local name = o.traj
  if not name then
    name = recorded(dir)[1]
    if not name then
      return fail("render: %s has no recording to draw (no trajectory with MuJoCo's "
        .. "configuration or states, no loop recording x.npy)", dir)
    end
  end
  local rec, err = recording(dir, name)
  if not rec then return nil, "render: " .. err end
  local T = rec.t and A.load(dir .. "/" .. rec.t)
  local Q, qerr, mjcf, perturb
  if rec.Q then
    Q, qerr = A.load(dir .. "/" .. rec.Q)
    if not Q then return nil, "render: " .. tostring(qerr) end
    mjcf = rec.mjcf
    local file = robot_file(dir, o)
    if file and exists(file) then
      local ok, robot = pcall(require("spinal.robot").load, file)
      if ok then
        local scheme, cfg = robot:plant_config "mujoco"
        perturb = scheme and cfg.perturb or nil
        robot:close()
      end
    end
  else
    local file = robot_file(dir, o)
    if not file then
      return fail("render: %s: '%s' has states but no MuJoCo configuration, and no robot file "
        .. "is named to draw them with (pass --robot FILE)", dir, name)
    end
    local X, xerr = A.load(dir .. "/" .. rec.X)
    if not X then return nil, "render: " .. tostring(xerr) end
    Q, mjcf, perturb = M.poses(file, X, rec.states)
    if not Q then return nil, "render: " .. mjcf end
  end
  mjcf = o.mjcf or mjcf
  if not mjcf or not exists(mjcf) then
    return fail("render: the model file %s is missing (the recording names it; pass --mjcf "
      .. "FILE, or mjcf = FILE, if it moved)", tostring(mjcf))
  end
  if not have_ffmpeg() then return nil, "render: " .. FFMPEG_MISSING end

  -- a payload is drawn on a copy of the model
  local draw_mjcf, payload = mjcf, payload_of(dir, perturb)
  if payload then
    local copy, perr = payload_copy(mjcf, payload)
    if copy then
      draw_mjcf = copy
    else
      io.stderr:write("spinal render: ", perr, "\n")
    end
  end
  local r, rerr = renderer.open { mjcf = draw_mjcf, width = o.width, height = o.height,
                                  track = o.body }
  if draw_mjcf ~= mjcf then remove_copy(draw_mjcf) end
  if not r then return nil, rerr end
  if Q.ndim ~= 2 or Q.shape[2] ~= r.nq then
    r:close()
    return fail("render: %s records %d position coordinates per row but %s has nq = %d",
      rec.Q or rec.X, Q.ndim == 2 and Q.shape[2] or 0, mjcf, r.nq)
  end

  -- the frames' rows: the recorded state nearest to each frame's time
  local n = Q.shape[1]
  local function time_of(k) return T and T[k] or (k - 1) / 50 end
  local t_end = time_of(n)
  if o.seconds then t_end = math.min(t_end, time_of(1) + o.seconds) end
  local nframes = math.floor((t_end - time_of(1)) * o.fps / o.speed + 1e-9) + 1
  local rows, k = {}, 1
  for i = 1, nframes do
    local t = time_of(1) + (i - 1) * o.speed / o.fps
    while k < n and math.abs(time_of(k + 1) - t) <= math.abs(time_of(k) - t) do k = k + 1 end
    rows[i] = k
  end

  -- the robot's path (centre of its root's subtree, on the floor) and size, at every recorded
  -- state (a state that is not finite keeps the last position)
  local trail = A.zeros(n, 3)
  local centres, radius = {}, 0
  for k = 1, n do
    if not r:pose(Q, k) and k > 1 then centres[k] = centres[k - 1] end
    local c, rad = r:focus()
    centres[k] = centres[k] or c
    radius = math.max(radius, rad)
    trail[k][1], trail[k][2], trail[k][3] = centres[k][1], centres[k][2], 0.009
  end
  if radius <= 0 then radius = 0.5 end
  local ref, referr = reference(dir, 0.004)
  if referr then
    r:close()
    return nil, "render: " .. referr
  end
  -- the ribbons' widths follow the camera's distance, so they read the same near and far
  local paths = {}
  local ref_path = ref and { points = ref, rgba = { 0.2, 0.55, 1, 1 } }
  local trail_path = { points = trail, rgba = { 1, 0.55, 0.1, 1 }, count = 1 }
  paths[#paths + 1] = ref_path
  -- the robot's path only for a robot that travels (not a fixed arm swinging over its base)
  local tlo, thi = bounds { trail }
  if math.max(thi[1] - tlo[1], thi[2] - tlo[2]) > radius then paths[#paths + 1] = trail_path end
  local function widths(cam)
    if ref_path then ref_path.width = 0.004 * cam.distance end
    trail_path.width = 0.0015 * cam.distance
    cam.paths = paths
    return cam
  end

  local distance = o.distance or 5 * radius
  if ref and not o.distance then
    local lo, hi = bounds { ref }
    distance = math.max(distance, 0.5 * math.max(hi[1] - lo[1], hi[2] - lo[2]))
  end
  local wide = overview(ref and { ref, trail } or { trail }, radius, o)

  -- encode: frames piped to ffmpeg, the video written to a temporary name and renamed
  local video = o.out or (dir .. "/" .. name .. ".mp4")
  local tmp = video .. ".part"
  local cmd = raw_input(o) .. " -an -c:v libx264 -preset veryfast -crf 20 -pix_fmt yuv420p "
    .. "-movflags +faststart -f mp4 " .. shell_quote(tmp)
  local pipe = io.popen(cmd, "w")
  if not pipe then
    r:close()
    return fail("render: cannot start ffmpeg (%s)", cmd)
  end
  local look = { centres[rows[1]][1], centres[rows[1]][2], centres[rows[1]][3] }
  local alpha = 1 - math.exp(-1 / (0.1 * o.fps / o.speed))  -- 0.1 s of smoothing
  local werr
  local progress = o.progress
  for i = 1, nframes do
    r:pose(Q, rows[i])
    for j = 1, 3 do look[j] = look[j] + alpha * (centres[rows[i]][j] - look[j]) end
    trail_path.count = rows[i]
    local cam = o.camera == "overview" and wide or
      { lookat = look, distance = distance, azimuth = o.azimuth or 135,
        elevation = o.elevation or -30 }
    local ok, e = r:draw(widths(cam))
    if ok then ok, e = r:write(pipe) end
    if not ok then
      werr = e
      break
    end
    if progress and progress(i, nframes) == false then
      werr = "interrupted"
      break
    end
  end
  local closed, _, code = pipe:close()
  if werr or not closed then
    os.remove(tmp)
    r:close()
    if werr == "interrupted" then return nil, "render: interrupted (no video written)" end
    return fail("render: ffmpeg failed to write %s (%s)", video, werr or ("exit status "
      .. tostring(code)))
  end
  local ok, cerr = commit(tmp, video)
  if not ok then
    r:close()
    return nil, "render: " .. cerr
  end

  -- the poster: the whole run from above, the robot where it ended
  local poster = o.poster
  if poster == nil then poster = dir .. "/" .. name .. ".png" end
  if poster and poster ~= "none" then
    r:pose(Q, rows[nframes])  -- the last frame's state: the end of the run, or of --seconds
    trail_path.count = rows[nframes]
    widths(wide)
    local ptmp = poster .. ".part"
    local p = io.popen(raw_input(o) .. " -frames:v 1 -f image2 -c:v png " .. shell_quote(ptmp), "w")
    local pok, perr = r:draw(wide)
    if pok then pok, perr = r:write(p) end
    local pclosed = p:close()
    if not pok or not pclosed then
      os.remove(ptmp)
      r:close()
      return fail("render: ffmpeg failed to write %s (%s)", poster, perr or "see its message")
    end
    ok, cerr = commit(ptmp, poster)
    if not ok then
      r:close()
      return nil, "render: " .. cerr
    end
  else
    poster = nil
  end
  r:close()

  -- the GIF: the video at half size and at most 15 frames per second, with its own palette
  if o.gif then
    local gtmp = o.gif .. ".part"
    ok, cerr = run(("ffmpeg -hide_banner -loglevel error -nostdin -y -i %s -vf 'fps=%d,scale=%d:-2:"
      .. "flags=lanczos,split[a][b];[a]palettegen[p];[b][p]paletteuse' -f gif %s"):format(
      shell_quote(video), math.min(o.fps, 15), o.width // 2, shell_quote(gtmp)), o.gif)
    if ok then ok, cerr = commit(gtmp, o.gif) end
    if not ok then
      os.remove(gtmp)
      return nil, "render: " .. cerr
    end
  end
  return { video = video, poster = poster, gif = o.gif, frames = nframes,
           seconds = (nframes - 1) * o.speed / o.fps, traj = name, mjcf = mjcf,
           from_states = rec.Q == nil, payload = payload }
end

-- ---- the command line -----------------------------------------------------------------------

local flags = { traj = "string", out = "string", poster = "string", gif = "string",
                fps = "number", speed = "number", seconds = "number", width = "number",
                height = "number", camera = "string", distance = "number", azimuth = "number",
                elevation = "number", body = "string", mjcf = "string", robot = "string" }

-- the options from the argument list; nil, message on a usage error
function M.parse(args)
  local o = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local key, value = a:match "^%-%-([%w_]+)=(.*)$"
    if not key then
      key = a:match "^%-%-([%w_]+)$"
      if key then
        i = i + 1
        value = args[i]
      end
    end
    if key then
      local kind = flags[key]
      if not kind then return fail("unknown option '--%s'", key) end
      if value == nil or value == "" then return fail("--%s needs a value", key) end
      if kind == "number" then
        local v = tonumber(value)
        if not v then return fail("--%s: expected a number, got '%s'", key, value) end
        o[key] = v
      else
        o[key] = value
      end
    elseif a:sub(1, 1) == "-" then
      return fail("unknown option '%s'", a)
    elseif o.run then
      return fail("one run directory expected, got '%s' and '%s'", o.run, a)
    else
      o.run = a
    end
    i = i + 1
  end
  if not o.run then return fail "a run directory is required" end
  return o
end

function M.main(args, out, err)
  out, err = out or io.stdout, err or io.stderr
  local o, msg = M.parse(args)
  if o then o, msg = M.options(o) end
  if not o then
    err:write("spinal render: ", msg, "\n", M.usage, "\n")
    return 2
  end
  local ok, host = pcall(require, "spinal.host")
  local tty = ok and host.isatty and host.isatty(err)
  local last = -1
  o.progress = function(i, n)
    if ok and host.interrupted and host.interrupted() then return false end
    local pct = math.floor(100 * i / n)
    if tty and pct ~= last then
      err:write(("\rspinal render: frame %d/%d (%d%%)"):format(i, n, pct))
      last = pct
    end
  end
  local res, rerr = M.video(o)
  if tty then err:write "\n" end
  if not res then
    err:write("spinal ", rerr, "\n")
    return 1
  end
  out:write(("spinal render: %s: %d frames (%.1f s at %d fps) of '%s'\n"):format(res.video,
    res.frames, res.seconds, o.fps, res.traj))
  if res.from_states then
    out:write("spinal render: poses from the recorded states (no MuJoCo configuration was "
      .. "recorded: what the state does not carry is the plant's keyframe)\n")
  end
  if res.payload then
    out:write(("spinal render: payload %g kg drawn at (%g, %g) m\n"):format(res.payload.mass,
      res.payload.x, res.payload.y))
  end
  if res.poster then out:write("spinal render: poster ", res.poster, "\n") end
  if res.gif then out:write("spinal render: gif ", res.gif, "\n") end
  return 0
end

return M
