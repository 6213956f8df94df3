-- nn_spec.lua: the Lua API of spinal.nn (lua/bind/nn.c): networks, gradients, optimisers,
-- checkpoints and the errors a user sees.
local nn = require "spinal.nn"
local array = require "spinal.array"
local rng = require "spinal.rng"

local function err(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok)
  return tostring(msg)
end

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. p))
  return p
end

local function listdir(d)
  local names, f = {}, io.popen("ls -A " .. d)
  for n in f:lines() do names[#names + 1] = n end
  f:close()
  return names
end

describe("nn.mlp", function()
  it("builds a network from a list of widths and summarises it", function()
    local net = nn.mlp { sizes = { 6, 64, 64, 10 }, act = "tanh", out_act = "identity", seed = 1 }
    assert.equal(6 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10, net.nparams)
    assert.equal(6, net.nin)
    assert.equal(10, net.nout)
    assert.equal("f64", net.dtype)
    assert.same({ 6, 64, 64, 10 }, net.sizes)
    assert.same({ "tanh", "tanh", "identity" }, net.acts)
    assert.equal("mlp f64: 6 -> 64 tanh -> 64 tanh -> 10 identity (5258 parameters)", tostring(net))
  end)

  it("maps one row to a vector and a batch to a matrix", function()
    local net = nn.mlp { sizes = { 3, 8, 2 }, seed = 2 }
    local x = array.randn({ 5, 3 }, rng.new(1, 0))
    local y = net:forward(x)
    assert.same({ 5, 2 }, y.shape)
    local y1 = net:forward(x[2])
    assert.same({ 2 }, y1.shape)
    assert.is_true(math.abs(y1[1] - y:get(2, 1)) < 1e-14)
    assert.same({ 2 }, net:forward { 0.1, 0.2, 0.3 }.shape) -- plain tables work too
  end)

  it("is reproducible from its seed", function()
    for _, init in ipairs { "xavier", "orthogonal" } do
      local a = nn.mlp { sizes = { 4, 16, 3 }, init = init, seed = 7 }
      local b = nn.mlp { sizes = { 4, 16, 3 }, init = init, seed = 7 }
      local c = nn.mlp { sizes = { 4, 16, 3 }, init = init, seed = 8 }
      assert.is_true(array.allclose(a:params(), b:params(), 0, 0))
      assert.is_false(array.allclose(a:params(), c:params(), 0, 0))
    end
  end)

  it("starts at exactly zero output with zero_last", function()
    local net = nn.mlp { sizes = { 6, 64, 64, 10 }, zero_last = true, seed = 3 }
    local y = net:forward(array.randn({ 4, 6 }, rng.new(3, 0)))
    assert.equal(0, y:abs():max())
  end)

  it("runs in float32 close to float64 with the same parameters", function()
    local d = nn.mlp { sizes = { 5, 32, 4 }, act = "elu", dtype = "f64", seed = 4 }
    local f = nn.mlp { sizes = { 5, 32, 4 }, act = "elu", dtype = "f32", seed = 4 }
    assert.equal("f32", f.dtype)
    f:set_params(d:params())
    local x = array.randn({ 3, 5 }, rng.new(4, 0))
    assert.is_true(array.allclose(f:forward(x), d:forward(x), 1e-5, 1e-6))
  end)

  it("refuses unknown options, activations and bad sizes, naming the valid choices", function()
    assert.matches("(field 'act': unknown activation 'sigmoid'; valid: identity, tanh, relu, elu)",
      err(nn.mlp, { sizes = { 2, 3 }, act = "sigmoid" }), 1, true)
    assert.matches("field 'out_act': unknown activation 'soft'", err(nn.mlp, { sizes = { 2, 3 },
      out_act = "soft" }), 1, true)
    assert.matches("unknown option 'hidden'; valid: sizes, act, out_act, dtype, init, zero_last, "
      .. "seed, batch", err(nn.mlp, { sizes = { 2, 3 }, hidden = 4 }), 1, true)
    assert.matches("expected named options (sizes, act, out_act, dtype, init, zero_last, seed, "
      .. "batch), got a number key", err(nn.mlp, { 6, 64, 10 }), 1, true)
    assert.matches("field 'sizes': expected 2 to 65 widths, got 1", err(nn.mlp, { sizes = { 2 } }), 1,
      true)
    assert.matches("field 'sizes[2]': expected a positive integer, got 0", err(nn.mlp, { sizes = { 2, 0 } }),
      1, true)
    assert.matches("unknown dtype 'f16'; valid: f64, f32", err(nn.mlp, { sizes = { 2, 3 },
      dtype = "f16" }), 1, true)
    assert.matches("unknown init 'he'", err(nn.mlp, { sizes = { 2, 3 }, init = "he" }), 1, true)
  end)
end)

describe("forward and backward", function()
  it("refuse a wrong input width saying what was expected", function()
    local net = nn.mlp { sizes = { 6, 8, 2 } }
    assert.matches("bad argument #1 to 'forward' (expected 6 inputs per row, got 5)",
      err(function() return net:forward(array.zeros(5)) end), 1, true)
    assert.matches("bad argument #1 to 'forward' (expected 6 inputs per row, got 5)",
      err(function() return net:forward(array.zeros({ 3, 5 })) end), 1, true)
    assert.matches("expected an array of shape (6) or (batch, 6), got shape (2, 3, 6)",
      err(function() return net:forward(array.zeros({ 2, 3, 6 })) end), 1, true)
  end)

  it("refuse an output gradient of the wrong shape, and backward before forward", function()
    local net = nn.mlp { sizes = { 3, 4, 2 } }
    assert.matches("no forward pass", err(function() return net:backward(array.ones(2)) end), 1,
      true)
    net:forward(array.zeros({ 4, 3 }))
    assert.matches("bad argument #1 to 'backward' (expected an output gradient of shape (4, 2), "
      .. "got shape (3, 2))", err(function() return net:backward(array.ones({ 3, 2 })) end), 1, true)
  end)

  it("return input gradients matching finite differences", function()
    for seed = 1, 3 do
      local net = nn.mlp { sizes = { 3, 7, 2 }, act = "tanh", out_act = "tanh", seed = seed }
      local r = rng.new(seed, 1)
      local x, w = array.randn({ 2, 3 }, r), array.randn({ 2, 2 }, r)
      net:forward(x)
      local gx = net:backward(w)
      assert.same({ 2, 3 }, gx.shape)
      local h = 1e-6
      for i = 1, 2 do
        for j = 1, 3 do
          local xp, xm = x:clone(), x:clone()
          xp:set(i, j, x:get(i, j) + h)
          xm:set(i, j, x:get(i, j) - h)
          local fd = ((net:forward(xp) * w):sum() - (net:forward(xm) * w):sum()) / (2 * h)
          assert.is_true(math.abs(fd - gx:get(i, j)) <= 1e-7 + 1e-5 * math.abs(fd))
        end
      end
    end
  end)

  it("accumulate parameter gradients until zero_grad", function()
    local net = nn.mlp { sizes = { 3, 4, 2 }, seed = 5 }
    local x = array.randn({ 3, 3 }, rng.new(5, 0))
    net:zero_grad()
    net:forward(x)
    net:backward(array.ones({ 3, 2 }))
    local g1 = net:grads():clone()
    net:backward(array.ones({ 3, 2 }))
    assert.is_true(array.allclose(net:grads(), g1 * 2, 1e-15, 0))
    net:zero_grad()
    assert.equal(0, net:grads():abs():max())
  end)

  it("backward_input returns the same input gradient without touching parameter gradients", function()
    local net = nn.mlp { sizes = { 3, 5, 2 }, seed = 8 }
    local x = array.randn({ 2, 3 }, rng.new(8, 0))
    net:forward(x)
    local g1 = net:backward(array.ones({ 2, 2 }))
    local before = net:grads():clone()
    local g2 = net:backward_input(array.ones({ 2, 2 }))
    assert.is_true(array.allclose(g1, g2, 0, 0))
    assert.is_true(array.allclose(net:grads(), before, 0, 0))
  end)

  it("hand out parameter views that write through and outlive the network", function()
    local net = nn.mlp { sizes = { 2, 3, 1 }, zero_last = true }
    local p = net:params()
    p[net.nparams] = 2.5 -- the output bias
    assert.equal(2.5, net:forward { 1, 1 }[1])
    net = nil
    collectgarbage()
    collectgarbage()
    assert.equal(2.5, p[#p])
  end)

  it("give copies for float32 networks, set back with set_params", function()
    local net = nn.mlp { sizes = { 2, 3, 1 }, dtype = "f32", zero_last = true }
    local p = net:params()
    p[net.nparams] = 2.5
    assert.equal(0, net:forward { 1, 1 }[1])
    net:set_params(p)
    assert.equal(2.5, net:forward { 1, 1 }[1])
    assert.matches("expected 13 parameters, got 3",
      err(function() return net:set_params(array.zeros(3)) end), 1, true)
  end)

  it("backpropagate through a rollout with one workspace per step", function()
    local net = nn.mlp { sizes = { 2, 8, 2 }, seed = 6 }
    local ws = { net:workspace(), net:workspace(), net:workspace() }
    local function rollout(x)
      for k = 1, 3 do x = net:forward(x, ws[k]) end
      return x:sum()
    end
    local x0 = array.new { 0.3, -0.4 }
    rollout(x0)
    local g = array.ones(2)
    for k = 3, 1, -1 do g = net:backward(g, ws[k]) end
    local h = 1e-6
    for i = 1, 2 do
      local xp, xm = x0:clone(), x0:clone()
      xp[i], xm[i] = x0[i] + h, x0[i] - h
      local fd = (rollout(xp) - rollout(xm)) / (2 * h)
      assert.is_true(math.abs(fd - g[i]) <= 1e-7 + 1e-5 * math.abs(fd))
    end
    local other = nn.mlp { sizes = { 2, 8, 2 } }
    assert.matches("bad argument #2 to 'forward' (expected a workspace of this network",
      err(function() return other:forward(x0, ws[1]) end), 1, true)
    assert.matches("expected a workspace from net:workspace(), got table",
      err(function() return net:forward(x0, {}) end), 1, true)
  end)

  it("refuse use after close", function()
    local net = nn.mlp { sizes = { 2, 3, 1 } }
    net:close()
    assert.equal("mlp (closed)", tostring(net))
    assert.matches("closed network", err(function() return net:forward { 1, 2 } end), 1, true)
  end)
end)

describe("nn.gemm_kernel", function()
  it("names what computes large float32 products: OpenBLAS on a CPU without AVX-512", function()
    local k = nn.gemm_kernel()
    local f = io.open "/proc/cpuinfo"
    local info = f and f:read "a" or ""
    if f then f:close() end
    if info ~= "" and not info:find("avx512f", 1, true) then
      assert.equal("openblas", k)
    else
      assert.is_truthy(({ avx512 = true, openblas = true })[k])
    end
  end)
end)

describe("optimisers", function()
  it("sgd takes the step lr * gradient on a parameter array", function()
    local opt = nn.sgd { lr = 0.1 }
    local p, g = array.new { 1, 2 }, array.new { 0.5, -1 }
    local norm = opt:step(p, g)
    assert.is_true(math.abs(norm - math.sqrt(1.25)) < 1e-15)
    assert.is_true(array.allclose(p, array.new { 0.95, 2.1 }, 1e-15, 0))
    assert.equal(1, opt.t)
  end)

  it("clipping caps the global norm of the step", function()
    local opt = nn.sgd { lr = 1, clip = 2 }
    local p = array.zeros(3)
    opt:step(p, array.new { 3, 4, 12 })
    assert.is_true(math.abs(p:norm() - 2) < 1e-14)
  end)

  it("adam trains a tiny regression to a low error", function()
    for seed = 1, 2 do
      local net = nn.mlp { sizes = { 1, 16, 16, 1 }, act = "tanh", seed = seed, batch = 32 }
      local opt = nn.adam { lr = 0.01 }
      local x = array.linspace(-2, 2, 32):reshape(32, 1)
      local t = (x * 1.5):sin()
      local loss
      for _ = 1, 1000 do
        local y = net:forward(x)
        local d = y - t
        loss = (d * d):mean()
        net:zero_grad()
        net:backward(d * (2 / 32))
        opt:step(net)
      end
      assert.is_true(loss < 2e-3, "loss " .. loss)
    end
  end)

  it("refuse bad settings and parameters of another size", function()
    assert.matches("bad argument #1 to 'adam' (beta2 must be in [0, 1), got 1)",
      err(function() local o = nn.adam { betas = { 0.9, 1 } } return o end), 1, true)
    assert.matches("bad argument #1 to 'sgd' (field 'lr': expected a number, got nil)",
      err(function() local o = nn.sgd { momentum = 0.9 } return o end), 1, true)
    assert.matches("bad argument #1 to 'adam' (field 'betas': expected a vector of length 2, got "
      .. "length 3)", err(function() local o = nn.adam { betas = { 1, 2, 3 } } return o end), 1, true)
    assert.matches("unknown option 'beta'", err(nn.adam, { beta = 0.9 }), 1, true)
    local opt = nn.adam {}
    opt:step(array.zeros(3), array.ones(3))
    assert.matches("expected 3 f64 parameters (this optimiser's state), got 4 f64",
      err(function() return opt:step(array.zeros(4), array.ones(4)) end), 1, true)
  end)

  it("let the learning rate change between steps", function()
    local opt = nn.sgd { lr = 0.1 }
    opt.lr = 0.5
    local p = array.new { 1 }
    opt:step(p, array.new { 1 })
    assert.equal(0.5, p[1])
    assert.matches("only lr", err(function() opt.momentum = 0.9 end), 1, true)
  end)
end)

describe("checkpoints", function()
  it("save and load parameters and optimiser state, and training continues identically", function()
    local dir = tmpdir()
    local path = dir .. "/model.ckpt"
    local x = array.randn({ 8, 3 }, rng.new(9, 0))
    local function train(net, opt, n)
      for _ = 1, n do
        net:zero_grad()
        net:backward(net:forward(x) - 0.5)
        opt:step(net)
      end
    end
    for _, dtype in ipairs { "f64", "f32" } do
      local net = nn.mlp { sizes = { 3, 8, 2 }, dtype = dtype, seed = 9 }
      local opt = nn.adam { lr = 0.01, clip = 10 }
      train(net, opt, 3)
      assert.is_true(net:save(path, opt))
      assert.same({ "model.ckpt" }, listdir(dir)) -- no temporary left behind
      local net2, opt2 = nn.load(path)
      assert.equal(dtype, net2.dtype)
      assert.equal("adam", opt2.kind)
      assert.equal(3, opt2.t)
      assert.is_true(array.allclose(net:params(), net2:params(), 0, 0))
      train(net, opt, 4)
      train(net2, opt2, 4)
      assert.is_true(array.allclose(net:params(), net2:params(), 0, 0))
    end
    os.remove(path)
    os.remove(dir)
  end)

  it("loads into an existing network and refuses a different architecture", function()
    local dir = tmpdir()
    local path = dir .. "/model.ckpt"
    local net = nn.mlp { sizes = { 4, 64, 2 }, seed = 1 }
    assert.is_true(net:save(path))
    local other = nn.mlp { sizes = { 4, 32, 2 } }
    local ok, msg = other:load(path)
    assert.is_nil(ok)
    assert.equal(path .. ": layer 1 has 64 outputs in the file, 32 in the network", msg)
    local same = nn.mlp { sizes = { 4, 64, 2 } }
    assert.is_true(same:load(path))
    assert.is_true(array.allclose(net:params(), same:params(), 0, 0))
    local n2, o2 = nn.load(path)
    assert.is_nil(o2) -- saved without an optimiser
    assert.equal(net.nparams, n2.nparams)
    os.remove(path)
    os.remove(dir)
  end)

  it("returns nil and a message for corrupt, truncated and missing files", function()
    local dir = tmpdir()
    local path = dir .. "/model.ckpt"
    nn.mlp { sizes = { 2, 4, 1 } }:save(path)
    local f = io.open(path, "rb")
    local bytes = f:read "a"
    f:close()
    local function write(s)
      local g = io.open(path, "wb")
      g:write(s)
      g:close()
    end
    local i = #bytes - 20
    write(bytes:sub(1, i - 1) .. string.char((bytes:byte(i) + 1) % 256) .. bytes:sub(i + 1))
    local net, msg = nn.load(path)
    assert.is_nil(net)
    assert.matches(path .. ": checksum mismatch", msg, 1, true)
    write(bytes:sub(1, 40))
    net, msg = nn.load(path)
    assert.is_nil(net)
    assert.matches(path .. ": truncated", msg, 1, true)
    os.remove(path)
    net, msg = nn.load(path)
    assert.is_nil(net)
    assert.matches("cannot open", msg, 1, true)
    os.remove(dir)
  end)
end)
