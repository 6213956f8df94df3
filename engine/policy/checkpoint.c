// checkpoint.c: a policy saved whole, as an engine/nn checkpoint whose meta bytes describe the
// rest of the policy (checkpoint.h has the layout).
#include "engine/policy/checkpoint.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/nn/checkpoint.h"

static const char magic[8] = {'S', 'P', 'P', 'O', 'L', 'I', 'C', 'Y'};
#define META_VERSION 1

// ---- encoding -----------------------------------------------------------------------------------

typedef struct buf {
  uint8_t* p;
  size_t n, cap;  // cap: bytes available (reader: the end)
} buf;

static void put(buf* b, const void* x, size_t n) {
  memcpy(b->p + b->n, x, n);
  b->n += n;
}
static void put_u32(buf* b, uint32_t x) {
  uint8_t t[4];
  for (int i = 0; i < 4; i++) t[i] = (uint8_t)(x >> (8 * i));
  put(b, t, 4);
}
static void put_u64(buf* b, uint64_t x) {
  put_u32(b, (uint32_t)x);
  put_u32(b, (uint32_t)(x >> 32));
}
static void put_f64(buf* b, double x) {
  uint64_t u;
  memcpy(&u, &x, 8);
  put_u64(b, u);
}
static void put_f64s(buf* b, const double* x, int n) {
  for (int i = 0; i < n; i++) put_f64(b, x[i]);
}

// readers: 0, or -1 when the bytes run out (b->n then stays past the end)
static int get_u32(buf* b, uint32_t* x) {
  if (b->cap - b->n < 4) return b->n = b->cap + 1, -1;
  const uint8_t* p = b->p + b->n;
  *x = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  b->n += 4;
  return 0;
}
static int get_u64(buf* b, uint64_t* x) {
  uint32_t lo = 0, hi = 0;
  if (get_u32(b, &lo) || get_u32(b, &hi)) return -1;
  *x = lo | (uint64_t)hi << 32;
  return 0;
}
static int get_f64(buf* b, double* x) {
  uint64_t u = 0;
  if (get_u64(b, &u)) return -1;
  memcpy(x, &u, 8);
  return 0;
}
static int get_f64s(buf* b, double* x, int n) {
  for (int i = 0; i < n; i++)
    if (get_f64(b, &x[i])) return -1;
  return 0;
}

// ---- the description ----------------------------------------------------------------------------

// a policy's description as read from a file (arrays into one allocation)
typedef struct desc {
  uint32_t open, features;
  int nx, nu, nr, nk, nout;
  double period;
  sp_policy_output* outputs;  // (nout)
  double *r0, *K0, *u_ff, *sigma;
  sp_rng rng;
  int has_rng;  // the file holds a workspace's rng
  char label[32];
  char ctrl[32];        // the embedded controller's class name ("" for open loop)
  const uint8_t* user;  // into the meta bytes
  size_t user_len;
  void* mem;
} desc;

// bytes of the description: magic, version, open, features, 5 sizes, period, outputs, vectors,
// rng, the label and controller class (each with its length) and the user bytes (with theirs)
static size_t meta_size(const sp_policy* p, size_t label_len, size_t ctrl_len, size_t user_len) {
  return 8 + 4 * 3 + 4 * 5 + 8 + (size_t)p->nout * 16 +
         8 * ((size_t)p->nr + p->nk + 2 * (size_t)p->nu) + 4 + 4 * 8 + 8 + 4 + 4 + label_len + 4 +
         ctrl_len + 8 + user_len;
}

int sp_policy_save(const char* path, const sp_policy* p, const sp_policy_data* d,
                   const sp_optim* opt, const char* label, const void* user, size_t user_len,
                   char* msg, size_t ms) {
  size_t ll = label ? strlen(label) : 0;
  if (ll >= sizeof((desc*)0)->label)
    return sp_errorf(msg, ms, SP_EINVAL, "%s: label longer than 31 bytes", path);
  const char* cname = p->ctrl && p->ctrl->cls && p->ctrl->cls->name ? p->ctrl->cls->name : "";
  size_t cl = strlen(cname);
  if (cl >= sizeof((desc*)0)->ctrl) cl = sizeof((desc*)0)->ctrl - 1;
  size_t n = meta_size(p, ll, cl, user_len);
  buf b = {sp_malloc(n), 0, n};
  if (!b.p) return sp_errorf(msg, ms, SP_ENOMEM, "%s: out of memory", path);
  put(&b, magic, 8);
  put_u32(&b, META_VERSION);
  put_u32(&b, p->ctrl == NULL);
  put_u32(&b, (uint32_t)p->features);
  int sizes[5] = {p->nx, p->nu, p->nr, p->nk, p->nout};
  for (int i = 0; i < 5; i++) put_u32(&b, (uint32_t)sizes[i]);
  put_f64(&b, p->period);
  for (int j = 0; j < p->nout; j++) {
    put_u32(&b, (uint32_t)p->outputs[j].kind);
    put_u32(&b, (uint32_t)p->outputs[j].index);
    put_f64(&b, p->outputs[j].scale);
  }
  put_f64s(&b, p->r0, p->nr);
  put_f64s(&b, p->K0, p->nk);
  put_f64s(&b, p->u_ff, p->nu);
  put_f64s(&b, p->sigma, p->nu);
  sp_rng none = {{0, 0, 0, 0}, 0, 0};
  const sp_rng* rng = d ? &d->rng : &none;
  put_u32(&b, d != NULL);
  for (int i = 0; i < 4; i++) put_u64(&b, rng->s[i]);
  put_f64(&b, rng->spare);
  put_u32(&b, (uint32_t)rng->has_spare);
  put_u32(&b, (uint32_t)ll);
  if (ll) put(&b, label, ll);
  put_u32(&b, (uint32_t)cl);
  if (cl) put(&b, cname, cl);
  put_u64(&b, user_len);
  if (user_len) put(&b, user, user_len);
  int rc = sp_checkpoint_save_meta(path, p->net, opt, b.p, b.n, msg, ms);
  sp_free(b.p);
  return rc;
}

static int bad(const char* path, const char* what, char* msg, size_t ms) {
  return sp_errorf(msg, ms, SP_EFORMAT, "%s: not a policy checkpoint (%s)", path, what);
}

// parse the meta bytes m (n) into d; d->mem must be freed with sp_free
static int parse(desc* d, const uint8_t* m, size_t n, const char* path, char* msg, size_t ms) {
  memset(d, 0, sizeof *d);
  if (!m || n < 12 || memcmp(m, magic, 8)) return bad(path, "no policy description", msg, ms);
  buf b = {(uint8_t*)m, 8, n};
  uint32_t version = 0, u[7] = {0};
  get_u32(&b, &version);
  if (version != META_VERSION)
    return sp_errorf(msg, ms, SP_EFORMAT, "%s: policy description version %u, this build reads %d",
                     path, version, META_VERSION);
  for (int i = 0; i < 7; i++)
    if (get_u32(&b, &u[i])) return bad(path, "truncated description", msg, ms);
  d->open = u[0], d->features = u[1];
  d->nx = (int)u[2], d->nu = (int)u[3], d->nr = (int)u[4], d->nk = (int)u[5], d->nout = (int)u[6];
  if (d->open > 1 || d->features > SP_POLICY_FEATURES_PHASE || u[2] < 1 || u[2] > (1u << 20) ||
      u[3] < 1 || u[3] > (1u << 20) || u[4] > (1u << 20) || u[5] > (1u << 24) || u[6] < 1 ||
      u[6] > (1u << 24))
    return bad(path, "sizes out of range", msg, ms);
  size_t nd = (size_t)d->nr + d->nk + 2 * (size_t)d->nu;
  if ((n - b.n) / 16 < (size_t)d->nout || (n - b.n) / 8 < nd)
    return bad(path, "truncated description", msg, ms);
  d->mem = sp_malloc(sizeof(sp_policy_output) * d->nout + sizeof(double) * (nd ? nd : 1));
  if (!d->mem) return sp_errorf(msg, ms, SP_ENOMEM, "%s: out of memory", path);
  d->outputs = d->mem;
  double* x = (double*)(d->outputs + d->nout);
  d->r0 = x, d->K0 = x + d->nr, d->u_ff = d->K0 + d->nk, d->sigma = d->u_ff + d->nu;
  int fail = get_f64(&b, &d->period);
  for (int j = 0; j < d->nout && !fail; j++) {
    uint32_t kind = 0, index = 0;
    fail = get_u32(&b, &kind) || get_u32(&b, &index) || get_f64(&b, &d->outputs[j].scale);
    d->outputs[j].kind = (sp_policy_out_kind)kind;
    d->outputs[j].index = (int)index;
  }
  fail = fail || get_f64s(&b, d->r0, d->nr) || get_f64s(&b, d->K0, d->nk) ||
         get_f64s(&b, d->u_ff, d->nu) || get_f64s(&b, d->sigma, d->nu);
  uint32_t has_rng = 0;
  fail = fail || get_u32(&b, &has_rng);
  d->has_rng = has_rng != 0;
  for (int i = 0; i < 4 && !fail; i++) fail = get_u64(&b, &d->rng.s[i]);
  uint32_t spare = 0, ll = 0;
  uint64_t ul = 0;
  fail = fail || get_f64(&b, &d->rng.spare) || get_u32(&b, &spare) || get_u32(&b, &ll);
  d->rng.has_spare = spare != 0;
  if (!fail && (ll >= sizeof d->label || n - b.n < ll)) fail = 1;
  uint32_t cl = 0;
  if (!fail) {
    memcpy(d->label, m + b.n, ll);
    d->label[ll] = 0;
    b.n += ll;
    fail = get_u32(&b, &cl) || cl >= sizeof d->ctrl || n - b.n < cl;
  }
  if (!fail) {
    memcpy(d->ctrl, m + b.n, cl);
    d->ctrl[cl] = 0;
    b.n += cl;
    fail = get_u64(&b, &ul) || ul != n - b.n;
  }
  if (fail) {
    sp_free(d->mem);
    d->mem = NULL;
    return bad(path, "truncated description", msg, ms);
  }
  d->user = ul ? m + b.n : NULL;
  d->user_len = (size_t)ul;
  return 0;
}

// read the meta of a checkpoint into d (and its bytes into *meta, to free)
static int read_desc(const char* path, desc* d, void** meta, char* msg, size_t ms) {
  size_t n = 0;
  *meta = NULL;
  memset(d, 0, sizeof *d);  // callers free d->mem whatever happened
  int rc = sp_checkpoint_read_meta(path, meta, &n, msg, ms);
  if (!rc) rc = parse(d, *meta, n, path, msg, ms);
  return rc;
}

static int differ(const double* a, const double* b, int n) {
  for (int i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], sizeof(double))) return i + 1;
  return 0;
}

// does d describe p? (everything but the network, which the nn checkpoint checks)
static int match(const desc* d, const sp_policy* p, const char* path, char* msg, size_t ms) {
  if ((d->open != 0) != (p->ctrl == NULL))
    return sp_errorf(msg, ms, SP_EMISMATCH, "%s: an %s policy in the file, %s given", path,
                     d->open ? "open-loop" : "closed-loop", p->ctrl ? "closed-loop" : "open-loop");
  const char* cname = p->ctrl && p->ctrl->cls && p->ctrl->cls->name ? p->ctrl->cls->name : "";
  if (p->ctrl && d->ctrl[0] && strcmp(d->ctrl, cname))
    return sp_errorf(msg, ms, SP_EMISMATCH, "%s: the controller is %s in the file, %s given", path,
                     d->ctrl, cname);
  const char* names[5] = {"nx", "nu", "nr (reference size)", "nk (gain count)", "nout (outputs)"};
  int have[5] = {p->nx, p->nu, p->nr, p->nk, p->nout},
      want[5] = {d->nx, d->nu, d->nr, d->nk, d->nout};
  for (int i = 0; i < 5; i++)
    if (have[i] != want[i])
      return sp_errorf(msg, ms, SP_EMISMATCH, "%s: %s is %d in the file, %d in the policy", path,
                       names[i], want[i], have[i]);
  if (d->features != (uint32_t)p->features)
    return sp_errorf(msg, ms, SP_EMISMATCH, "%s: features differ (kind %u in the file, %d here)",
                     path, d->features, (int)p->features);
  if (d->period != p->period)
    return sp_errorf(msg, ms, SP_EMISMATCH, "%s: period is %g in the file, %g in the policy", path,
                     d->period, p->period);
  for (int j = 0; j < d->nout; j++) {
    const sp_policy_output *a = &d->outputs[j], *b = &p->outputs[j];
    if (a->kind != b->kind || a->index != b->index || a->scale != b->scale)
      return sp_errorf(msg, ms, SP_EMISMATCH,
                       "%s: output %d is (kind %d, index %d, scale %g) in the file, (kind %d, "
                       "index %d, scale %g) in the policy",
                       path, j + 1, (int)a->kind, a->index, a->scale, (int)b->kind, b->index,
                       b->scale);
  }
  int i;
  if ((i = differ(d->r0, p->r0, d->nr)))
    return sp_errorf(msg, ms, SP_EMISMATCH, "%s: reference entry %d is %g in the file, %g here",
                     path, i, d->r0[i - 1], p->r0[i - 1]);
  if ((i = differ(d->K0, p->K0, d->nk)))
    return sp_errorf(msg, ms, SP_EMISMATCH, "%s: gain %d is %g in the file, %g in the policy", path,
                     i, d->K0[i - 1], p->K0[i - 1]);
  if ((i = differ(d->u_ff, p->u_ff, d->nu)))
    return sp_errorf(msg, ms, SP_EMISMATCH,
                     "%s: feed-forward %d is %g in the file, %g in the policy", path, i,
                     d->u_ff[i - 1], p->u_ff[i - 1]);
  return 0;
}

int sp_policy_load(const char* path, sp_policy* p, sp_policy_data* pd, sp_optim* opt, void** user,
                   size_t* user_len, char* msg, size_t ms) {
  if (user) *user = NULL;
  if (user_len) *user_len = 0;
  void* meta = NULL;
  desc d;
  int rc = read_desc(path, &d, &meta, msg, ms);
  if (!rc) rc = match(&d, p, path, msg, ms);
  void* copy = NULL;
  if (!rc && user && d.user_len && !(copy = sp_malloc(d.user_len)))
    rc = sp_errorf(msg, ms, SP_ENOMEM, "%s: out of memory", path);
  // the network and optimiser last: sp_checkpoint_load changes nothing unless it succeeds
  if (!rc) rc = sp_checkpoint_load(path, p->net, opt, msg, ms);
  if (!rc) {
    memcpy(p->sigma, d.sigma, sizeof(double) * (size_t)p->nu);
    if (pd && d.has_rng) pd->rng = d.rng;
    if (copy) {
      memcpy(copy, d.user, d.user_len);
      *user = copy;
      *user_len = d.user_len;
      copy = NULL;
    }
  }
  sp_free(copy);
  sp_free(d.mem);
  sp_free(meta);
  return rc;
}

int sp_policy_user_read(const char* path, void** user, size_t* user_len, char* msg, size_t ms) {
  *user = NULL;
  *user_len = 0;
  void* meta = NULL;
  desc d;
  int rc = read_desc(path, &d, &meta, msg, ms);
  if (!rc && d.user_len) {
    if (!(*user = sp_malloc(d.user_len)))
      rc = sp_errorf(msg, ms, SP_ENOMEM, "%s: out of memory", path);
    else
      memcpy(*user, d.user, d.user_len), *user_len = d.user_len;
  }
  sp_free(d.mem);
  sp_free(meta);
  return rc;
}

int sp_policy_info_read(const char* path, sp_policy_info* info, char* msg, size_t ms) {
  memset(info, 0, sizeof *info);
  void* meta = NULL;
  desc d;
  int rc = read_desc(path, &d, &meta, msg, ms);
  sp_free(meta);
  if (rc) return rc;
  sp_mlp* net = NULL;
  if ((rc = sp_checkpoint_read(path, &net, NULL, 1, msg, ms))) {
    sp_free(d.mem);
    return rc;
  }
  // the hidden widths after the outputs and vectors in the same allocation
  size_t head =
      sizeof(sp_policy_output) * d.nout + sizeof(double) * ((size_t)d.nr + d.nk + 2 * (size_t)d.nu);
  int nh = net->nlayers - 1;
  void* mem = sp_malloc(head + sizeof(int) * (nh > 0 ? nh : 1));
  if (!mem) {
    sp_mlp_free(net);
    sp_free(d.mem);
    return sp_errorf(msg, ms, SP_ENOMEM, "%s: out of memory", path);
  }
  memcpy(mem, d.mem, head);
  int* hidden = (int*)((char*)mem + head);
  for (int l = 0; l < nh; l++) hidden[l] = net->layers[l].nout;
  sp_policy_config* c = &info->cfg;
  c->outputs = mem;
  const double* x = (const double*)((const sp_policy_output*)mem + d.nout);
  c->r0 = d.nr ? x : NULL;
  c->K0 = d.nk ? x + d.nr : NULL;
  c->u_ff = x + d.nr + d.nk;
  c->nx = d.nx, c->nu = d.nu;
  c->features = (sp_policy_features)d.features;
  c->period = d.period;
  c->nhidden = nh;
  c->hidden = hidden;
  c->hidden_act = nh > 0 ? net->layers[0].act : net->layers[net->nlayers - 1].act;
  c->out_act = net->layers[net->nlayers - 1].act;
  c->nout = d.nout;
  c->init_last = 1;  // the parameters come from the file
  info->open_loop = (int)d.open;
  info->nx = d.nx, info->nu = d.nu, info->nr = d.nr, info->nk = d.nk;
  memcpy(info->label, d.label, sizeof info->label);
  memcpy(info->ctrl, d.ctrl, sizeof info->ctrl);
  info->mem = mem;
  sp_mlp_free(net);
  sp_free(d.mem);
  return 0;
}

void sp_policy_info_free(sp_policy_info* info) {
  if (!info) return;
  sp_free(info->mem);
  info->mem = NULL;
}
