-- wm_cartpole.lua: method 2's world model (docs/method2.md) learning a known system: the engine's
-- cart-pole (RK4 at 50 Hz) seen as a fixed-base robot with two joints (cart position, pole angle),
-- driven by random forces held for 5 steps from random states around hanging. Transitions go to a
-- replay buffer; the model trains on 8-step autoregressive rollouts; its error on held-out episodes
-- is reported against the horizon (1 to `horizon` applications) next to the untrained model's (which
-- keeps velocities constant), as a plot and in summary.json.
--
--   spinal experiments/wm_cartpole.lua [seed=1] [samples=6000] [iters=3000] [hidden=64]
--                                      [layers=2] [batch=64] [wm_steps=8] [horizon=24] [quick=true]
--                                      [out=DIR]
-- summary.json: env_samples, wm_error_h1, wm_error_h8 (joint-angle error, rad), the same for
-- joint velocities (rad/s), the untrained baseline, per-horizon lists, wall_seconds.
local sp = require "spinal"
local M = require "spinal.model"
local wm = require "spinal.wm"
local nn = require "spinal.nn"
local rng = require "spinal.rng"
local array = require "spinal.array"

local cfg = sp.settings {
  seed = 1,
  samples = 6000,     -- simulator transitions for training (episodes of 100 steps)
  test_samples = 2000,
  iters = 3000,       -- world-model batches
  hidden = 64,
  layers = 2,
  batch = 64,
  wm_steps = 8,       -- rollout length of the training loss (n)
  horizon = 24,       -- longest horizon evaluated
  lr = 2e-3,
  quick = false,
  out = "",
}
if cfg.quick then cfg.samples, cfg.iters = 2000, 400 end

local t0 = os.time()
local run = sp.run.start { name = "wm_cartpole", settings = cfg }
local dt, steps = 0.02, 100
local plant = M.new("cartpole", nil, { dt = dt })
local g = rng.new(cfg.seed, 1)

-- the cart-pole state (p, theta, pdot, thetadot) as a world-model state (nx = 17)
local function state(x)
  local s = array.zeros(17)
  s[3], s[4] = 1, 1
  s[14], s[15], s[16], s[17] = x[1], x[2], x[3], x[4]
  return s
end

local function collect(buf, n)
  for _ = 1, n // steps do
    local x = { g:uniform(-0.5, 0.5), math.pi + g:uniform(-0.5, 0.5), g:uniform(-0.5, 0.5),
                g:uniform(-0.5, 0.5) }
    local u = 0
    for t = 1, steps do
      if t % 5 == 1 then u = 4 * g:normal() end
      local x1 = plant:step(x, { u })
      buf:push(state(x), { u }, state(x1), t == steps)
      x = { x1[1], x1[2], x1[3], x1[4] }
    end
  end
end

local train = wm.replay { nx = 17, nu = 1, capacity = cfg.samples, seed = cfg.seed }
local test = wm.replay { nx = 17, nu = 1, capacity = cfg.test_samples, seed = 1000 + cfg.seed }
collect(train, cfg.samples)
collect(test, cfg.test_samples)

local model = wm.new { nj = 2, nu = 1, dt = dt, hidden = cfg.hidden, layers = cfg.layers,
                       seed = cfg.seed, batch = cfg.batch, horizon = cfg.horizon }
-- normalisers from every training transition
for _ = 1, 10 do
  local S, A = train:sample(cfg.samples // 10, 1)
  model:observe(S:select(2, 1), A:select(2, 1), S:select(2, 2))
end

-- per-horizon errors on 512 held-out windows (the test buffer's own seeded draws)
local function errors()
  local S, A = assert(test:sample(512, cfg.horizon))
  local _, _, per = model:loss(S, A)
  local q, v = {}, {}
  for k = 1, cfg.horizon do q[k], v[k] = per[k][5], per[k][6] end
  return q, v
end

local base_q, base_v = errors()
local opt = nn.adam { lr = cfg.lr, clip = 1 }
for it = 1, cfg.iters do
  local S, A = train:sample(cfg.batch, cfg.wm_steps)
  local loss, parts = model:train(S, A, opt)
  if it % 100 == 0 or it == cfg.iters then
    run:log { iter = it, loss = loss, joint_error_rad = parts.joints,
              joint_velocity_error = parts.joint_velocities }
  end
end
local q, v = errors()

local ks = {}
for k = 1, cfg.horizon do ks[k] = k end
run:plot { file = "wm_error_vs_horizon.png", title = "cart-pole world model, held-out episodes",
           xlabel = "horizon (applications of the model, 20 ms each)",
           ylabel = "mean joint-angle error (rad)", logy = true,
           series = { { x = ks, y = base_q, label = "untrained (constant velocity)" },
                      { x = ks, y = q, label = "trained, n = " .. cfg.wm_steps } } }
assert(model:save(run:path("wm.ckpt"), opt))
local summary = {
  env_samples = cfg.samples,
  wm_error_h1 = q[1], wm_error_h8 = q[math.min(8, cfg.horizon)],
  wm_velocity_error_h1 = v[1], wm_velocity_error_h8 = v[math.min(8, cfg.horizon)],
  baseline_error_h8 = base_q[math.min(8, cfg.horizon)],
  error_by_horizon = q, velocity_error_by_horizon = v, baseline_by_horizon = base_q,
  wall_seconds = os.time() - t0,
}
run:summary(summary)
print(("wm_cartpole: joint-angle error h1 %.2e h8 %.2e rad (untrained h8 %.2e); %d samples, "
       .. "%d s; %s"):format(summary.wm_error_h1, summary.wm_error_h8,
                               summary.baseline_error_h8, cfg.samples, summary.wall_seconds,
                               run.dir))
run:close()
