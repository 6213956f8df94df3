#!/usr/bin/env bash
# repl_remote.sh: the remote REPL on the robot: `spinal repl ROBOT.lua --listen ADDR` over TCP on
# loopback and over a unix socket; the token (0600 file) is required first, a wrong one is
# refused, non-loopback addresses are refused without --listen-any, a client gets the REPL and
# the loop is held when it leaves, SIGTERM stops everything safely and removes the token file.
# The token is the whole first line (TOKEN\0garbage is refused), and a client that connects and
# stays silent does not hold up one that sends the token.
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
WORK=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
ROBOT=$SRC/robots/double_pendulum.lua
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
export SPINAL_TOKEN_FILE=$WORK/token SPINAL_HISTORY=

# refused before anything starts
set +e
"$BIN" repl "$ROBOT" --listen tcp://0.0.0.0:0 > "$WORK/any.out" 2> "$WORK/any.err" < /dev/null
code=$?
set -e
check "a non-loopback --listen is refused (exit 2) before the robot starts" \
  '[ $code = 2 ] && grep -q "not a loopback address" "$WORK/any.err" &&
   ! grep -q "on the robot" "$WORK/any.out"'

for where in tcp unix; do
  if [ $where = tcp ]; then LISTEN=tcp://127.0.0.1:0; else LISTEN=unix:$WORK/repl.sock; fi
  "$BIN" repl "$ROBOT" --listen "$LISTEN" > "$WORK/srv.out" 2> "$WORK/srv.err" < /dev/null &
  SERVER=$!
  for i in $(seq 100); do
    grep -q "^remote REPL on" "$WORK/srv.out" 2>/dev/null && break
    sleep 0.05
  done
  ADDR=$(sed -n 's/^remote REPL on \([^,]*\),.*/\1/p' "$WORK/srv.out")
  TOKEN=$(cat "$WORK/token")
  check "$where: the server prints its address and token; the token file is 0600" \
    '[ -n "$ADDR" ] && [ ${#TOKEN} = 32 ] && grep -q "token $TOKEN" "$WORK/srv.out" &&
     [ "$(stat -c %a "$WORK/token")" = 600 ]'
  if [ $where = unix ]; then
    check "unix: the socket file is 0600" '[ "$(stat -c %a "$WORK/repl.sock")" = 600 ]'
  fi

  out=$(printf 'loop\n' | "$BIN" repl --connect "$ADDR" --token 0123456789abcdef0123456789abcdef)
  check "$where: a wrong token is refused" '[ "$out" = "spinal: bad token" ]'
  # a client still sending when the server refuses and closes still prints the refusal
  out=$(head -c 2000000 /dev/zero | tr '\0' x |
        "$BIN" repl --connect "$ADDR" --token 0123456789abcdef0123456789abcdef) || true
  check "$where: the refusal reaches a client that is still sending" \
    '[ "$out" = "spinal: bad token" ]'

  if [ $where = tcp ]; then
    PORT=${ADDR##*:}
    # the whole line is the token: a NUL and anything after it make it wrong
    exec 3<>"/dev/tcp/127.0.0.1/$PORT"
    printf '%s\0garbage\n' "$TOKEN" >&3
    IFS= read -r -t 5 reply <&3 || reply=
    exec 3<&-
    check "tcp: the token followed by a NUL and more is refused" '[ "$reply" = "spinal: bad token" ]'
    exec 3<>"/dev/tcp/127.0.0.1/$PORT"
    printf '%sx\n' "$TOKEN" >&3
    IFS= read -r -t 5 reply <&3 || reply=
    exec 3<&-
    check "tcp: the token with one more character is refused" '[ "$reply" = "spinal: bad token" ]'
    # a client that connects and says nothing delays no other
    exec 4<>"/dev/tcp/127.0.0.1/$PORT"
    start=$(date +%s%N)
    out=$(printf 'print(40 + 2)\n' | "$BIN" repl --connect "$ADDR" --token "$TOKEN" 2>&1)
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    check "tcp: a silent client does not hold up one with the token (${ms} ms)" \
      'grep -q "^42$" <<<"$out" && [ $ms -lt 2500 ]'
    exec 4<&-
  fi

  session='loop:reset{0.1,0,0,0}:resume()\nsleep(0.3)\nerror("boom")\n'
  session+='print(loop:state().held, loop.running)\n'
  out=$(printf "$session" | "$BIN" repl --connect "$ADDR" --token "$TOKEN" 2>&1)
  check "$where: a client with the token gets the banner and the REPL, errors included" \
    'grep -q "on the robot: double_pendulum" <<<"$out" && grep -q "boom" <<<"$out" &&
     grep -q "^false	true$" <<<"$out"'
  out=$(printf 'print(loop:state().held, loop.running)\n' |
        "$BIN" repl --connect "$ADDR" --token "$TOKEN" 2>&1)
  check "$where: when a client leaves the loop is held (safe command), still running" \
    'grep -q "^true	true$" <<<"$out" && grep -q "client left; the loop is held" "$WORK/srv.err"'

  kill -TERM $SERVER
  set +e
  wait $SERVER
  code=$?
  set -e
  SERVER=
  check "$where: SIGTERM: safe stop, exit 143, token file removed" \
    '[ $code = 143 ] && grep -q "loop stopped (SIGTERM): safe command sent" "$WORK/srv.out" &&
     [ ! -e "$WORK/token" ]'
done
exit $fail
