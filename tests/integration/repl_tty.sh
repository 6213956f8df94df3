#!/usr/bin/env bash
# repl_tty.sh: `spinal repl` on a pseudo-terminal: line editing, tab completion, Ctrl-C, history
# kept in $SPINAL_HISTORY (bounded, recalled with the up arrow in the next session).
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
if [ -z "$PY" ]; then echo "skipped: no python3 to drive a pseudo-terminal"; exit 0; fi
if ! "$PY" -c 'import os, pty; m, s = os.openpty(); os.close(m); os.close(s)' 2>/dev/null; then
  echo "skipped: no pseudo-terminal available (os.openpty failed)"; exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$PY" - "$BIN" "$SRC" "$WORK" <<'PYEOF'
import os, sys

BIN, SRC, WORK = sys.argv[1:4]
HIST = os.path.join(WORK, "history")
env = dict(os.environ, SPINAL_HISTORY=HIST, TERM="xterm", HOME=WORK)
sys.path.insert(0, os.path.join(SRC, "tests", "integration", "lib"))
from pty_session import Tty
from repl_pipe import check, done


def Session():
    return Tty([BIN, "repl"], env, timeout=5)

# a long history file from earlier sessions: it is cut to the newest 1000 entries
with open(HIST, "w") as f:
    for i in range(1200):
        f.write("old_%d = %d\n" % (i, i))

s = Session()
check(s.expect(r"> $"), "the prompt appears")
s.send("x = 40 + 2\r")
check(s.expect(r"\n> "), "a statement runs and the prompt returns")
s.send("string.up\t('abc')\r")
check(s.expect(r"ABC"), "string.up + TAB completes to string.upper")
s.send("error('must not run')")
s.pump(0.3)
s.interrupt()
s.pump(0.3)
s.send("x\r")
check(s.expect(r"\n42\r?\n"), "after Ctrl-C clears the line the REPL goes on")
check("repl:1: must not run" not in s.out, "the line cleared by Ctrl-C did not run")
s.send("while true do end\r")
s.pump(0.3)
s.interrupt()
s.pump(0.2)
s.interrupt()
check(s.expect(r"interrupted"), "Ctrl-C interrupts a running line")
s.send("x + 1\r")
check(s.expect(r"\n43\r?\n"), "the REPL goes on after an interrupted line")
s.send("function f()\r")
check(s.expect(r">> $"), "an incomplete chunk prompts with >>")
s.send("return 7 end\r")
s.send("f()\r")
check(s.expect(r"\n7\r?\n"), "the continued chunk runs")
s.send("print('recalled ' .. 6 * 7)\r")
check(s.expect(r"recalled 42"), "the last line runs")
check(s.close("\x04") == 0, "Ctrl-D leaves with exit status 0")

lines = open(HIST).read().splitlines()
check("x = 40 + 2" in lines, "the history file holds the typed lines")
check("string.upper('abc')" in lines, "the history file holds the completed line")
check(not any("must not run" in l for l in lines), "a line cleared by Ctrl-C is not in history")
check(lines[-1] == "print('recalled ' .. 6 * 7)", "the newest line is last in the file")
check("old_0 = 0" not in lines and "old_1199 = 1199" in lines,
      "the oldest entries were dropped from a long history file")
check(len(lines) <= 1000 + 10, "the history file stays bounded (%d lines)" % len(lines))

s = Session()
check(s.expect(r"> $"), "a second session starts")
s.send("\x1b[A\r")
check(s.expect(r"\nrecalled 42"), "the up arrow recalls the previous session's last line")
check(s.close("\x04") == 0, "the second session exits 0")

done()
PYEOF
