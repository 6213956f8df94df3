-- model_ad.lua: evaluation of models written in Lua (spinal.model.define), called by the C
-- trampolines in lua/bind/model_lua.c.
--
-- A Lua model gives xdot = f(x, u, p) (or the discrete map) with x, u tables of nx, nu numbers
-- and p a table of parameters by name. Values come from one call with plain numbers. Jacobians
-- fx, fu, fp come from one call with dual numbers (spinal.autodiff: vector forward mode,
-- Griewank and Walther, Evaluating Derivatives, 2nd ed., ch. 3): x, and u and p when wanted,
-- are seeded with unit tangents, so the tangents of the outputs are the rows of [fx fu fp].
-- User code must use spinal.autodiff.math (sin, cos, ...) so that it works on duals too.

local ad = require "spinal.autodiff"

local isdual, dual, fmt = ad.isdual, ad.dual, string.format

local M = {}

-- check that y is a table of nx numbers (or duals when allowed); nil, message otherwise
local function check_result(name, y, nx)
  if type(y) ~= "table" or isdual(y) then
    return fmt("%s.f returned %s, expected a table of %d numbers", name,
      isdual(y) and "a dual number" or type(y), nx)
  end
  if #y ~= nx then return fmt("%s.f returned %d values, expected %d", name, #y, nx) end
  for i = 1, nx do
    local v = y[i]
    if type(v) ~= "number" and not isdual(v) then
      return fmt("%s.f returned a %s as value %d, expected a number", name, type(v), i)
    end
  end
end

-- The evaluator for one model: eval(x, u, p, out) fills out[1..nx] with f's values;
-- eval(x, u, p, out, wantu, wantp) fills out with fx (nx x nx), then fu (nx x nu) when wantu,
-- then fp (nx x np) when wantp, row-major. Returns true, or nil and a message for a result of
-- the wrong shape (errors inside f propagate).
function M.evaluator(name, f, nx, nu, np, p_names)
  return function(x, u, p, out, jac, wantu, wantp)
    if not jac then
      local y = f(x, u, p)
      local err = check_result(name, y, nx)
      if err then return nil, err end
      for i = 1, nx do
        local v = y[i]
        out[i] = type(v) == "number" and v or v.v
      end
      return true
    end

    -- seed the inputs: n directions, x first, then u and p when wanted
    local n = nx + (wantu and nu or 0) + (wantp and np or 0)
    local zero = {}
    for j = 1, n do zero[j] = 0.0 end
    local function seeded(v, j)
      zero[j] = 1.0
      local d = dual(v, zero)
      zero[j] = 0.0
      return d
    end
    local xd, ud, pd = {}, u, p
    for i = 1, nx do xd[i] = seeded(x[i], i) end
    if wantu then
      ud = {}
      for i = 1, nu do ud[i] = seeded(u[i], nx + i) end
    end
    if wantp then
      pd = {}
      local off = nx + (wantu and nu or 0)
      for i = 1, np do pd[p_names[i]] = seeded(p[p_names[i]], off + i) end
    end
    local y = f(xd, ud, pd)
    local err = check_result(name, y, nx)
    if err then return nil, err end

    -- the rows of [fx fu fp], split into the three row-major blocks
    local ou = nx * nx
    local op = ou + (wantu and nx * nu or 0)
    local pcol = nx + (wantu and nu or 0)
    for i = 1, nx do
      local v = y[i]
      local d = isdual(v) and v.d or zero
      if #d ~= n then
        return nil, fmt("%s.f returned value %d with %d tangents, expected %d (a dual from "
          .. "another computation?)", name, i, #d, n)
      end
      for j = 1, nx do out[(i - 1) * nx + j] = d[j] end
      if wantu then
        for j = 1, nu do out[ou + (i - 1) * nu + j] = d[nx + j] end
      end
      if wantp then
        for j = 1, np do out[op + (i - 1) * np + j] = d[pcol + j] end
      end
    end
    return true
  end
end

return M
