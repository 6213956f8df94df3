-- observer.lua: a state observer built on a learned world model (spinal.observer;
-- docs/method2.md, "A world-model observer for sensor noise"). Between the robot's sensors and
-- the policy, each tick it predicts the state from its last estimate and the action written,
-- and blends the prediction with the reading:
--
--   s-  = W(s^, a) + b            (the world model's prediction, plus a slow bias estimate)
--   s^  = s- + K (y - s-)         (per entry: K = 1 takes the reading, K -> 0 the prediction)
--   b   = b + k_b (y - s-)        (the innovation's slow part: the model's bias on this robot)
--
-- The orientation is blended on the unit quaternions (the shorter way, renormalised). Without
-- the bias term an estimate trusting a model that is a little off on this robot carries that
-- error into the policy (a velocity read 0.005 m/s fast walks 0.005 m/s slow); with it the
-- estimate's slow part is the readings'. K = 1 everywhere is no observer: the readings pass
-- exactly.
--
--   local observer = require "spinal.observer"
--   local sigma = observer.noise_std(S, ep)                -- recorded states, their episodes
--   local obs = observer.new(model, { nj = 12, gain = observer.gain(sigma) })
--   local p = obs:wrap(plant)  -- reads give the estimate, writes feed the prediction
--
-- noise_std estimates the readings' white noise from recorded walking data alone (no standing
-- still): the base's position and orientation change smoothly at the control rate, so their
-- fourth differences s_t - 4 s_t+1 + 6 s_t+2 - 4 s_t+3 + s_t+4 are the noise's (variance 70
-- sigma^2) plus a small remainder; the median absolute value over windows inside one episode,
-- / 0.6745 / sqrt 70 (a median is blind to the remainder's rare large values, touchdowns).
-- gain(sigma, model_std) blends a prediction believed to std model_std with a reading of std
-- sigma by their variances: K = model_std^2 / (model_std^2 + sigma^2).
-- States are the world model's layout ([p, q, v_body, w_body, qj, qd]); the wrapped plant
-- converts with imitate.to_wm / to_plant.
local A = require "spinal.array"

local M = {}
local Obs = {}
Obs.__index = Obs

M.defaults = {
  model_std = 0.0065,  -- the prediction's std in gain(): K = 0.3 at 0.01 of sensor noise
  bias = 0.02,         -- k_b: the bias estimate follows the innovation over ~1 / k_b ticks
}

-- the groups of a state's entries a gain can be given for
local GROUPS = { "pose", "velocity", "angular_velocity", "joints", "joint_velocities" }
M.GROUPS = GROUPS

local function group_of(i, nj)
  if i <= 7 then return "pose" end
  if i <= 10 then return "velocity" end
  if i <= 13 then return "angular_velocity" end
  if i <= 13 + nj then return "joints" end
  return "joint_velocities"
end

-- the fourth differences' robust noise estimate (above) on entries lo..hi (default 1..7: the
-- base's pose) of states S (a list of tables) recorded in episodes ep (ep[t]: the episode of
-- S[t]; consecutive states of one episode are consecutive ticks). Returns the mean over the
-- entries of each one's estimate, and the number of windows (0: none; the estimate is then nil).
function M.noise_std(S, ep, lo, hi)
  if type(S) ~= "table" or type(ep) ~= "table" or #ep ~= #S then
    error("observer.noise_std: expected recorded states S and their episodes ep (lists of the "
      .. "same length)", 2)
  end
  lo, hi = lo or 1, hi or 7
  local sum, n = 0, 0
  local windows = 0
  for i = lo, hi do
    local d = {}
    for t = 1, #S - 4 do
      if ep[t] == ep[t + 4] then
        local a, b, c, e, f = S[t][i], S[t + 1][i], S[t + 2][i], S[t + 3][i], S[t + 4][i]
        d[#d + 1] = math.abs(a - 4 * b + 6 * c - 4 * e + f)
      end
    end
    if #d > 0 then
      table.sort(d)
      local m = #d % 2 == 1 and d[(#d + 1) // 2] or (d[#d // 2] + d[#d // 2 + 1]) / 2
      sum, n = sum + m / 0.6745 / math.sqrt(70), n + 1
      windows = #d
    end
  end
  if n == 0 then return nil, 0 end
  return sum / n, windows
end

-- the gain blending a prediction of std model_std (default M.defaults.model_std) with a reading
-- of std sigma
function M.gain(sigma, model_std)
  model_std = model_std or M.defaults.model_std
  if type(sigma) ~= "number" or sigma < 0 or sigma ~= sigma then
    error(("observer.gain: sigma=%s: expected a std >= 0"):format(tostring(sigma)), 2)
  end
  if type(model_std) ~= "number" or not (model_std > 0) then
    error(("observer.gain: model_std=%s: expected a std > 0"):format(tostring(model_std)), 2)
  end
  return model_std ^ 2 / (model_std ^ 2 + sigma ^ 2)
end

-- an observer over world model `model` (spinal.wm; with history 1 it is given [a, a_prev]).
-- opts: nj (joints, default the model's), gain (a number for the base's entries, the joints'
-- passing, or a table by group: pose, velocity, angular_velocity, joints, joint_velocities;
-- missing groups 1), bias (k_b, default M.defaults.bias; 0: none)
function M.new(model, opts)
  opts = opts or {}
  if type(model) ~= "userdata" and type(model) ~= "table" or not model.step then
    error("observer.new: expected a world model (spinal.wm) as the first argument", 2)
  end
  local nj = opts.nj or model.nj
  if model.nx and model.nx ~= 13 + 2 * nj then
    error(("observer.new: nj=%d: the world model's states have %d entries, not %d")
      :format(nj, model.nx, 13 + 2 * nj), 2)
  end
  local g = {}
  if type(opts.gain) == "table" then
    for k in pairs(opts.gain) do
      local known = false
      for _, name in ipairs(GROUPS) do known = known or name == k end
      if not known then
        error(("observer.new: gain.%s: no such group (%s)"):format(tostring(k),
          table.concat(GROUPS, ", ")), 2)
      end
    end
    for _, name in ipairs(GROUPS) do g[name] = opts.gain[name] or 1 end
  else
    local k = opts.gain or 1
    for _, name in ipairs(GROUPS) do g[name] = 1 end
    g.pose, g.velocity, g.angular_velocity = k, k, k
  end
  for _, name in ipairs(GROUPS) do
    local k = g[name]
    if type(k) ~= "number" or not (k > 0 and k <= 1) then
      error(("observer.new: gain %s=%s: expected a number in (0, 1] (1: the reading as is)")
        :format(name, tostring(k)), 2)
    end
  end
  local bias = opts.bias or M.defaults.bias
  if type(bias) ~= "number" or not (bias >= 0 and bias < 1) then
    error(("observer.new: bias=%s: expected a rate in [0, 1) (0: no bias estimate)")
      :format(tostring(bias)), 2)
  end
  local self = setmetatable({ model = model, nj = nj, nx = 13 + 2 * nj, gains = g, bias = bias,
                              history = model.history == 1 }, Obs)
  self.K = {}
  self.passes = true
  for i = 1, self.nx do
    self.K[i] = g[group_of(i, nj)]
    if self.K[i] < 1 then self.passes = false end
  end
  self:reset()
  return self
end

-- forget the estimate: the next reading is taken as it is (a new episode, a reset robot)
function Obs:reset()
  self.s, self.ain, self.last = nil, nil, nil
  self.b = {}
  for i = 1, self.nx do self.b[i] = 0 end
end

-- the action written this tick: the next prediction's action input, [a] or with history
-- [a, a_prev] (an episode's first action its own previous one, the replay buffer's convention)
function Obs:action(a)
  local cur, ain, prev, n = {}, {}, self.last or a, #a
  for j = 1, n do
    cur[j], ain[j] = a[j], a[j]
  end
  if self.history then
    for j = 1, n do ain[n + j] = prev[j] end
  end
  self.last, self.ain = cur, ain
end

-- the orientation entries of a state (4..7) scaled to a unit quaternion
local function unit(s)
  local n = math.sqrt(s[4] ^ 2 + s[5] ^ 2 + s[6] ^ 2 + s[7] ^ 2)
  for i = 4, 7 do s[i] = s[i] / n end
end

-- a reading y (world-model layout) -> the estimate (a new table)
function Obs:update(y)
  if #y ~= self.nx then
    error(("observer: a reading of %d entries, the world model's states have %d"):format(#y,
      self.nx), 2)
  end
  if self.passes or not self.s or not self.ain then
    local s = {}
    for i = 1, self.nx do s[i] = y[i] end
    if not self.passes then
      unit(s)
      self.s = s
    end
    return s
  end
  local p = self.model:step(A(self.s), A(self.ain)):totable()
  local K, kb, b, s = self.K, self.bias, self.b, {}
  for i = 1, self.nx do
    if i < 4 or i > 7 then
      local pred = p[i] + b[i]
      local nu = y[i] - pred
      s[i] = pred + K[i] * nu
      b[i] = b[i] + kb * nu
    end
  end
  -- the orientation: the reading's sign nearer the prediction, blended, renormalised
  local dot = 0
  for i = 4, 7 do dot = dot + p[i] * y[i] end
  local sg = dot < 0 and -1 or 1
  for i = 4, 7 do s[i] = p[i] + K[i] * (sg * y[i] - p[i]) end
  unit(s)
  self.s = s
  return s
end

-- a plant whose read() returns the estimate (the plant's layout) and whose write() also feeds
-- the observer; reset and rearm forget the estimate; everything else is the plant's
function Obs:wrap(plant)
  local imitate = require "spinal.imitate"
  local obs, nj = self, self.nj
  local proxy = setmetatable({ observer = self, inner = plant }, {
    __index = function(_, k)
      local v = plant[k]
      if type(v) == "function" then return function(_, ...) return v(plant, ...) end end
      return v
    end })
  function proxy.read()
    local y, err = plant:read()
    if not y or obs.passes then return y, err end
    return imitate.to_plant(obs:update(imitate.to_wm(y, nj)), nj)
  end
  function proxy.write(_, a)
    obs:action(a)
    return plant:write(a)
  end
  function proxy.reset(_, ...)
    obs:reset()
    return plant:reset(...)
  end
  function proxy.rearm(_, ...)
    obs:reset()
    return plant:rearm(...)
  end
  return proxy
end

return M
