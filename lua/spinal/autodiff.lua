-- autodiff.lua: forward-mode automatic differentiation with dual numbers, in pure Lua.
--
-- A dual number carries a value v and a vector of n tangents d (the derivatives of v with
-- respect to n input directions), so one evaluation of f: R^n -> R^m with the n unit directions
-- gives the whole gradient or Jacobian (Griewank and Walther, Evaluating Derivatives, 2nd ed.,
-- ch. 3, the "vector forward mode"). Arithmetic operators are overloaded through a metatable;
-- math functions come from ad.math, a drop-in for `math` that accepts numbers and duals alike:
--
--   local ad = require "spinal.autodiff"
--   local m = ad.math
--   local function cost(z) return (m.sqrt(z[1]^2 + z[2]^2) - 1.5)^2 + 0.1 * m.sin(z[3]) end
--   local value, grad = ad.gradient(cost, { 3.0, 0.5, 0.2 })
--
-- This is spinal's slower path, for user-written Lua models f(x, u, p) and Lua cost functions:
-- every operation allocates a table of n tangents. Built-in C models and cost terms have hand
-- derived derivatives and should be preferred inside long rollouts.
--
-- Non-smooth points use these (documented) subgradients: abs'(0) = 0; sqrt'(0) = 0 (so that
-- |v| = sqrt(v.v) has gradient 0 at v = 0); min/max follow the argument they return (the first
-- one on ties); floor and ceil have derivative 0; clamp(x, lo, hi) passes x's derivative when
-- lo <= x <= hi and the bound's derivative outside; a % b has derivative 1 in a and
-- -floor(a / b) in b (its jumps ignored); a // b is a plain number (derivative 0); x^y with a
-- dual exponent ignores the exponent's derivative where x <= 0 (x^y ln x is undefined there).
--
-- Comparisons <, <=, >, >= compare values and work between duals and numbers. Lua only calls
-- __eq when both operands are tables, so `dual == number` is always false: compare ad.value(a)
-- instead.

local ad = {}

local Dual = {}
Dual.__name = "spinal.dual"

local floor, ceil, huge = math.floor, math.ceil, math.huge
local sqrt, exp, log = math.sqrt, math.exp, math.log
local sin, cos, tan, atan = math.sin, math.cos, math.tan, math.atan
local asin, acos = math.asin, math.acos

local function isdual(a) return getmetatable(a) == Dual end

local function new(v, d) return setmetatable({ v = v, d = d }, Dual) end

-- tanh, sinh and cosh left Lua's math library in 5.3; numerically stable versions here
local function tanh_n(x)
  if x > 20 then return 1.0 elseif x < -20 then return -1.0 end
  local e = exp(2 * x)
  return (e - 1) / (e + 1)
end
local function sinh_n(x) return (exp(x) - exp(-x)) / 2 end
local function cosh_n(x) return (exp(x) + exp(-x)) / 2 end

-- d = a * da (a number, da a tangent vector)
local function scale(da, a)
  local d = {}
  for i = 1, #da do d[i] = a * da[i] end
  return d
end

-- d = a * da + b * db
local function axpby(a, da, b, db)
  local n = #da
  if #db ~= n then
    error(string.format("spinal.autodiff: duals with %d and %d tangents mixed", n, #db), 3)
  end
  local d = {}
  for i = 1, n do d[i] = a * da[i] + b * db[i] end
  return d
end

local function zeros(n)
  local d = {}
  for i = 1, n do d[i] = 0.0 end
  return d
end

-- a unary function of a dual: value fv, derivative dfv
local function unary(a, fv, dfv) return new(fv, scale(a.d, dfv)) end

local function check_operand(a, op)
  if type(a) ~= "number" and not isdual(a) then
    error(string.format("spinal.autodiff: attempt to perform arithmetic (%s) on a %s value", op,
      type(a)), 3)
  end
end

-- ---- operators --------------------------------------------------------------------------------

function Dual.__add(a, b)
  check_operand(a, "+"); check_operand(b, "+")
  if type(a) == "number" then return new(a + b.v, scale(b.d, 1)) end
  if type(b) == "number" then return new(a.v + b, scale(a.d, 1)) end
  return new(a.v + b.v, axpby(1, a.d, 1, b.d))
end

function Dual.__sub(a, b)
  check_operand(a, "-"); check_operand(b, "-")
  if type(a) == "number" then return new(a - b.v, scale(b.d, -1)) end
  if type(b) == "number" then return new(a.v - b, scale(a.d, 1)) end
  return new(a.v - b.v, axpby(1, a.d, -1, b.d))
end

function Dual.__mul(a, b)
  check_operand(a, "*"); check_operand(b, "*")
  if type(a) == "number" then return new(a * b.v, scale(b.d, a)) end
  if type(b) == "number" then return new(a.v * b, scale(a.d, b)) end
  return new(a.v * b.v, axpby(b.v, a.d, a.v, b.d))
end

function Dual.__div(a, b)
  check_operand(a, "/"); check_operand(b, "/")
  if type(b) == "number" then return new(a.v / b, scale(a.d, 1 / b)) end
  local q = (type(a) == "number" and a or a.v) / b.v
  if type(a) == "number" then return new(q, scale(b.d, -q / b.v)) end
  -- (a/b)' = a'/b - (a/b) b'/b
  return new(q, axpby(1 / b.v, a.d, -q / b.v, b.d))
end

function Dual.__pow(a, b)
  check_operand(a, "^"); check_operand(b, "^")
  if type(b) == "number" then
    local v = a.v ^ b
    -- b a^(b-1), written to stay finite at a = 0 for b >= 1
    local dv = (b == 0) and 0 or b * a.v ^ (b - 1)
    return new(v, scale(a.d, dv))
  end
  local av = type(a) == "number" and a or a.v
  local v = av ^ b.v
  local lna = av > 0 and log(av) or 0
  if type(a) == "number" then return new(v, scale(b.d, v * lna)) end
  local da = (b.v == 0) and 0 or b.v * av ^ (b.v - 1)
  return new(v, axpby(da, a.d, v * lna, b.d))
end

-- a % b = a - floor(a / b) b (Lua's definition): derivative 1 in a, -floor(a / b) in b, away
-- from the jumps; a // b = floor(a / b) is a plain number (derivative 0)
function Dual.__mod(a, b)
  check_operand(a, "%"); check_operand(b, "%")
  local av, bv = type(a) == "number" and a or a.v, type(b) == "number" and b or b.v
  local q = floor(av / bv)
  if type(b) == "number" then return new(av - q * bv, scale(a.d, 1)) end
  if type(a) == "number" then return new(av - q * bv, scale(b.d, -q)) end
  return new(av - q * bv, axpby(1, a.d, -q, b.d))
end

function Dual.__idiv(a, b)
  check_operand(a, "//"); check_operand(b, "//")
  local av, bv = type(a) == "number" and a or a.v, type(b) == "number" and b or b.v
  return floor(av / bv)
end

function Dual.__unm(a) return new(-a.v, scale(a.d, -1)) end

local function val(a) return type(a) == "number" and a or a.v end

function Dual.__eq(a, b) return val(a) == val(b) end
function Dual.__lt(a, b)
  check_operand(a, "<"); check_operand(b, "<")
  return val(a) < val(b)
end
function Dual.__le(a, b)
  check_operand(a, "<="); check_operand(b, "<=")
  return val(a) <= val(b)
end

function Dual.__tostring(a)
  local parts = {}
  for i = 1, #a.d do parts[i] = string.format("%.6g", a.d[i]) end
  return string.format("dual(%.6g; %s)", a.v, table.concat(parts, ", "))
end

function Dual.__concat(a, b)
  return (isdual(a) and tostring(a) or a) .. (isdual(b) and tostring(b) or b)
end

Dual.__index = {
  value = function(a) return a.v end,
  tangent = function(a) return a.d end,
}

-- ---- ad.math -----------------------------------------------------------------------------------

local M = setmetatable({}, { __index = math })

function M.sin(a) if isdual(a) then return unary(a, sin(a.v), cos(a.v)) end return sin(a) end
function M.cos(a) if isdual(a) then return unary(a, cos(a.v), -sin(a.v)) end return cos(a) end
function M.tan(a)
  if isdual(a) then
    local t = tan(a.v)
    return unary(a, t, 1 + t * t)
  end
  return tan(a)
end
function M.asin(a)
  if isdual(a) then return unary(a, asin(a.v), 1 / sqrt(1 - a.v * a.v)) end
  return asin(a)
end
function M.acos(a)
  if isdual(a) then return unary(a, acos(a.v), -1 / sqrt(1 - a.v * a.v)) end
  return acos(a)
end
function M.exp(a)
  if isdual(a) then
    local e = exp(a.v)
    return unary(a, e, e)
  end
  return exp(a)
end
function M.log(a, base)
  if isdual(base) then
    -- log_b(a) = ln a / ln b
    return M.log(a) / M.log(base)
  end
  if isdual(a) then
    local k = base and 1 / log(base) or 1
    return unary(a, base and log(a.v, base) or log(a.v), k / a.v)
  end
  if base then return log(a, base) end
  return log(a)
end
function M.sqrt(a)
  if isdual(a) then
    local s = sqrt(a.v)
    return unary(a, s, s > 0 and 0.5 / s or 0)
  end
  return sqrt(a)
end
function M.abs(a)
  if isdual(a) then
    local sg = a.v > 0 and 1 or (a.v < 0 and -1 or 0)
    return unary(a, math.abs(a.v), sg)
  end
  return math.abs(a)
end
function M.tanh(a)
  if isdual(a) then
    local t = tanh_n(a.v)
    return unary(a, t, 1 - t * t)
  end
  return tanh_n(a)
end
function M.sinh(a)
  if isdual(a) then return unary(a, sinh_n(a.v), cosh_n(a.v)) end
  return sinh_n(a)
end
function M.cosh(a)
  if isdual(a) then return unary(a, cosh_n(a.v), sinh_n(a.v)) end
  return cosh_n(a)
end

-- atan(y [, x]) as Lua 5.4's math.atan: the angle of (x, y), x defaulting to 1
function M.atan(y, x)
  if not isdual(y) and not isdual(x) then return atan(y, x or 1.0) end
  x = x or 1.0
  local yv, xv = val(y), val(x)
  local r2 = xv * xv + yv * yv
  local v = atan(yv, xv)
  if r2 == 0 then
    local n = isdual(y) and #y.d or #x.d
    return new(v, zeros(n))
  end
  -- d atan2(y, x) = (x dy - y dx) / (x^2 + y^2)
  if not isdual(x) then return new(v, scale(y.d, xv / r2)) end
  if not isdual(y) then return new(v, scale(x.d, -yv / r2)) end
  return new(v, axpby(xv / r2, y.d, -yv / r2, x.d))
end
M.atan2 = M.atan

-- min and max follow the argument they return (the first on ties); any number of arguments
function M.min(a, ...)
  local best = a
  for i = 1, select("#", ...) do
    local b = select(i, ...)
    if val(b) < val(best) then best = b end
  end
  return best
end
function M.max(a, ...)
  local best = a
  for i = 1, select("#", ...) do
    local b = select(i, ...)
    if val(b) > val(best) then best = b end
  end
  return best
end

-- floor and ceil return plain numbers: their derivative is 0 almost everywhere
function M.floor(a) return floor(val(a)) end
function M.ceil(a) return ceil(val(a)) end

-- clamp(x, lo, hi): x inside [lo, hi] (derivative of x), else the bound (its derivative)
function M.clamp(x, lo, hi)
  if val(x) < val(lo) then return lo end
  if val(x) > val(hi) then return hi end
  return x
end

-- ---- public API --------------------------------------------------------------------------------

ad.math = M
ad.isdual = isdual

-- Value of a number or a dual.
function ad.value(a) return val(a) end

-- A dual number with value v and tangents d (a table of numbers, copied).
function ad.dual(v, d)
  local c = {}
  for i = 1, #d do c[i] = d[i] end
  return new(v, c)
end

-- a spinal.array vector (indexable from 1, with a length) is accepted wherever x is
local function is_array(x)
  local mt = type(x) == "userdata" and getmetatable(x)
  return mt and mt.__name == "spinal.array" or false
end

-- Internal helpers return nil and a message on bad input; the public functions raise it at
-- their caller's level (error(msg, 2)), so the message points at the user's line.

-- the inputs as duals with unit tangents, numbered from `first` within n directions
local function seed(x, argn, what, fname, first, n, out)
  if type(x) ~= "table" and not is_array(x) then
    return nil, string.format("bad argument #%d to '%s' (expected a table of numbers, got %s)",
      argn, fname, type(x))
  end
  for i = 1, #x do
    local xi = x[i]
    if type(xi) ~= "number" then
      return nil, string.format(
        "bad argument #%d to '%s' (expected a table of numbers, %s %d is a %s)", argn, fname,
        what, i, type(xi))
    end
    local d = zeros(n)
    d[first + i - 1] = 1.0
    out[i] = new(xi, d)
  end
  return out
end

-- value and gradient row (n) of one output y, or nil when y is neither number nor dual
local function unpack_output(y, n)
  if type(y) == "number" then return y, zeros(n) end
  if isdual(y) then
    local g = {}
    for i = 1, n do g[i] = y.d[i] end
    return y.v, g
  end
  return nil
end

-- f's output as values (m) and rows (m x n), or nil and a message
local function jacobian_of(y, n, fname)
  if type(y) == "number" or isdual(y) then
    local v, g = unpack_output(y, n)
    return { v }, { g }
  end
  if type(y) ~= "table" then
    return nil, string.format("%s: f must return a number or a table of numbers, got %s", fname,
      type(y))
  end
  local values, J = {}, {}
  for i = 1, #y do
    values[i], J[i] = unpack_output(y[i], n)
    if values[i] == nil then
      return nil, string.format("%s: f must return a table of numbers, entry %d is a %s", fname,
        i, type(y[i]))
    end
  end
  return values, J
end

local function n_of(x) return (type(x) == "table" or is_array(x)) and #x or 0 end

-- Value and gradient of f: R^n -> R at x (a table of n numbers). f receives a table of duals
-- and returns a number or dual. Returns value (number), gradient (table of n numbers).
function ad.gradient(f, x)
  local n = n_of(x)
  local xd, err = seed(x, 2, "entry", "gradient", 1, n, {})
  if not xd then error(err, 2) end
  local y = f(xd)
  if type(y) == "table" and not isdual(y) then
    error("gradient: f must return a number, got a table (use ad.jacobian for vector outputs)", 2)
  end
  local v, g = unpack_output(y, n)
  if v == nil then error("gradient: f must return a number, got " .. type(y), 2) end
  return v, g
end

-- Values and Jacobian of f: R^n -> R^m at x. f returns a table of m numbers/duals (a single
-- number counts as m = 1). Returns values (table m), J (table of m rows, each a table of n).
function ad.jacobian(f, x)
  local n = n_of(x)
  local xd, err = seed(x, 2, "entry", "jacobian", 1, n, {})
  if not xd then error(err, 2) end
  local y, J = jacobian_of(f(xd), n, "jacobian")
  if not y then error(J, 2) end
  return y, J
end

-- For a model or cost written f(x, u, p) (p optional): values y = f(x, u, p) and the Jacobians
-- A = dy/dx (m x nx), B = dy/du (m x nu), P = dy/dp (m x np, nil when p is nil), all from one
-- evaluation with nx + nu + np tangent directions.
function ad.linearize(f, x, u, p)
  local nx, nu, np = n_of(x), n_of(u), n_of(p)
  local n = nx + nu + np
  local xd, ud, pd, err
  xd, err = seed(x, 2, "x entry", "linearize", 1, n, {})
  if xd then ud, err = seed(u, 3, "u entry", "linearize", nx + 1, n, {}) end
  if ud and p ~= nil then pd, err = seed(p, 4, "p entry", "linearize", nx + nu + 1, n, {}) end
  if not xd or not ud or (p ~= nil and not pd) then error(err, 2) end
  local y, J = jacobian_of(f(xd, ud, pd), n, "linearize")
  if not y then error(J, 2) end
  local A, B, P = {}, {}, p and {} or nil
  for i = 1, #J do
    local row = J[i]
    A[i], B[i] = {}, {}
    for j = 1, nx do A[i][j] = row[j] end
    for j = 1, nu do B[i][j] = row[nx + j] end
    if P then
      P[i] = {}
      for j = 1, np do P[i][j] = row[nx + nu + j] end
    end
  end
  return y, A, B, P
end

return ad
