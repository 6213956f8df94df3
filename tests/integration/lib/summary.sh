# summary.sh: sourced by the integration tests that check an experiment's summary.json
# (experiments.sh, quadruped_experiments.sh); needs BIN (the spinal binary).
#
# check FILE LUA-EXPR...: each expression (over s = the decoded summary, with null = json.null)
# must be true; the first false one is printed as "FAIL: FILE: EXPR" and the script exits 1.
check() {
  local file=$1
  shift
  for expr in "$@"; do
    SUMMARY=$file "$BIN" -e "
      local json = require 'spinal.json'
      local s = assert(json.read(os.getenv 'SUMMARY'))
      local null = json.null
      local ok = ($expr)
      if not ok then io.stderr:write([==[FAIL: $file: $expr]==] .. '\n') os.exit(1) end"
  done
}
