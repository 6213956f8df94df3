-- mocap_map_spec.lua: the public retargeted dog mocap text onto spinal's quadruped, end to end.
-- No such clip ships, so the test writes one as the retargeting tool would for its Laikago
-- (joint angles of laikago_toes.urdf, root quaternions x y z w of that URDF's base frame, whose
-- axes are z forward, x left, y up), computes where that robot's legs point with the URDF's own
-- joint axes and link offsets (written out below: the facts of the URDF, not spinal's map),
-- loads the file with motion.load(path, { map = "laikago" }) and checks that spinal's quadruped
-- (robots/quadruped.xml through engine/rbd's kinematics) posed by the clip points its trunk,
-- every thigh and every shin the same way in the world, with its trunk at the hips' centre scaled
-- to its size. The identity map (the default) is checked the same way against a robot built like
-- spinal's (axes x, y, y; legs straight down at zero).
local motion = require "spinal.motion"
local rbd = require "spinal.rbd"
local array = require "spinal.array"

local src = os.getenv "SPINAL_SOURCE_DIR" or "."
local tree = assert(rbd.load_mjcf(src .. "/robots/quadruped.xml"))

-- ---- small 3-d helpers ------------------------------------------------------------------------

local function add(a, b) return { a[1] + b[1], a[2] + b[2], a[3] + b[3] } end
local function sub(a, b) return { a[1] - b[1], a[2] - b[2], a[3] - b[3] } end
local function scale(s, a) return { s * a[1], s * a[2], s * a[3] } end
local function dot(a, b) return a[1] * b[1] + a[2] * b[2] + a[3] * b[3] end
local function unit(a) return scale(1 / math.sqrt(dot(a, a)), a) end
local function mv(R, v)  -- R: 3x3 as rows
  return { dot(R[1], v), dot(R[2], v), dot(R[3], v) }
end
local function mm(A, B)
  local C = {}
  for i = 1, 3 do
    C[i] = {}
    for j = 1, 3 do C[i][j] = A[i][1] * B[1][j] + A[i][2] * B[2][j] + A[i][3] * B[3][j] end
  end
  return C
end
local function rot(axis, a)  -- Rodrigues
  local x, y, z = axis[1], axis[2], axis[3]
  local c, s, t = math.cos(a), math.sin(a), 1 - math.cos(a)
  return { { t * x * x + c, t * x * y - s * z, t * x * z + s * y },
           { t * x * y + s * z, t * y * y + c, t * y * z - s * x },
           { t * x * z - s * y, t * y * z + s * x, t * z * z + c } }
end
local function col(R, j) return { R[1][j], R[2][j], R[3][j] } end
-- a rotation matrix's quaternion (w, x, y, z)
local function mat_quat(R)
  local tr = R[1][1] + R[2][2] + R[3][3]
  local w, x, y, z
  if tr > 0 then
    local s = 2 * math.sqrt(1 + tr)
    w, x, y, z = s / 4, (R[3][2] - R[2][3]) / s, (R[1][3] - R[3][1]) / s, (R[2][1] - R[1][2]) / s
  elseif R[1][1] > R[2][2] and R[1][1] > R[3][3] then
    local s = 2 * math.sqrt(1 + R[1][1] - R[2][2] - R[3][3])
    w, x, y, z = (R[3][2] - R[2][3]) / s, s / 4, (R[1][2] + R[2][1]) / s, (R[1][3] + R[3][1]) / s
  elseif R[2][2] > R[3][3] then
    local s = 2 * math.sqrt(1 + R[2][2] - R[1][1] - R[3][3])
    w, x, y, z = (R[1][3] - R[3][1]) / s, (R[1][2] + R[2][1]) / s, s / 4, (R[2][3] + R[3][2]) / s
  else
    local s = 2 * math.sqrt(1 + R[3][3] - R[1][1] - R[2][2])
    w, x, y, z = (R[2][1] - R[1][2]) / s, (R[1][3] + R[3][1]) / s, (R[2][3] + R[3][2]) / s, s / 4
  end
  return { w, x, y, z }
end

-- ---- the two robots ---------------------------------------------------------------------------

-- laikago_toes.urdf, per leg FR FL RR RL: the abduction joint's origin on the base and its axis,
-- the hip joint's origin on the hip motor, the knee joint's origin on the upper leg, the toe on
-- the lower leg (base frame: z forward, x left, y up; hips and knees turn about +x)
local LAIKAGO = {
  { hip = { -0.0817145, 0, 0.242889 }, abd = { 0, 0, -1 }, upper = { -0.053565, 0, 0 },
    knee = { 0.02069, -0.20833, -0.1422 } },
  { hip = { 0.0817145, 0, 0.242889 }, abd = { 0, 0, 1 }, upper = { 0.055855, 0, 0 },
    knee = { -0.02069, -0.20833, -0.1422 } },
  { hip = { -0.0817145, 0, -0.194401 }, abd = { 0, 0, -1 }, upper = { -0.053565, 0, 0 },
    knee = { 0.02069, -0.20833, -0.1422 } },
  { hip = { 0.0817145, 0, -0.194401 }, abd = { 0, 0, 1 }, upper = { 0.055855, 0, 0 },
    knee = { -0.02069, -0.20833, -0.1422 } },
}
local TOE = { 0, -0.25, -0.022 }
local X = { 1, 0, 0 }

-- a Laikago pose in the world: per leg the thigh's and shin's directions, the leg plane's normal
-- (the hip axis), and the hips' centre
local function laikago_pose(p, R, u)
  local legs, centre = {}, { 0, 0, 0 }
  for l, g in ipairs(LAIKAGO) do
    local R1 = mm(R, rot(g.abd, u[3 * l - 2]))
    local H = add(p, mv(R, g.hip))
    local U = add(H, mv(R1, g.upper))
    local R2 = mm(R1, rot(X, u[3 * l - 1]))
    local K = add(U, mv(R2, g.knee))
    local R3 = mm(R2, rot(X, u[3 * l]))
    local T = add(K, mv(R3, TOE))
    legs[l] = { thigh = sub(K, U), shin = sub(T, K), axis = mv(R1, X) }
    centre = add(centre, scale(0.25, H))
  end
  return legs, centre
end

-- spinal's quadruped posed by a clip frame (p, q w x y z, 12 joints)
local LEGS = { "FR", "FL", "RR", "RL" }
local function spinal_pose(F, i)
  local q = tree:neutral()
  for k = 1, 19 do q[k] = F[i][k] end
  local legs = {}
  for l, name in ipairs(LEGS) do
    local Rt, pt = tree:placement(q, name .. "_thigh")
    local Rc, pc = tree:placement(q, name .. "_calf")
    local rows = function(M) return { { M[1][1], M[1][2], M[1][3] }, { M[2][1], M[2][2], M[2][3] },
                                      { M[3][1], M[3][2], M[3][3] } } end
    local Rcr = rows(Rc)
    local foot = add({ pc[1], pc[2], pc[3] }, mv(Rcr, { 0, 0, -0.213 }))
    legs[l] = { thigh = sub({ pc[1], pc[2], pc[3] }, { pt[1], pt[2], pt[3] }),
                shin = sub(foot, { pc[1], pc[2], pc[3] }),
                axis = mv(rows(Rt), { 0, 1, 0 }) }
  end
  local Rr = tree:placement(q, "trunk")
  return legs, { F[i][1], F[i][2], F[i][3] },
    { { Rr[1][1], Rr[1][2], Rr[1][3] }, { Rr[2][1], Rr[2][2], Rr[2][3] },
      { Rr[3][1], Rr[3][2], Rr[3][3] } }
end

-- a vector's direction within the plane normal to n
local function in_plane(v, n)
  return unit(sub(v, scale(dot(v, n), n)))
end

local function near3(a, b, tol)
  for k = 1, 3 do assert.near(a[k], b[k], tol) end
end

-- the text of a mocap clip: rows of position, quaternion x y z w, 12 joints
local function mocap_text(rows)
  local out = { '{\n"LoopMode": "Wrap",\n"FrameDuration": 0.01667,\n'
    .. '"EnableCycleOffsetPosition": true,\n"EnableCycleOffsetRotation": true,\n"Frames":\n[' }
  for i, r in ipairs(rows) do
    local t = {}
    for k, v in ipairs(r) do t[k] = ("%.17g"):format(v) end
    out[#out + 1] = (i > 1 and ",\n  [" or "\n  [") .. table.concat(t, ", ") .. "]"
  end
  out[#out + 1] = "\n]\n}\n"
  return table.concat(out)
end

local function tmpfile(name)
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. p))
  return p .. "/" .. name
end

-- three poses: standing (the tool's Laikago rest pose, 0, 0.67, -1.25), a stride with the legs
-- abducted, and a crouch; root headings, tilts and positions
local POSES = {
  { p = { 0, 0, 0.43 }, yaw = 0, pitch = 0, roll = 0, u = { 0, 0.67, -1.25 } },
  { p = { 0.31, -0.12, 0.41 }, yaw = 0.8, pitch = 0.12, roll = -0.07,
    u = { 0.2, 0.3, -0.9, -0.15, 1.0, -1.6, 0.1, -0.2, -0.4, -0.25, 0.5, -1.3 } },
  { p = { -0.5, 2.0, 0.35 }, yaw = -2.6, pitch = -0.2, roll = 0.15,
    u = { -0.3, 1.2, -2.0, 0.3, 0.9, -1.8, 0, 0.8, -1.7, 0.05, 1.1, -1.9 } },
}

local function expand(u)
  if #u == 12 then return u end
  local t = {}
  for l = 1, 4 do for j = 1, 3 do t[3 * l - 3 + j] = u[j] end end
  return t
end

-- the world orientation of a robot heading yaw with pitch and roll, whose base frame's axes
-- (forward, left, up) are columns fwd, left, up of the base frame: R_world_base
local function orientation(pose, base_of)
  local R = mm(rot({ 0, 0, 1 }, pose.yaw), mm(rot({ 0, 1, 0 }, pose.pitch),
    rot({ 1, 0, 0 }, pose.roll)))
  return mm(R, base_of)
end

describe("the public mocap text onto spinal's quadruped", function()
  it("maps Laikago's clips (map = \"laikago\"): trunk, thighs, shins and hips' centre", function()
    -- Laikago's base axes in a robot frame (x forward, y left, z up): its x is left, y up,
    -- z forward
    local base = { { 0, 0, 1 }, { 1, 0, 0 }, { 0, 1, 0 } }
    local rows, truth = {}, {}
    for i, pose in ipairs(POSES) do
      local R = orientation(pose, base)
      local u = expand(pose.u)
      local q = mat_quat(R)
      local row = { pose.p[1], pose.p[2], pose.p[3], q[2], q[3], q[4], q[1] }
      for j = 1, 12 do row[7 + j] = u[j] end
      rows[i] = row
      local legs, centre = laikago_pose(pose.p, R, u)
      truth[i] = { legs = legs, centre = centre, R = R }
    end
    local path = tmpfile "laikago_pace.txt"
    local f = assert(io.open(path, "w"))
    f:write(mocap_text(rows))
    f:close()
    local clip = assert(motion.load(path, { map = "laikago" }))
    assert.is_true(clip.loop)
    local F = clip:frames()
    local m = motion.laikago_map()
    for i = 1, #POSES do
      local legs, p, R = spinal_pose(F, i)
      local t = truth[i]
      -- the trunk: forward is Laikago's z, up its y
      near3(col(R, 1), col(t.R, 3), 1e-12)
      near3(col(R, 3), col(t.R, 2), 1e-12)
      -- the trunk's origin is the hips' centre, scaled to spinal's legs
      near3(p, scale(m.scale, t.centre), 1e-12)
      for l = 1, 4 do
        local a, b = legs[l], t.legs[l]
        near3(a.axis, b.axis, 1e-12)  -- the leg's plane: abduction and trunk
        near3(in_plane(a.thigh, a.axis), in_plane(b.thigh, b.axis), 1e-12)
        near3(in_plane(a.shin, a.axis), in_plane(b.shin, b.axis), 1e-12)
      end
    end
    -- the rest pose lands inside spinal's joint ranges, near its own stand (0, 0.9, -1.8)
    local stand = F[1]
    for l = 0, 3 do
      assert.near(0, stand[8 + 3 * l], 1e-12)
      assert.near(0.67 + 0.599, stand[9 + 3 * l], 1e-3)
      assert.near(-1.25 - 0.511, stand[10 + 3 * l], 1e-3)
    end
    assert.near(0.8466, m.scale, 1e-4)
    assert.near(0.43 * m.scale, stand[3], 1e-9)
  end)

  it("maps clips of a robot built like spinal's with the default map", function()
    -- a robot whose base is x forward, y left, z up, legs straight down at zero, abduction about
    -- x and hip and knee about y (the retargeting tool's A1 configuration; spinal's own clips)
    local rows = {}
    for i, pose in ipairs(POSES) do
      local R = orientation(pose, { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } })
      local q = mat_quat(R)
      local u = expand(pose.u)
      local row = { pose.p[1], pose.p[2], pose.p[3], q[2], q[3], q[4], q[1] }
      for j = 1, 12 do row[7 + j] = u[j] end
      rows[i] = row
    end
    local path = tmpfile "a1.txt"
    local f = assert(io.open(path, "w"))
    f:write(mocap_text(rows))
    f:close()
    local F = assert(motion.load(path)):frames()
    for i, pose in ipairs(POSES) do
      local R = orientation(pose, { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } })
      local legs, p, Rs = spinal_pose(F, i)
      near3(p, pose.p, 1e-12)
      for j = 1, 3 do near3(col(Rs, j), col(R, j), 1e-12) end
      local u = expand(pose.u)
      for l = 1, 4 do
        -- thigh and shin hang from the hip axis: angle hip, then hip + knee, back from down
        local a, th, sh = legs[l], u[3 * l - 1], u[3 * l - 1] + u[3 * l]
        local down = mv(mm(R, rot({ 1, 0, 0 }, u[3 * l - 2])), { 0, 0, -1 })
        local back = mv(mm(R, rot({ 1, 0, 0 }, u[3 * l - 2])), { -1, 0, 0 })
        near3(unit(a.thigh), add(scale(math.cos(th), down), scale(math.sin(th), back)), 1e-12)
        near3(unit(a.shin), add(scale(math.cos(sh), down), scale(math.sin(sh), back)), 1e-12)
      end
    end
  end)

  it("takes a map's root fields and refuses bad ones, naming them", function()
    local m = motion.default_map()
    assert.same({ 1, 0, 0, 0 }, m.root_quat)
    assert.same({ 0, 0, 0 }, m.root_offset)
    assert.equal(1, m.scale)
    local l = motion.laikago_map()
    assert.same({ 0.5, 0.5, 0.5, 0.5 }, l.root_quat)
    assert.same({ -1, 1, 1, 1, 1, 1, -1, 1, 1, 1, 1, 1 }, l.sign)
    local path = tmpfile "one.txt"
    local f = assert(io.open(path, "w"))
    local row = { 1, 2, 0.5, 0, 0, 0, 1 }
    for j = 1, 12 do row[7 + j] = 0.1 * j end
    f:write(mocap_text { row, row })
    f:close()
    -- a table map: a scale and an offset along the trunk's x
    local c = assert(motion.load(path, { map = { scale = 0.5, root_offset = { 0.1, 0, 0 } } }))
    local F = c:frames()
    assert.near(0.6, F[1][1], 1e-15)
    assert.near(1.0, F[1][2], 1e-15)
    assert.near(0.25, F[1][3], 1e-15)
    local ok, err = pcall(motion.load, path, { map = "dog" })
    assert.is_false(ok)
    assert.matches("field 'map': expected \"default\", \"laikago\" or a table, got \"dog\"", err,
      1, true)
    ok, err = pcall(motion.load, path, { map = { root_quat = { 0, 0, 0, 0 } } })
    assert.is_false(ok)
    assert.matches("field 'map.root_quat': root_quat is zero, expected a rotation (w, x, y, z)",
      err, 1, true)
    ok, err = pcall(motion.load, path, { map = { scale = -1 } })
    assert.is_false(ok)
    assert.matches("field 'map.scale': expected a number > 0", err, 1, true)
  end)
end)
