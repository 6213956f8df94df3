#!/usr/bin/env bash
# render.sh: `spinal render RUN_DIR` end to end, headless: a quick car_mujoco run is rendered to
# an MP4 whose frame count ffprobe confirms and a PNG poster; the nominal rollout by name, a GIF;
# the quadruped's figure-eight and its velocity-tracking walk;
# runs without MuJoCo's configuration drawn from their states: a run on the model plant, and the
# quadruped's figure-eight run by a host over loopback UDP against `spinal bridge` (and the
# payload drawn on the trunk); and the failures a user meets: a usage error (status 2), a missing
# run directory, a moved model file, and a machine without an EGL driver (status 1, each with its
# message).
set -euo pipefail
BIN=${SPINAL_BIN:?SPINAL_BIN is not set}
SRC=${SPINAL_SOURCE_DIR:?SPINAL_SOURCE_DIR is not set}
. "$SRC/tests/integration/lib/procs.sh"  # tmp, pids, fail, wait_for FILE PATTERN [SECONDS]

# expect STATUS TEXT CMD...: the command exits with STATUS and its stderr contains TEXT
expect() {
  local want=$1 text=$2
  shift 2
  local got=0
  "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
  [ "$got" -eq "$want" ] || { cat "$tmp/out" "$tmp/err"; fail "$* exited $got, not $want"; }
  grep -qF -- "$text" "$tmp/err" || { cat "$tmp/err"; fail "$* did not say: $text"; }
}

frames() {
  ffprobe -v error -count_frames -select_streams v:0 \
    -show_entries stream=nb_read_frames,width,height,codec_name -of csv=p=0 "$1"
}

# a quick method-1 run on the MuJoCo car: 1 iteration of 2 s rollouts
"$BIN" "$SRC/experiments/car_mujoco.lua" iters=1 seconds=2 out="$tmp/car" >"$tmp/out" 2>&1 \
  || { cat "$tmp/out"; fail "car_mujoco did not run"; }
for f in learned_qpos.npy nominal_qpos.npy reference_path.npy; do
  [ -s "$tmp/car/$f" ] || fail "car/$f missing"
done

# the learned rollout (the default): 2 s at 15 fps = 31 frames, 160 x 120
"$BIN" render "$tmp/car" --fps 15 --width 160 --height 120 >"$tmp/out" 2>"$tmp/err" \
  || { cat "$tmp/out" "$tmp/err"; fail "spinal render failed"; }
grep -qF "spinal render: $tmp/car/learned.mp4: 31 frames (2.0 s at 15 fps) of 'learned'" \
  "$tmp/out" || { cat "$tmp/out"; fail "no summary line"; }
grep -qF "spinal render: poster $tmp/car/learned.png" "$tmp/out" || fail "no poster line"
[ "$(frames "$tmp/car/learned.mp4")" = "h264,160,120,31" ] \
  || fail "learned.mp4: $(frames "$tmp/car/learned.mp4")"
[ "$(head -c 8 "$tmp/car/learned.png" | od -An -c | tr -d ' ')" = '211PNG\r\n032\n' ] \
  || fail "learned.png is not a PNG"
ls "$tmp/car" | grep -q '\.part$' && fail "a temporary file was left behind"

# the nominal rollout by name, into a named file, with a GIF, the first second, overview camera
"$BIN" render "$tmp/car" --traj nominal --out "$tmp/nominal.mp4" --gif "$tmp/nominal.gif" \
  --poster none --seconds 1 --fps 10 --width 96 --height 64 --camera=overview >"$tmp/out" \
  2>"$tmp/err" || { cat "$tmp/err"; fail "render --traj nominal failed"; }
[ "$(frames "$tmp/nominal.mp4")" = "h264,96,64,11" ] || fail "nominal.mp4: $(frames "$tmp/nominal.mp4")"
[ "$(head -c 6 "$tmp/nominal.gif")" = "GIF89a" ] || fail "nominal.gif is not a GIF"
[ -e "$tmp/car/nominal.png" ] && fail "--poster none wrote a poster"

# the quadruped on its figure-eight (a fifth of a lap of one iteration): the MuJoCo robot walking
"$BIN" "$SRC/experiments/quadruped_figure8.lua" plant=mujoco quick=true iters=1 laps=0.2 \
  out="$tmp/quad" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "quadruped_figure8 did not run"; }
"$BIN" render "$tmp/quad" --fps 5 --width 160 --height 120 >"$tmp/out" 2>"$tmp/err" \
  || { cat "$tmp/out" "$tmp/err"; fail "spinal render of the quadruped failed"; }
n=$(frames "$tmp/quad/learned.mp4")
[ "${n%,*}" = "h264,160,120" ] && [ "${n##*,}" -ge 15 ] || fail "quad learned.mp4: $n"
[ -s "$tmp/quad/learned.png" ] || fail "no quadruped poster"

# the quadruped's velocity-tracking report (a 0.3 s hold per command): its walk records MuJoCo's
# configuration (walk_qpos.npy, the model file named in walk.json), so it renders too
"$BIN" "$SRC/experiments/quadruped_walk.lua" quick=true hold=0.3 out="$tmp/walk" >"$tmp/out" 2>&1 \
  || { cat "$tmp/out"; fail "quadruped_walk did not run"; }
[ -s "$tmp/walk/walk_qpos.npy" ] || fail "walk/walk_qpos.npy missing"
"$BIN" render "$tmp/walk" --fps 5 --seconds 2 --width 160 --height 120 >"$tmp/out" 2>"$tmp/err" \
  || { cat "$tmp/out" "$tmp/err"; fail "spinal render of the walk failed"; }
grep -qF "spinal render: $tmp/walk/walk.mp4: 11 frames (2.0 s at 5 fps) of 'walk'" "$tmp/out" \
  || { cat "$tmp/out"; fail "walk: no summary line"; }
[ "$(frames "$tmp/walk/walk.mp4")" = "h264,160,120,11" ] \
  || fail "walk.mp4: $(frames "$tmp/walk/walk.mp4")"
[ -s "$tmp/walk/walk.png" ] || fail "no walk poster"

# usage errors: status 2 with the usage
expect 2 "spinal render: a run directory is required" "$BIN" render
expect 2 "usage: spinal render RUN_DIR [options]" "$BIN" render
expect 2 "spinal render: unknown option '--colour'" "$BIN" render "$tmp/car" --colour red
expect 2 "spinal render: width and height: expected even numbers of pixels (H.264 video), got 161 x 120" \
  "$BIN" render "$tmp/car" --width 161 --height 120
expect 2 "spinal render: --fps: expected a number, got 'fast'" "$BIN" render "$tmp/car" --fps fast

# a run on the model plant: drawn from its states on the robot file's mujoco plant
"$BIN" "$SRC/experiments/car_figure8.lua" iters=1 seconds=2 out="$tmp/model" >/dev/null 2>&1 \
  || fail "car_figure8 did not run"
"$BIN" render "$tmp/model" --fps 5 --width 96 --height 64 >"$tmp/out" 2>"$tmp/err" \
  || { cat "$tmp/out" "$tmp/err"; fail "spinal render of a model-plant run failed"; }
grep -qF "spinal render: poses from the recorded states" "$tmp/out" \
  || { cat "$tmp/out"; fail "model run: not drawn from its states"; }
[ "$(frames "$tmp/model/learned.mp4")" = "h264,96,64,11" ] \
  || fail "model learned.mp4: $(frames "$tmp/model/learned.mp4")"
expect 1 "spinal render: $tmp/nothing is not a run directory (no settings.json, nor a loop's recording)" \
  "$BIN" render "$tmp/nothing"

# the quadruped's figure-eight over loopback UDP: the walking controller runs behind a lockstep
# bridge, the host's run has only the states (px, py, phi); a 3 kg payload on the bridge's robot
# (a copy of the robot file) is drawn from the copy's perturbation
sed -e 's|mjcf = "quadruped.xml"|mjcf = "'"$SRC"'/robots/quadruped.xml"|' \
  -e 's|-- the "real" variants (docs/quadruped.md): e.g. perturb = .*$|perturb = { payload = 3, payload_x = 0.1 },|' \
  "$SRC/robots/quadruped.lua" >"$tmp/quadruped_payload.lua"
grep -q "perturb = { payload = 3" "$tmp/quadruped_payload.lua" || fail "no payload in the copy"
start_bridge "$tmp/quadruped_payload.lua" 20 --backend mujoco
"$BIN" "$SRC/experiments/quadruped_figure8.lua" quick=true iters=1 laps=0.1 \
  robot="$tmp/quadruped_payload.lua" plant="udp://127.0.0.1:$port" out="$tmp/udp" \
  >"$tmp/udp.out" 2>&1 || fail "quadruped_figure8 over udp did not run"
[ -e "$tmp/udp/learned_qpos.npy" ] && fail "a udp run recorded MuJoCo's configuration"
"$BIN" render "$tmp/udp" --fps 5 --width 96 --height 64 >"$tmp/out" 2>"$tmp/err" \
  || { cat "$tmp/out" "$tmp/err"; fail "spinal render of a udp run failed"; }
grep -qF "spinal render: poses from the recorded states" "$tmp/out" \
  || { cat "$tmp/out"; fail "udp run: not drawn from its states"; }
grep -qF "spinal render: payload 3 kg drawn at (0.1, 0) m" "$tmp/out" \
  || { cat "$tmp/out"; fail "udp run: the payload was not drawn"; }
n=$(frames "$tmp/udp/learned.mp4")
[ "${n%,*}" = "h264,96,64" ] && [ "${n##*,}" -ge 9 ] || fail "udp learned.mp4: $n"

# a moved model file: named, and --mjcf finds it
sed 's|"mjcf": *"[^"]*"|"mjcf": "/moved/rc_car.xml"|' "$tmp/car/learned.json" >"$tmp/side"
mv "$tmp/side" "$tmp/car/learned.json"
expect 1 "spinal render: the model file /moved/rc_car.xml is missing (the recording names it; pass --mjcf FILE, or mjcf = FILE, if it moved)" \
  "$BIN" render "$tmp/car"
"$BIN" render "$tmp/car" --mjcf "$SRC/robots/rc_car.xml" --width 32 --height 32 --poster none \
  --out "$tmp/moved.mp4" >/dev/null 2>&1 || fail "--mjcf did not render"

# no EGL driver (GLVND given no vendor): a clear error, not a crash
expect 1 "spinal render: no OpenGL context for offscreen rendering (" \
  env __EGL_VENDOR_LIBRARY_FILENAMES=/nonexistent/none.json "$BIN" render "$tmp/car" \
  --mjcf "$SRC/robots/rc_car.xml"
grep -qF "libegl-mesa0 libgl1-mesa-dri, installed by tools/install-deps" "$tmp/err" \
  || fail "the no-EGL message does not name the packages"
echo "render: ok"
