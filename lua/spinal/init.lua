-- spinal: the Lua library scripts use (require "spinal").
local spinal = { version = "0.1.0" }
return spinal
