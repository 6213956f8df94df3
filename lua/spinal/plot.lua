-- plot.lua: line plots as PNG files through gnuplot (spinal.plot).
--
--   local plot = require "spinal.plot"
--   local ok, err = plot.png { file = "cost.png", title = "cost", xlabel = "iteration",
--                              ylabel = "cost", logy = false, square = false,
--                              series = { { x = xs, y = ys, label = "feedback",
--                                           style = "linespoints" }, ... } }
--
-- Each series is written to a data file next to the PNG (FILE.dat, kept: it is the plot's data)
-- and drawn by a gnuplot script (FILE.gp, kept: edit and rerun it to restyle). x defaults to
-- 0..#y-1 (the first value is iteration 0, as in every experiment's metrics); a nil or NaN y
-- leaves a gap. `square = true` gives equal axis scales (paths in x-y).
-- Without gnuplot, png returns nil, message and draws nothing: plots are never what fails a run.
-- Every file is written whole or not at all: the data and script through spec.write (default: a
-- plain checked write; spinal.run passes its atomic writer), the PNG drawn to a temporary name,
-- checked to end with PNG's IEND chunk and renamed into place. A file that cannot be written
-- returns nil, message, "io" (the message names the file and the reason).
local M = {}

local available
-- true when a gnuplot binary is on PATH
function M.available()
  if available == nil then
    local ok = os.execute "command -v gnuplot >/dev/null 2>&1"
    available = ok == true or ok == 0
  end
  return available
end

local function quote(s)
  return '"' .. tostring(s):gsub('[\\"]', "\\%0") .. '"'
end

-- text for titles, labels and keys: enhanced-mode markup characters printed as themselves
local function text(s)
  return '"' .. tostring(s):gsub('[\\"]', "\\%0"):gsub("[_^{}@&~]", "\\\\%0") .. '"'
end

local function num(v)
  if v == nil or v ~= v or v == math.huge or v == -math.huge then return "NaN" end
  return ("%.10g"):format(v)
end

-- the default writer: text (a string or a list of strings) to path, checked
local function write_plain(path, text)
  local f, err = io.open(path, "wb")
  if not f then return nil, ("cannot write %s (%s)"):format(path, err) end
  local ok, werr = f:write(type(text) == "table" and table.concat(text) or text)
  local cok, cerr = f:close()
  if not ok or not cok then return nil, ("cannot write %s (%s)"):format(path, werr or cerr) end
  return true
end

-- does the file at path hold a whole PNG (signature and a final IEND chunk)?
local function whole_png(path)
  local f = io.open(path, "rb")
  if not f then return false end
  local head = f:read(8)
  local size = f:seek "end"
  local tail = size and size >= 20 and f:seek("set", size - 12) and f:read(12)
  f:close()
  return head == "\137PNG\r\n\26\n" and tail == "\0\0\0\0IEND\174\66\96\130"
end

-- write the PNG described by spec: true, or nil, message [, "io" when a file cannot be written]
function M.png(spec)
  assert(type(spec) == "table" and type(spec.file) == "string",
    "plot.png: expected a table with file = a path")
  if not M.available() then return nil, "gnuplot not found (install gnuplot-nox): no plots" end
  local write = spec.write or write_plain
  local rename = spec.rename or os.rename
  local series = spec.series or {}
  if #series == 0 then return nil, "plot.png: no series" end
  local base = spec.file:gsub("%.png$", "")
  local dat, gp = base .. ".dat", base .. ".gp"

  -- the data: one block per series, separated by two blank lines (gnuplot's `index`)
  local out = {}
  for i, s in ipairs(series) do
    local y, x = s.y, s.x
    local n = type(y) == "table" and #y or y:numel()
    out[#out + 1] = ("# %s\n"):format(s.label or ("series " .. i))
    for k = 1, n do
      out[#out + 1] = num(x and x[k] or k - 1) .. " " .. num(y[k]) .. "\n"
    end
    out[#out + 1] = "\n\n"
  end
  local ok, err = write(dat, out)
  if not ok then return nil, err, "io" end

  -- the script (it draws into a temporary file, renamed to spec.file once whole)
  local tmp = base .. ".tmp.png"
  local lines = {
    ("set terminal pngcairo size %d,%d enhanced font 'sans,11'"):format(spec.width or 900,
      spec.height or 600),
    "set output " .. quote(spec.file),
    "set grid",
    "set key " .. (spec.key or "top right") .. " box opaque",
    "set datafile missing 'NaN'",
  }
  if spec.title then lines[#lines + 1] = "set title " .. text(spec.title) end
  if spec.xlabel then lines[#lines + 1] = "set xlabel " .. text(spec.xlabel) end
  if spec.ylabel then lines[#lines + 1] = "set ylabel " .. text(spec.ylabel) end
  if spec.logy then
    lines[#lines + 1] = "set logscale y"
    lines[#lines + 1] = "set format y '10^{%L}'"
  end
  if spec.logx then lines[#lines + 1] = "set logscale x" end
  if spec.square then lines[#lines + 1] = "set size ratio -1" end
  if spec.yrange then
    lines[#lines + 1] = ("set yrange [%s:%s]"):format(num(spec.yrange[1]), num(spec.yrange[2]))
  end
  local plots = {}
  for i, s in ipairs(series) do
    local style = s.style or "linespoints"
    local with = style == "lines" and "lines lw 2"
      or style == "points" and "points pt 7 ps 0.6"
      or style == "dashed" and "lines lw 2 dt 2"
      or "linespoints lw 2 pt 7 ps 0.8"
    plots[#plots + 1] = ("%s index %d using 1:2 with %s title %s"):format(
      i == 1 and quote(dat) or "''", i - 1, with, text(s.label or ("series " .. i)))
  end
  lines[#lines + 1] = "plot " .. table.concat(plots, ", \\\n     ")
  ok, err = write(gp, table.concat(lines, "\n") .. "\n")
  if not ok then return nil, err, "io" end

  -- draw from a temporary copy of the script whose output is the temporary PNG
  lines[2] = "set output " .. quote(tmp)
  local tmp_gp = base .. ".tmp.gp"
  ok, err = write(tmp_gp, table.concat(lines, "\n") .. "\n")
  if not ok then return nil, err, "io" end
  local p = io.popen("gnuplot " .. ("'%s'"):format(tmp_gp:gsub("'", "'\\''")) .. " 2>&1")
  local gout = p:read "a"
  local drawn = p:close()
  os.remove(tmp_gp)
  if not drawn then
    os.remove(tmp)
    return nil, "gnuplot failed: " .. gout
  end
  if not whole_png(tmp) then
    os.remove(tmp)
    return nil, ("cannot write %s (gnuplot wrote an incomplete PNG: is the disk full?)")
      :format(spec.file), "io"
  end
  local rok, rerr = rename(tmp, spec.file)
  if not rok then
    os.remove(tmp)
    return nil, ("cannot write %s (%s)"):format(spec.file, tostring(rerr)), "io"
  end
  return true
end

return M
