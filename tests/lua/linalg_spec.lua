-- linalg_spec.lua: spinal.linalg from Lua: each factorisation checked by the identity it
-- promises on random matrices over several seeds, plus the errors a user sees.
local A = require "spinal.array"
local L = require "spinal.linalg"
local R = require "spinal.rng"

local function assert_error_matches(pattern, f)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error")
  assert(tostring(err):find(pattern), ("error %q does not match %q"):format(tostring(err), pattern))
end

local function well_conditioned(n, g)
  return A.randn({n, n}, g) + A.eye(n) * n
end

describe("spinal.linalg", function()
  it("solve returns x with A x = b for vectors and matrices", function()
    for seed = 1, 4 do
      local g = R.new(seed)
      local n = g:integer(6)
      local M = well_conditioned(n, g)
      local b = A.randn(n, g)
      assert.is_true(A.allclose(M:matmul(L.solve(M, b)), b, 1e-10, 1e-12))
      local B = A.randn({n, 3}, g)
      assert.is_true(A.allclose(M:matmul(L.solve(M, B)), B, 1e-10, 1e-12))
      -- a transposed view works and gives the transpose's solution
      assert.is_true(A.allclose(M:t():matmul(L.solve(M:t(), b)), b, 1e-10, 1e-12))
    end
  end)

  it("solve and inv refuse a singular matrix by name", function()
    assert_error_matches("solve: matrix is singular",
                         function() return L.solve(A{ {1, 2}, {2, 4} }, A{1, 1}) end)
    assert_error_matches("inv: matrix is singular",
                         function() return L.inv(A{ {0, 0}, {0, 0} }) end)
  end)

  it("inv times the matrix is the identity and det of a product multiplies", function()
    for seed = 1, 4 do
      local g = R.new(seed, 1)
      local n = g:integer(5)
      local M, N = well_conditioned(n, g), A.randn({n, n}, g)
      assert.is_true(A.allclose(M:matmul(L.inv(M)), A.eye(n), 1e-10, 1e-12))
      local d = L.det(M:matmul(N))
      assert.is_true(math.abs(d - L.det(M) * L.det(N)) <= 1e-9 * math.abs(d) + 1e-12)
    end
    assert.equal(-2, L.det{ {1, 2}, {3, 4} })
  end)

  it("cholesky gives L with L L^T = A and names a non-positive-definite input", function()
    local g = R.new(9)
    local B = A.randn({4, 4}, g)
    local S = B:matmul(B:t()) + A.eye(4)
    local C = L.cholesky(S)
    assert.equal(0, C:get(1, 4))
    assert.is_true(A.allclose(C:matmul(C:t()), S, 1e-12, 1e-12))
    assert_error_matches("cholesky: matrix is not positive definite",
                         function() return L.cholesky(A{ {1, 2}, {2, 1} }) end)
  end)

  it("qr and svd reproduce the matrix with orthonormal factors", function()
    for seed = 1, 4 do
      local g = R.new(seed, 2)
      local m, n = g:integer(6), g:integer(6)
      local M = A.randn({m, n}, g)
      local k = math.min(m, n)
      local Q, Rr = L.qr(M)
      assert.same({m, k}, Q.shape)
      assert.is_true(A.allclose(Q:matmul(Rr), M, 1e-10, 1e-12))
      assert.is_true(A.allclose(Q:t():matmul(Q), A.eye(k), 1e-10, 1e-12))
      local U, S, Vt = L.svd(M)
      assert.is_true(A.allclose((U * S):matmul(Vt), M, 1e-10, 1e-12))
      assert.is_true(A.allclose(Vt:matmul(Vt:t()), A.eye(k), 1e-10, 1e-12))
    end
  end)

  it("eig returns real and imaginary parts, used to check closed-loop stability", function()
    local re, im = L.eig(A{ {0, 1}, {-2, -3} })
    local lo, hi = math.min(re[1], re[2]), math.max(re[1], re[2])
    assert.is_true(math.abs(lo + 2) < 1e-12 and math.abs(hi + 1) < 1e-12)
    assert.same({0, 0}, im:totable())
    re, im = L.eig(A{ {0, -1}, {1, 0} })
    assert.is_true(math.abs(im[1] - 1) < 1e-15 and math.abs(im[2] + 1) < 1e-15)
    assert.equal(0.9, L.spectral_radius(A{ {0.5, 1}, {0, 0.9} }))
  end)

  it("eigh returns ascending eigenvalues and orthonormal eigenvectors", function()
    local g = R.new(4)
    local B = A.randn({5, 5}, g)
    local S = B + B:t()
    local w, V = L.eigh(S)
    for i = 2, 5 do assert.is_true(w[i] >= w[i - 1]) end
    assert.is_true(A.allclose(S:matmul(V), V * w, 1e-10, 1e-12))
  end)

  it("checks shapes and says what it expected", function()
    assert_error_matches("bad argument #1 to 'inv' %(expected a square matrix, got 2x3%)",
                         function() return L.inv(A.zeros(2, 3)) end)
    assert_error_matches(
      "bad argument #2 to 'solve' %(expected a vector or matrix with 2 rows, got shape 3%)",
                         function() return L.solve(A.eye(2), A.zeros(3)) end)
    assert_error_matches("expected a 2%-D matrix, got a 1%-D array of shape 3",
                         function() return L.qr(A.zeros(3)) end)
    assert_error_matches("NaN or Inf", function() return L.det(A{ {0 / 0, 1}, {1, 1} }) end)
  end)
end)
