// clip_file.c: motion-clip loaders and savers (see clip_file.h for the formats).
#include "clip_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/array.h"
#include "engine/core/error.h"
#include "engine/core/json.h"
#include "engine/core/npy.h"
#include "engine/la/quat.h"

sp_clip_map sp_clip_map_default(void) {
  // the files' order (FR, FL, RR, RL; abduction, hip, knee) is spinal's quadruped's
  sp_clip_map m;
  for (int i = 0; i < SP_CLIP_MOCAP_JOINTS; i++) {
    m.perm[i] = i;
    m.sign[i] = 1;
    m.offset[i] = 0;
  }
  m.root_quat[0] = 1;
  m.root_quat[1] = m.root_quat[2] = m.root_quat[3] = 0;
  m.root_offset[0] = m.root_offset[1] = m.root_offset[2] = 0;
  m.scale = 1;
  return m;
}

sp_clip_map sp_clip_map_laikago(void) {
  // laikago_toes.urdf (the retargeting tool's robot): base frame z forward, x left, y up. Per leg
  // the abduction turns about -z (right legs) or +z (left legs): spinal's abduction turns about
  // +x forward, so the right legs' signs are -1. Hip and knee turn about +x (left), spinal's
  // about +y (left): same signs. At zero the thigh (hip joint to knee: 0.20833 down, 0.1422
  // back) leans atan2(0.1422, 0.20833) back, and the shin (knee to toe: 0.25 down, 0.022 back)
  // atan2(0.022, 0.25) back; spinal's segments hang straight down at zero and its hip angle is
  // the thigh's lean back, its knee angle the shin's lean relative to the thigh's.
  sp_clip_map m = sp_clip_map_default();
  const double thigh = atan2(0.1422, 0.20833), shin = atan2(0.022, 0.25);
  for (int leg = 0; leg < 4; leg++) {
    m.sign[3 * leg] = (leg == 0 || leg == 2) ? -1 : 1;  // FR, RR
    m.offset[3 * leg + 1] = thigh;
    m.offset[3 * leg + 2] = shin - thigh;
  }
  // the base frame (z forward, x left, y up) in spinal's trunk frame (x forward, y left, z up):
  // the rotation taking x to y, y to z, z to x, the retargeting tool's INIT_ROT
  m.root_quat[0] = m.root_quat[1] = m.root_quat[2] = m.root_quat[3] = 0.5;
  // leg lengths: spinal's 0.213 + 0.213 m against Laikago's hypot(0.20833, 0.1422) +
  // hypot(0.25, 0.022)
  m.scale = 0.426 / (hypot(0.20833, 0.1422) + hypot(0.25, 0.022));
  // the hips' centre (spinal's trunk origin) is (0.242889 - 0.194401) / 2 ahead of Laikago's base
  m.root_offset[0] = m.scale * (0.242889 - 0.194401) / 2;
  return m;
}

int sp_clip_map_check(const sp_clip_map* m, char* msg, size_t ms) {
  int seen[SP_CLIP_MOCAP_JOINTS] = {0};
  for (int i = 0; i < SP_CLIP_MOCAP_JOINTS; i++) {
    int p = m->perm[i];
    if (p < 0 || p >= SP_CLIP_MOCAP_JOINTS || seen[p]++)
      return sp_errorf(msg, ms, SP_EINVAL,
                       "joint map: perm[%d] = %d, expected a permutation of 0..11", i, p);
    if (!isfinite(m->sign[i]) || !isfinite(m->offset[i]))
      return sp_errorf(msg, ms, SP_EINVAL, "joint map: sign or offset of joint %d is not finite",
                       i);
  }
  double n2 = 0;
  for (int k = 0; k < 4; k++) n2 += m->root_quat[k] * m->root_quat[k];
  if (!isfinite(n2) || !(n2 > 0))
    return sp_errorf(msg, ms, SP_EINVAL,
                     "joint map: root_quat is %s, expected a rotation (w, x, y, z)",
                     isfinite(n2) ? "zero" : "not finite");
  for (int k = 0; k < 3; k++)
    if (!isfinite(m->root_offset[k]))
      return sp_errorf(msg, ms, SP_EINVAL, "joint map: root_offset[%d] is not finite", k);
  if (!isfinite(m->scale) || !(m->scale > 0))
    return sp_errorf(msg, ms, SP_EINVAL, "joint map: scale is %g, expected a number > 0", m->scale);
  return 0;
}

static int read_text(const char* path, char** out, size_t* len, char* msg, size_t ms) {
  FILE* f = fopen(path, "rb");
  if (!f) return sp_errorf(msg, ms, SP_EIO, "%s: cannot open: %s", path, strerror(errno));
  char* buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? 2 * cap : 65536;
      char* b = sp_realloc(buf, cap);
      if (!b) {
        sp_free(buf);
        fclose(f);
        return sp_errorf(msg, ms, SP_ENOMEM, "%s: out of memory", path);
      }
      buf = b;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    sp_free(buf);
    return sp_errorf(msg, ms, SP_EIO, "%s: read error", path);
  }
  *out = buf;
  *len = n;
  return 0;
}

// a required field of the given type; *out is the field, or NULL with an error
static int field(const sp_json** out, const sp_json* root, const char* key, sp_json_type t,
                 const char* what, const char* path, char* msg, size_t ms) {
  const sp_json* v = sp_json_get(root, key);
  int ok = v && (v->type == t || (t == SP_JSON_TRUE && v->type == SP_JSON_FALSE));
  *out = ok ? v : NULL;
  if (!ok)
    return sp_errorf(msg, ms, SP_EFORMAT, "%s: line %d: field '%s': expected %s, got %s", path,
                     v ? v->line : root->line, key, what,
                     v ? sp_json_type_name(v->type) : "nothing (missing)");
  return 0;
}

// the frames array: nframes rows of exactly width numbers into rows (allocated, nframes x width)
static int read_frames(double** rows, int* nframes, int* width, const sp_json* frames,
                       int want_width, const char* key, const char* expect, const char* path,
                       char* msg, size_t ms) {
  if (frames->n < 2)
    return sp_errorf(msg, ms, SP_EFORMAT,
                     "%s: line %d: field '%s': expected at least 2 frames, got %d", path,
                     frames->line, key, frames->n);
  const sp_json* f0 = frames->child;
  if (f0->type != SP_JSON_ARRAY)
    return sp_errorf(msg, ms, SP_EFORMAT,
                     "%s: line %d: %s[1]: expected an array of numbers, got %s", path, f0->line,
                     key, sp_json_type_name(f0->type));
  int w = want_width > 0 ? want_width : f0->n;
  double* d = sp_malloc((size_t)frames->n * (w ? w : 1) * sizeof(double));
  if (!d) return sp_errorf(msg, ms, SP_ENOMEM, "%s: out of memory", path);
  int i = 0;
  for (const sp_json* f = frames->child; f; f = f->next, i++) {
    if (f->type != SP_JSON_ARRAY || f->n != w) {
      sp_free(d);
      if (f->type != SP_JSON_ARRAY)
        return sp_errorf(msg, ms, SP_EFORMAT,
                         "%s: line %d: %s[%d]: expected an array of numbers, got %s", path, f->line,
                         key, i + 1, sp_json_type_name(f->type));
      return sp_errorf(msg, ms, SP_EFORMAT,
                       "%s: line %d: frame %d has %d numbers, expected %d (%s)", path, f->line,
                       i + 1, f->n, w, expect);
    }
    int k = 0;
    for (const sp_json* x = f->child; x; x = x->next, k++) {
      if (x->type != SP_JSON_NUMBER) {
        sp_free(d);
        return sp_errorf(msg, ms, SP_EFORMAT,
                         "%s: line %d: frame %d, entry %d: expected a number, got %s", path,
                         x->line, i + 1, k + 1, sp_json_type_name(x->type));
      }
      d[(size_t)i * w + k] = x->num;
    }
  }
  *rows = d;
  *nframes = frames->n;
  *width = w;
  return 0;
}

static int finish(sp_clip* c, const char* path, char* msg, size_t ms) {
  char why[160];
  int rc = sp_clip_finish(c, why, sizeof why);
  if (rc) sp_errorf(msg, ms, rc, "%s: %s", path, why);
  return rc;
}

// frames in spinal's layout (p, q wxyz, joints) into a new clip
static int clip_from_rows(sp_clip** out, const double* rows, int n, int width, double dt, int loop,
                          const char* path, char* msg, size_t ms) {
  int nj = width - 7;
  if (nj < 0 || nj > SP_CLIP_MAXJOINTS)
    return sp_errorf(msg, ms, SP_EFORMAT,
                     "%s: frames have %d numbers, expected 7 + joints (0 to %d joints)", path,
                     width, SP_CLIP_MAXJOINTS);
  sp_clip* c;
  int rc = sp_clip_new(&c, n, nj, dt, loop);
  if (rc) return sp_errorf(msg, ms, rc, "%s: %s", path, sp_strerror(rc));
  for (int i = 0; i < n; i++) {
    const double* r = rows + (size_t)i * width;
    memcpy(c->pos + 3 * i, r, 3 * sizeof(double));
    memcpy(c->quat + 4 * i, r + 3, 4 * sizeof(double));
    memcpy(c->joints + (size_t)i * nj, r + 7, (size_t)nj * sizeof(double));
  }
  if ((rc = finish(c, path, msg, ms))) {
    sp_clip_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

static int load_spinal(sp_clip** out, const sp_json* root, const char* path, char* msg, size_t ms) {
  const sp_json *fmt, *ver, *dt, *frames, *loop = sp_json_get(root, "loop");
  int rc;
  if ((rc = field(&fmt, root, "format", SP_JSON_STRING, "a string", path, msg, ms))) return rc;
  if (strcmp(fmt->str, "spinal-clip"))
    return sp_errorf(msg, ms, SP_EFORMAT,
                     "%s: line %d: field 'format': expected 'spinal-clip', got '%s'", path,
                     fmt->line, fmt->str);
  if ((rc = field(&ver, root, "version", SP_JSON_NUMBER, "a number", path, msg, ms))) return rc;
  if (ver->num != 1)
    return sp_errorf(msg, ms, SP_EFORMAT,
                     "%s: line %d: field 'version': this build reads version 1, got %g", path,
                     ver->line, ver->num);
  if ((rc = field(&dt, root, "frame_duration", SP_JSON_NUMBER, "a number > 0", path, msg, ms)))
    return rc;
  if (!(dt->num > 0) || !isfinite(dt->num))
    return sp_errorf(msg, ms, SP_EFORMAT,
                     "%s: line %d: field 'frame_duration': expected a number > 0, got %g", path,
                     dt->line, dt->num);
  if (loop && loop->type != SP_JSON_TRUE && loop->type != SP_JSON_FALSE)
    return sp_errorf(msg, ms, SP_EFORMAT, "%s: line %d: field 'loop': expected a boolean, got %s",
                     path, loop->line, sp_json_type_name(loop->type));
  if ((rc = field(&frames, root, "frames", SP_JSON_ARRAY, "an array of frames", path, msg, ms)))
    return rc;
  double* rows;
  int n, w;
  if ((rc = read_frames(&rows, &n, &w, frames, 0, "frames",
                        "3 position, 4 quaternion w x y z, then joint angles", path, msg, ms)))
    return rc;
  rc = clip_from_rows(out, rows, n, w, dt->num, loop && loop->type == SP_JSON_TRUE, path, msg, ms);
  sp_free(rows);
  return rc;
}

static int load_mocap(sp_clip** out, const sp_json* root, const sp_clip_map* map, const char* path,
                      char* msg, size_t ms) {
  const sp_json *mode, *dt, *frames;
  int rc;
  if ((rc = field(&mode, root, "LoopMode", SP_JSON_STRING, "\"Wrap\" or \"Clamp\"", path, msg, ms)))
    return rc;
  int loop = !strcmp(mode->str, "Wrap");
  if (!loop && strcmp(mode->str, "Clamp"))
    return sp_errorf(msg, ms, SP_EFORMAT,
                     "%s: line %d: field 'LoopMode': expected \"Wrap\" or \"Clamp\", got \"%s\"",
                     path, mode->line, mode->str);
  if ((rc = field(&dt, root, "FrameDuration", SP_JSON_NUMBER, "a number > 0", path, msg, ms)))
    return rc;
  if (!(dt->num > 0) || !isfinite(dt->num))
    return sp_errorf(msg, ms, SP_EFORMAT,
                     "%s: line %d: field 'FrameDuration': expected a number > 0, got %g", path,
                     dt->line, dt->num);
  if ((rc = field(&frames, root, "Frames", SP_JSON_ARRAY, "an array of frames", path, msg, ms)))
    return rc;
  double* rows;
  int n, w;
  if ((rc = read_frames(&rows, &n, &w, frames, 7 + SP_CLIP_MOCAP_JOINTS, "Frames",
                        "3 position, 4 quaternion x y z w, 12 joint angles", path, msg, ms)))
    return rc;
  sp_clip_map def = sp_clip_map_default();
  if (!map) map = &def;
  double root_inv[4];  // conj(root_quat), unit
  sp_quat_conj(root_inv, map->root_quat);
  sp_quat_normalize(root_inv);
  sp_clip* c = NULL;
  if (!(rc = sp_clip_new(&c, n, SP_CLIP_MOCAP_JOINTS, dt->num, loop))) {
    for (int i = 0; i < n; i++) {
      const double* r = rows + (size_t)i * w;
      double* q = c->quat + 4 * i;
      const double qf[4] = {r[6], r[3], r[4], r[5]};  // x, y, z, w -> w, x, y, z
      sp_quat_mul(q, qf, root_inv);
      double qu[4] = {q[0], q[1], q[2], q[3]}, off[3];
      if (sp_quat_normalize(qu) > 0) {
        sp_quat_rotate(off, qu, map->root_offset);
      } else {
        off[0] = off[1] = off[2] = 0;  // a zero quaternion: sp_clip_finish refuses it below
      }
      for (int k = 0; k < 3; k++) c->pos[3 * i + k] = map->scale * r[k] + off[k];
      for (int j = 0; j < SP_CLIP_MOCAP_JOINTS; j++)
        c->joints[(size_t)i * SP_CLIP_MOCAP_JOINTS + j] =
            map->sign[j] * r[7 + map->perm[j]] + map->offset[j];
    }
    rc = finish(c, path, msg, ms);
  } else {
    sp_errorf(msg, ms, rc, "%s: %s", path, sp_strerror(rc));
  }
  sp_free(rows);
  if (rc) {
    sp_clip_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

int sp_clip_load_json(sp_clip** out, const char* path, const sp_clip_map* map, char* msg,
                      size_t ms) {
  *out = NULL;
  int rc;
  if (map) {
    char why[160];
    if ((rc = sp_clip_map_check(map, why, sizeof why)))
      return sp_errorf(msg, ms, rc, "%s: %s", path, why);
  }
  char* text = NULL;
  size_t len = 0;
  if ((rc = read_text(path, &text, &len, msg, ms))) return rc;
  sp_json_doc* doc;
  char why[200];
  rc = sp_json_parse(&doc, text, len, why, sizeof why);
  sp_free(text);
  if (rc) return sp_errorf(msg, ms, rc, "%s: %s", path, why);
  const sp_json* root = sp_json_root(doc);
  if (root->type != SP_JSON_OBJECT)
    rc = sp_errorf(msg, ms, SP_EFORMAT, "%s: line %d: expected a JSON object, got %s", path,
                   root->line, sp_json_type_name(root->type));
  else if (sp_json_get(root, "format"))
    rc = load_spinal(out, root, path, msg, ms);
  else if (sp_json_get(root, "Frames"))
    rc = load_mocap(out, root, map, path, msg, ms);
  else
    rc = sp_errorf(msg, ms, SP_EFORMAT,
                   "%s: not a motion clip: expected a field 'format' (spinal-clip) or 'Frames' "
                   "(mocap text format)",
                   path);
  sp_json_free(doc);
  return rc;
}

int sp_clip_load_npy(sp_clip** out, const char* path, double frame_dt, int loop, char* msg,
                     size_t ms) {
  *out = NULL;
  if (!(frame_dt > 0) || !isfinite(frame_dt))
    return sp_errorf(msg, ms, SP_EINVAL, "%s: frame duration must be > 0, got %g", path, frame_dt);
  sp_array a = {0};
  int rc = sp_npy_load(&a, path, msg, ms);
  if (rc) return rc;
  if (a.ndim != 2 || a.shape[0] < 2) {
    char shape[64];
    sp_array_shape_str(shape, sizeof shape, &a);
    rc = sp_errorf(msg, ms, SP_EFORMAT,
                   "%s: expected an array of shape (frames >= 2, 7 + joints), got shape %s", path,
                   shape);
  } else {
    rc = clip_from_rows(out, a.data, (int)a.shape[0], (int)a.shape[1], frame_dt, loop, path, msg,
                        ms);
  }
  sp_array_release(&a);
  return rc;
}

// frames in spinal's layout: rows (n x (7 + nj))
static void rows_of(const sp_clip* c, double* rows) {
  int w = 7 + c->nj;
  for (int i = 0; i < c->nframes; i++) {
    double* r = rows + (size_t)i * w;
    memcpy(r, c->pos + 3 * i, 3 * sizeof(double));
    memcpy(r + 3, c->quat + 4 * i, 4 * sizeof(double));
    memcpy(r + 7, c->joints + (size_t)i * c->nj, (size_t)c->nj * sizeof(double));
  }
}

int sp_clip_save_npy(const sp_clip* c, const char* path, char* msg, size_t ms) {
  int64_t shape[2] = {c->nframes, 7 + c->nj};
  sp_array a = {0};
  int rc = sp_array_new(&a, 2, shape);
  if (rc) return sp_errorf(msg, ms, rc, "%s: out of memory", path);
  rows_of(c, a.data);
  rc = sp_npy_save(path, &a, msg, ms);
  sp_array_release(&a);
  return rc;
}

int sp_clip_save_json(const sp_clip* c, const char* path, char* msg, size_t ms) {
  FILE* f = fopen(path, "w");
  if (!f)
    return sp_errorf(msg, ms, SP_EIO, "%s: cannot open for writing: %s", path, strerror(errno));
  fprintf(
      f, "{\"format\": \"spinal-clip\", \"version\": 1, \"frame_duration\": %.17g, \"loop\": %s,\n",
      c->frame_dt, c->loop ? "true" : "false");
  fprintf(f, " \"frames\": [\n");
  int w = 7 + c->nj;
  for (int i = 0; i < c->nframes; i++) {
    double r[7 + SP_CLIP_MAXJOINTS];
    memcpy(r, c->pos + 3 * i, 3 * sizeof(double));
    memcpy(r + 3, c->quat + 4 * i, 4 * sizeof(double));
    memcpy(r + 7, c->joints + (size_t)i * c->nj, (size_t)c->nj * sizeof(double));
    fputs("  [", f);
    for (int k = 0; k < w; k++) fprintf(f, k ? ", %.17g" : "%.17g", r[k]);
    fputs(i < c->nframes - 1 ? "],\n" : "]\n", f);
  }
  fputs(" ]}\n", f);
  int bad = ferror(f);
  if (fclose(f) || bad) return sp_errorf(msg, ms, SP_EIO, "%s: write error", path);
  return 0;
}
