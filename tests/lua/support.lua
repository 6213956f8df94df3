-- support.lua: what specs that drive the spinal binary share: files in and out, temporary files
-- removed at the end of the spec file, and running `spinal ...` for its stdout, stderr and exit
-- code. (tests/lua is on package.path through helper.lua: local S = require "support".)
local S = {}

S.BIN = os.getenv("SPINAL_BIN")

-- shell-quote a word
function S.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function S.slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read "a"
  f:close()
  return s
end

function S.spit(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- temporary files, removed by S.cleanup() (call it from the spec's teardown)
local made = {}

-- a temporary path (holding text if given); suffix (e.g. ".lua") makes a second, named path
function S.tmpfile(text, suffix)
  local path = os.tmpname()
  made[#made + 1] = path
  if suffix then
    path = path .. suffix
    made[#made + 1] = path
  end
  if text then S.spit(path, text) end
  return path
end

function S.cleanup()
  for _, path in ipairs(made) do os.remove(path) end
  made = {}
end

-- run "spinal <args>" (args already quoted) with optional stdin text and a shell prefix (e.g.
-- environment assignments): stdout, stderr, exit code
function S.run(args, input, prefix)
  assert(S.BIN, "SPINAL_BIN is not set")
  local out, err = S.tmpfile(), S.tmpfile()
  local cmd = (prefix or "") .. S.q(S.BIN) .. " " .. args .. " >" .. out .. " 2>" .. err
  cmd = cmd .. (input and " <" .. S.tmpfile(input) or " </dev/null")
  local _, _, code = os.execute(cmd)
  return S.slurp(out), S.slurp(err), code
end

return S
