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
// of the robot's joints is read from them: robot[i] = sign[i] file[perm[i]] + offset[i], and how
// the root is (a rotation of the base frame, a scale and an offset). The default map is the
// identity: spinal's quadruped (robots/quadruped.xml) orders its joints the same way; the clips as
// they ship were retargeted onto a Laikago, whose map is sp_clip_map_laikago. A robot whose joint
// order, axes or zero pose differ gives its own permutation, signs and offsets.
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
  // The root. A file whose robot's base frame is not x forward, y left, z up carries that frame's
  // rotation in its quaternions: root_quat (w, x, y, z) is the file's base frame seen from the
  // robot's trunk frame, and the robot's orientation is q = q_file conj(root_quat). Positions
  // are scaled (the file robot's size against this one's: scale > 0), and root_offset (m, in the
  // robot's trunk frame) moves the file's root point to the robot's trunk origin:
  // p = scale p_file + R(q) root_offset.
  double root_quat[4];
  double root_offset[3];
  double scale;
} sp_clip_map;

// The default map: the identity (perm[i] = i, signs 1, offsets 0; root_quat 1, root_offset 0,
// scale 1): files retargeted onto a robot built like spinal's quadruped (x forward, z up; legs
// straight down at zero, abduction about x, hip and knee about y, knees bending negative), e.g.
// the retargeting tool's A1 configuration.
sp_clip_map sp_clip_map_default(void);
// The map of the public clips as they ship (retargeted onto the Laikago of its URDF
// laikago_toes.urdf: base frame z forward, x left, y up; abductions about -z on the right legs
// and +z on the left; hips and knees about +x with the thigh 0.599 rad back and the shin
// 0.088 rad back at zero): signs -1 on the right abductions, offsets 0.599 on the hips and
// -0.511 on the knees, root_quat (0.5, 0.5, 0.5, 0.5), scale 0.8466 (this robot's legs, 0.213 m
// per segment, against Laikago's 0.2522 and 0.2510), root_offset (0.0205, 0, 0) (Laikago's base
// origin lies 0.0242 m behind the centre of its hips). docs/api/motion.md has the derivation.
sp_clip_map sp_clip_map_laikago(void);
// SP_EINVAL (msg names the entry) unless perm is a permutation of 0..11, signs, offsets and
// root_offset are finite, root_quat is finite and not zero, and scale is finite and > 0.
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
