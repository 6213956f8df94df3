// clip_file.h: motion clips from and to files: spinal's own JSON and NPY formats, and the JSON text
// format of public retargeted dog motion-capture clips.
//
// spinal's JSON format (docs/api/motion.md):
//   { "format": "spinal-clip", "version": 1, "frame_duration": 0.02, "loop": false,
//     "frames": [[px, py, pz, qw, qx, qy, qz, j1, ..., jn], ...] }
// frames are root position (m, world), root quaternion (w, x, y, z, body to world) and nj joint
// angles (rad, the robot's joint order); every frame has 7 + nj numbers, at least 2 frames.
// spinal's NPY format: one float64 array (nframes, 7 + nj) of the same frames; the frame duration
// and loop flag are given when loading (NPY holds no metadata).
//
// The public mocap format (as the retargeted dog clips of Peng et al. 2020, "Learning agile robotic
// locomotion skills by imitating animals", ship them):
//   { "LoopMode": "Wrap" | "Clamp", "FrameDuration": 0.01667, "EnableCycleOffsetPosition": true,
//     "EnableCycleOffsetRotation": true, "Frames": [[px, py, pz, qx, qy, qz, qw, j1, ..., j12],
//     ...] }
// NOTE the quaternion order there is x, y, z, w (scalar LAST); it is reordered to w, x, y, z here.
// "Wrap" loads as a looping clip. Their 12 joints come leg by leg in the order front-right,
// front-left, rear-right, rear-left, each abduction, hip, knee; a map (sp_clip_map) says how each
// of the robot's joints is read from them: robot[i] = sign[i] file[perm[i]] + offset[i]. The
// default map is the identity: spinal's quadruped (robots/quadruped.xml) orders its joints the same
// way. A robot whose joint order, axes or zero pose differ gives its own permutation, signs and
// offsets.
//
// Errors fill msg naming the file, line and field ("clip.json: line 4: frame 2 has 18 numbers,
// expected 19 (3 position, 4 quaternion x y z w, 12 joint angles)"): SP_EIO (cannot read or write),
// SP_EFORMAT (not JSON, a field missing or of the wrong type, ragged frames), SP_ENUMERIC (a value
// not finite, a zero quaternion), SP_ENOMEM.
#ifndef SP_MOTION_CLIP_FILE_H
#define SP_MOTION_CLIP_FILE_H

#include <stddef.h>

#include "engine/core/export.h"
#include "engine/motion/clip.h"

SP_API_BEGIN

#define SP_CLIP_MOCAP_JOINTS 12

typedef struct sp_clip_map {
  int perm[SP_CLIP_MOCAP_JOINTS];       // robot joint i reads file joint perm[i] (0-based)
  double sign[SP_CLIP_MOCAP_JOINTS];    // +1 or -1 (any factor is accepted)
  double offset[SP_CLIP_MOCAP_JOINTS];  // rad added after the sign
} sp_clip_map;

// The default map: the identity (perm[i] = i, signs 1, offsets 0).
sp_clip_map sp_clip_map_default(void);
// SP_EINVAL (msg names the entry) unless perm is a permutation of 0..11 and signs and offsets are
// finite.
int sp_clip_map_check(const sp_clip_map* map, char* msg, size_t msg_size);

// Load a JSON clip in either format (told apart by their keys: "format" or "Frames"); map applies
// to the mocap format only (NULL: the default map).
int sp_clip_load_json(sp_clip** out, const char* path, const sp_clip_map* map, char* msg,
                      size_t msg_size);
// Load spinal's NPY format with the given frame duration (> 0) and loop flag.
int sp_clip_load_npy(sp_clip** out, const char* path, double frame_dt, int loop, char* msg,
                     size_t msg_size);

// Save in spinal's JSON format (numbers printed exactly: %.17g) or NPY format.
int sp_clip_save_json(const sp_clip* c, const char* path, char* msg, size_t msg_size);
int sp_clip_save_npy(const sp_clip* c, const char* path, char* msg, size_t msg_size);

SP_API_END

#endif  // SP_MOTION_CLIP_FILE_H
