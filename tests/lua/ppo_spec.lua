-- ppo_spec.lua: the spinal.ppo binding (lua/bind/ppo.c): batched quadrupeds, the agent's act,
-- iterate and evaluate, and the errors a user sees.
local ppo = require "spinal.ppo"
local array = require "spinal.array"

local function err(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok)
  return tostring(msg)
end

local XML = "robots/quadruped.xml"

describe("ppo.quadruped", function()
  it("steps a batch of quadrupeds and returns arrays of the documented shapes", function()
    local env = assert(ppo.quadruped { mjcf = XML, nenvs = 3, threads = 2, seed = 1 })
    assert.equal(3, env.nenvs)
    assert.equal(49, env.nobs)
    assert.equal(12, env.nact)
    assert.near(0.02, env.dt, 1e-12)
    local obs = env:reset(5)
    assert.same({ 3, 49 }, obs.shape)
    local o, r, d, t = env:step(array.zeros(3, 12))
    assert.same({ 3, 49 }, o.shape)
    assert.same({ 3 }, r.shape)
    assert.same({ 3 }, d.shape)
    assert.same({ 3 }, t.shape)
    assert.is_true(r[1] >= 0)  -- only_positive
    local m = env:metrics(true)
    assert.equal(3, m.steps)
    env:close()
    assert.matches("closed", tostring(env))
  end)

  it("holds a fixed command when its range is a point", function()
    local env = assert(ppo.quadruped { mjcf = XML, nenvs = 2, seed = 1, vx = { 0.5, 0.5 },
                                       vy = { 0, 0 }, wz = { -0.2, -0.2 } })
    local obs = env:reset(1)
    assert.near(0.5, obs[1][35], 1e-12)
    assert.near(0, obs[2][36], 1e-12)
    assert.near(-0.2, obs[2][37], 1e-12)
  end)

  it("imitates clips of qpos frames: 65 observations and tracking errors", function()
    local F = array.zeros(50, 19)
    for i = 1, 50 do
      F[i][3], F[i][4] = 0.285, 1
      for l = 0, 3 do F[i][9 + 3 * l], F[i][10 + 3 * l] = 0.9, -1.8 end
    end
    local env = assert(ppo.quadruped { mjcf = XML, nenvs = 2, seed = 1, task = "imitate",
                                       clips = { F, F }, reset_noise = 0 })
    assert.equal(65, env.nobs)
    env:step(array.zeros(2, 12))
    local m = env:metrics(true)
    assert.is_true(m.joint_error < 0.05)
    assert.is_true(m.root_error < 0.05)
    assert.matches("field 'clips': expected a list of clip frames %(the imitate task%), got nil",
                   err(ppo.quadruped, { mjcf = XML, nenvs = 1, task = "imitate" }))
    assert.matches("field 'clips': entry 2: expected an array of at least 3 frames",
                   err(ppo.quadruped, { mjcf = XML, nenvs = 1, task = "imitate",
                                        clips = { F, array.zeros(2, 19) } }))
    local bad, msg = ppo.quadruped { mjcf = XML, nenvs = 1, task = "imitate",
                                     clips = { array.zeros(5, 7) } }
    assert.is_nil(bad)
    assert.matches("vecenv: clips have 7 numbers per frame, the qpos of .* has 19", msg)
  end)

  it("takes a library's worth of clips (hundreds: more than the Lua stack's default room)", function()
    -- each clip stays on the stack while the environments are made; 78 clips (the gait
    -- library's training split) overflowed it and corrupted the heap
    local clips = {}
    for c = 1, 400 do
      local F = array.zeros(3, 19)
      for i = 1, 3 do
        F[i][3], F[i][4] = 0.285, 1
        for l = 0, 3 do F[i][9 + 3 * l], F[i][10 + 3 * l] = 0.9 + 1e-4 * c, -1.8 end
      end
      clips[c] = F
    end
    local env = assert(ppo.quadruped { mjcf = XML, nenvs = 400, seed = 1, task = "imitate",
                                       clips = clips, from_start = true })
    local obs = env:reset(1)
    collectgarbage()
    -- environment i plays clip i from its first frame: its first hip is that clip's
    for _, i in ipairs { 1, 200, 400 } do
      assert.near(0.9 + 1e-4 * i, obs[i][12], 1e-12)
    end
    env:close()
  end)

  it("returns nil and a message for a missing file, and names bad options", function()
    local env, msg = ppo.quadruped { mjcf = "nope.xml", nenvs = 1 }
    assert.is_nil(env)
    assert.matches("^vecenv: cannot load nope.xml", msg)
    assert.matches("field 'nenvs': expected an integer >= 1, got nil",
                   err(ppo.quadruped, { mjcf = XML }))
    assert.matches("unknown option 'nenv'", err(ppo.quadruped, { mjcf = XML, nenv = 2 }))
    assert.matches("field 'vx': expected {lo, hi} with lo <= hi",
                   err(ppo.quadruped, { mjcf = XML, nenvs = 1, vx = { 1, -1 } }))
    local e = ppo.quadruped { mjcf = XML, nenvs = 2 }
    assert.matches("bad argument #1 to 'step' %(expected actions %(2 x 12%) of length 24, got 12%)",
                   err(function() return e:step(array.zeros(12)) end))
  end)
end)

describe("ppo.new", function()
  it("takes its sizes from the environments and trains an iteration", function()
    local env = assert(ppo.quadruped { mjcf = XML, nenvs = 4, seed = 2 })
    local agent = ppo.new { env = env, nsteps = 4, hidden = { 16, 16 }, minibatches = 2,
                            epochs = 2, seed = 3 }
    assert.matches("ppo agent: 49 %-> 12, 4 envs x 4 steps", tostring(agent))
    local s = agent:iterate(env)
    assert.equal(16, s.samples)
    assert.equal(4, s.steps)
    assert.equal(1, agent.iteration)
    assert.equal(16, s.env.steps)
    for _, k in ipairs { "surrogate", "value_loss", "entropy", "kl", "lr", "collect_seconds" } do
      assert.is_number(s[k])
    end
    local a = agent:act(env.obs)
    assert.same({ 4, 12 }, a.shape)
    local m = agent:evaluate(env, 3, 9)
    assert.equal(12, m.steps)
    -- evaluation with a fixed seed is repeatable
    assert.equal(m.vel_error, agent:evaluate(env, 3, 9).vel_error)
  end)

  it("adapts the learning rate once per update with kl_per_update, reporting kl_final", function()
    local env = assert(ppo.quadruped { mjcf = XML, nenvs = 4, seed = 2 })
    local agent = ppo.new { env = env, nsteps = 4, hidden = { 16, 16 }, minibatches = 2,
                            epochs = 2, seed = 3, lr = 1e-6, lr_min = 1e-7,
                            kl_per_update = true }
    local s = agent:iterate(env)
    -- every step ran at lr; the tiny steps leave the KL far below half the target: lr * 1.5
    assert.equal(1e-6, s.lr)
    assert.is_true(s.kl_final > 0 and s.kl_final < 0.005)
    assert.near(1.5e-6, agent.lr, 1e-18)
    -- without it kl_final is not computed
    local b = ppo.new { env = env, nsteps = 4, hidden = { 16 }, minibatches = 2, seed = 3 }
    assert.equal(0, b:iterate(env).kl_final)
  end)

  it("names bad options and mismatched environments", function()
    assert.matches("field 'nobs': expected an integer >= 1, got nil", err(ppo.new, { nact = 2 }))
    assert.matches("ppo: minibatches %(4%) must divide nenvs %* nsteps %(15%)",
                   err(ppo.new, { nobs = 3, nact = 2, nenvs = 3, nsteps = 5 }))
    assert.matches("field 'activation': expected one of",
                   err(ppo.new, { nobs = 3, nact = 2, nenvs = 4, activation = "gelu" }))
    local env = assert(ppo.quadruped { mjcf = XML, nenvs = 2 })
    local agent = ppo.new { nobs = 49, nact = 12, nenvs = 4, nsteps = 2, hidden = { 8 } }
    assert.matches("bad argument #1 to 'iterate' %(expected environments of 4 envs, 49 "
                   .. "observations and 12 actions, got 2, 49 and 12%)",
                   err(function() return agent:iterate(env) end))
  end)

  it("collects, records and updates environments stepped from Lua as iterate does", function()
    local e1 = assert(ppo.quadruped { mjcf = XML, nenvs = 2, seed = 3 })
    local e2 = assert(ppo.quadruped { mjcf = XML, nenvs = 2, seed = 3 })
    local opts = { env = e1, nsteps = 3, hidden = { 8 }, minibatches = 2, epochs = 2, seed = 5 }
    local a1, a2 = ppo.new(opts), ppo.new(opts)
    a1:iterate(e1)
    local obs = e2.obs
    for _ = 1, 3 do
      local act = a2:collect(obs)
      assert.same({ 2, 12 }, act.shape)
      local o, r, d, t = e2:step(act)
      a2:record(r, d, t)
      obs = o
    end
    local s = a2:update(obs)
    assert.equal(4, s.steps)
    local p1, p2 = a1:params(), a2:params()
    assert.equal(a1.nparams, p2:numel())
    for k = 1, p1:numel() do assert.equal(p1[k], p2[k]) end
    -- a world of one: data_parallel changes nothing
    local r, n = a2:data_parallel()
    assert.equal(0, r)
    assert.equal(1, n)
    assert.equal(1, a2.ranks)
    local given = array.zeros(2, 12) + 0.25
    assert.equal(0.25, a2:collect(e2.obs, given)[2][12])
    assert.equal("collect: the last step waits for record",
                 err(function() return a2:collect(e2.obs) end):match "collect: .*")
    assert.equal("data_parallel: a rollout is half collected (call it before collecting)",
                 err(function() return a2:data_parallel() end):match "data_parallel: .*")
    a2:record(array.zeros(2), array.zeros(2))
    assert.equal("record: no collected step waits",
                 err(function() return a2:record(array.zeros(2), array.zeros(2)) end)
                   :match "record: .*")
    assert.equal("update: the rollout has 1 of 3 steps",
                 err(function() return a2:update(e2.obs) end):match "update: .*")
    assert.matches("expected rewards %(2%) of length 2, got 3",
                   err(function() return a2:record(array.zeros(3), array.zeros(2)) end))
  end)
end)
