// test_checkpoint.c: checkpoints (engine/nn/checkpoint.c): exact round trips of parameters and
// optimiser state, identical training after a reload, refusal of corrupt, truncated and
// mismatched files with messages naming the file and the difference, atomic writes.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/nn/checkpoint.h"
#include "engine/nn/init.h"
#include "test.h"

static char dir[64];
static char path[128];

// a fresh temporary directory and a checkpoint path inside it
static void fresh_dir(void) {
  strcpy(dir, "/tmp/spinal_ckpt_XXXXXX");
  if (!mkdtemp(dir)) dir[0] = 0;
  snprintf(path, sizeof path, "%s/model.ckpt", dir);
}

static void remove_dir(void) {
  DIR* d = opendir(dir);
  if (!d) return;
  struct dirent* e;
  char p[512];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (!stat(p, &st) && S_ISDIR(st.st_mode))
      rmdir(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

// number of entries in dir whose name contains ".tmp"
static int temp_files(void) {
  DIR* d = opendir(dir);
  int n = 0;
  struct dirent* e;
  while (d && (e = readdir(d))) n += strstr(e->d_name, ".tmp") != NULL;
  if (d) closedir(d);
  return n;
}

static sp_mlp* make_net(const int* sizes, sp_dtype t, uint64_t seed) {
  sp_act acts[3] = {SP_ACT_TANH, SP_ACT_TANH, SP_ACT_IDENTITY};
  sp_mlp* m = NULL;
  if (sp_mlp_new(&m, 3, sizes, acts, t, 8)) return NULL;
  sp_mlp_init(m, SP_INIT_XAVIER, seed);
  return m;
}

// a few training steps on a fixed regression batch
static void train(sp_mlp* m, sp_optim* o, int steps) {
  double x[8 * 4], y[8 * 2], gy[8 * 2];
  for (int i = 0; i < 32; i++) x[i] = sin(0.7 * i);
  for (int s = 0; s < steps; s++) {
    sp_mlp_forward(m, NULL, y, x, 8);
    for (int i = 0; i < 16; i++) gy[i] = y[i] - cos(0.3 * i);
    sp_mlp_zero_grad(m);
    sp_mlp_backward(m, NULL, NULL, gy);
    sp_optim_step(o, m->params, m->grads);
  }
}

static long file_size(const char* p) {
  struct stat st;
  return stat(p, &st) ? -1 : (long)st.st_size;
}

static int write_bytes(const char* p, const unsigned char* b, size_t n) {
  FILE* f = fopen(p, "wb");
  if (!f) return -1;
  size_t k = fwrite(b, 1, n, f);
  fclose(f);
  return k == n ? 0 : -1;
}

static unsigned char* read_bytes(const char* p, size_t* n) {
  FILE* f = fopen(p, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char* b = malloc(*n);
  if (b && fread(b, 1, *n, f) != *n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  return b;
}

TEST(round_trip_restores_parameters_and_adam_state_and_training_continues_identically) {
  int sizes[] = {4, 16, 16, 2};
  for (int t = 0; t < 2; t++) {
    fresh_dir();
    sp_mlp* a = make_net(sizes, (sp_dtype)t, 1);
    sp_optim_config c = sp_optim_adam_config(0.01);
    c.clip = 5;
    sp_optim* oa;
    CHECK_INT(sp_optim_new(&oa, &c, (sp_dtype)t, a->nparams), 0);
    train(a, oa, 5);
    char msg[256] = "";
    CHECK_INT(sp_checkpoint_save(path, a, oa, msg, sizeof msg), 0);
    CHECK_INT(temp_files(), 0);

    // into fresh objects made by the reader
    sp_mlp* b;
    sp_optim* ob;
    CHECK_INT(sp_checkpoint_read(path, &b, &ob, 8, msg, sizeof msg), 0);
    CHECK(ob != NULL);
    size_t es = sp_dtype_size((sp_dtype)t);
    CHECK(!memcmp(a->params, b->params, a->nparams * es));
    CHECK(!memcmp(oa->m, ob->m, a->nparams * es));
    CHECK(!memcmp(oa->v, ob->v, a->nparams * es));
    CHECK_INT(ob->t, 5);
    CHECK(ob->cfg.lr == 0.01 && ob->cfg.clip == 5 && ob->cfg.kind == SP_OPTIM_ADAM);

    // into existing objects
    sp_mlp* d = make_net(sizes, (sp_dtype)t, 99);
    sp_optim* od;
    sp_optim_new(&od, &c, (sp_dtype)t, d->nparams);
    CHECK_INT(sp_checkpoint_load(path, d, od, msg, sizeof msg), 0);
    CHECK(!memcmp(a->params, d->params, a->nparams * es));
    CHECK_INT(od->t, 5);

    // the same next steps, bit for bit
    train(a, oa, 7);
    train(b, ob, 7);
    train(d, od, 7);
    CHECK(!memcmp(a->params, b->params, a->nparams * es));
    CHECK(!memcmp(a->params, d->params, a->nparams * es));
    sp_mlp_free(a);
    sp_mlp_free(b);
    sp_mlp_free(d);
    sp_optim_free(oa);
    sp_optim_free(ob);
    sp_optim_free(od);
    remove_dir();
  }
}

TEST(network_only_checkpoints_load_without_an_optimiser) {
  int sizes[] = {4, 8, 8, 2};
  fresh_dir();
  sp_mlp* a = make_net(sizes, SP_F64, 3);
  char msg[256];
  CHECK_INT(sp_checkpoint_save(path, a, NULL, msg, sizeof msg), 0);
  sp_mlp* b;
  sp_optim* o = (sp_optim*)1;
  CHECK_INT(sp_checkpoint_read(path, &b, &o, 1, msg, sizeof msg), 0);
  CHECK(o == NULL);
  CHECK(!memcmp(a->params, b->params, a->nparams * sizeof(double)));
  // asking for optimiser state that is not there is a mismatch
  sp_optim_config c = sp_optim_sgd_config(0.1);
  sp_optim* s;
  sp_optim_new(&s, &c, SP_F64, a->nparams);
  CHECK_INT(sp_checkpoint_load(path, b, s, msg, sizeof msg), SP_EMISMATCH);
  char want[200];
  snprintf(want, sizeof want, "%s: the file holds no optimiser state", path);
  CHECK_STR(msg, want);
  sp_optim_free(s);
  sp_mlp_free(a);
  sp_mlp_free(b);
  remove_dir();
}

TEST(a_corrupt_byte_anywhere_after_the_fixed_header_is_a_checksum_error) {
  int sizes[] = {4, 8, 8, 2};
  fresh_dir();
  sp_mlp* a = make_net(sizes, SP_F64, 4);
  sp_optim_config c = sp_optim_adam_config(0.01);
  sp_optim* o;
  sp_optim_new(&o, &c, SP_F64, a->nparams);
  train(a, o, 2);
  char msg[256];
  CHECK_INT(sp_checkpoint_save(path, a, o, msg, sizeof msg), 0);
  size_t n;
  unsigned char* good = read_bytes(path, &n);
  CHECK(good);
  sp_rng r;
  sp_rng_seed(&r, 4, 0);
  char bad[160];
  snprintf(bad, sizeof bad, "%s/bad.ckpt", dir);
  for (int k = 0; k < 40; k++) {
    size_t at = k == 0 ? n - 1 : k == 1 ? 24 : 24 + sp_rng_below(&r, n - 24);
    good[at] ^= (unsigned char)(1 + sp_rng_below(&r, 255));
    write_bytes(bad, good, n);
    sp_mlp* b = NULL;
    CHECK_INT(sp_checkpoint_read(bad, &b, NULL, 1, msg, sizeof msg), SP_ECHECKSUM);
    CHECK(b == NULL);
    CHECK(strstr(msg, "bad.ckpt: checksum mismatch") == msg + strlen(dir) + 1);
    free(good);
    good = read_bytes(path, &n);
  }
  // a failed load leaves the network untouched
  sp_mlp* d = make_net(sizes, SP_F64, 77);
  double before = ((double*)d->params)[3];
  CHECK_INT(sp_checkpoint_load(bad, d, NULL, msg, sizeof msg), SP_ECHECKSUM);
  CHECK(((double*)d->params)[3] == before);
  free(good);
  sp_mlp_free(d);
  sp_mlp_free(a);
  sp_optim_free(o);
  remove_dir();
}

TEST(a_truncated_file_is_reported_as_truncated) {
  int sizes[] = {4, 8, 8, 2};
  fresh_dir();
  sp_mlp* a = make_net(sizes, SP_F32, 5);
  char msg[256];
  CHECK_INT(sp_checkpoint_save(path, a, NULL, msg, sizeof msg), 0);
  size_t n;
  unsigned char* good = read_bytes(path, &n);
  CHECK(good);
  size_t cuts[] = {0, 5, 8, 20, 27, 28, 60, n / 2, n - 1};
  for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
    write_bytes(path, good, cuts[k]);
    sp_mlp* b = NULL;
    CHECK_INT(sp_checkpoint_read(path, &b, NULL, 1, msg, sizeof msg), SP_EFORMAT);
    CHECK(strstr(msg, "model.ckpt: truncated"));
  }
  free(good);
  sp_mlp_free(a);
  remove_dir();
}

TEST(a_different_architecture_is_a_mismatch_naming_what_differs) {
  int sizes[] = {4, 64, 16, 2}, other[] = {4, 64, 32, 2};
  fresh_dir();
  sp_mlp* a = make_net(sizes, SP_F64, 6);
  char msg[256], want[256];
  CHECK_INT(sp_checkpoint_save(path, a, NULL, msg, sizeof msg), 0);

  sp_mlp* b = make_net(other, SP_F64, 6);
  CHECK_INT(sp_checkpoint_load(path, b, NULL, msg, sizeof msg), SP_EMISMATCH);
  snprintf(want, sizeof want, "%s: layer 2 has 16 outputs in the file, 32 in the network", path);
  CHECK_STR(msg, want);
  sp_mlp_free(b);

  b = make_net(sizes, SP_F32, 6);
  CHECK_INT(sp_checkpoint_load(path, b, NULL, msg, sizeof msg), SP_EMISMATCH);
  snprintf(want, sizeof want, "%s: dtype is f64 in the file, f32 in the network", path);
  CHECK_STR(msg, want);
  sp_mlp_free(b);

  sp_act acts[3] = {SP_ACT_TANH, SP_ACT_RELU, SP_ACT_IDENTITY};
  sp_mlp_new(&b, 3, sizes, acts, SP_F64, 1);
  CHECK_INT(sp_checkpoint_load(path, b, NULL, msg, sizeof msg), SP_EMISMATCH);
  snprintf(want, sizeof want, "%s: layer 2 activation is tanh in the file, relu in the network",
           path);
  CHECK_STR(msg, want);
  sp_mlp_free(b);

  int two[] = {4, 64, 2};
  sp_mlp_new(&b, 2, two, acts, SP_F64, 1);
  CHECK_INT(sp_checkpoint_load(path, b, NULL, msg, sizeof msg), SP_EMISMATCH);
  snprintf(want, sizeof want, "%s: 3 layers in the file, 2 in the network", path);
  CHECK_STR(msg, want);
  sp_mlp_free(b);

  // an optimiser of another kind
  sp_optim_config c = sp_optim_adam_config(0.1);
  sp_optim* o;
  sp_optim_new(&o, &c, SP_F64, a->nparams);
  CHECK_INT(sp_checkpoint_save(path, a, o, msg, sizeof msg), 0);
  sp_optim_config s = sp_optim_sgd_config(0.1);
  sp_optim* os;
  sp_optim_new(&os, &s, SP_F64, a->nparams);
  CHECK_INT(sp_checkpoint_load(path, a, os, msg, sizeof msg), SP_EMISMATCH);
  snprintf(want, sizeof want, "%s: optimiser is adam in the file, sgd given", path);
  CHECK_STR(msg, want);
  sp_optim_free(os);
  sp_optim_free(o);
  sp_mlp_free(a);
  remove_dir();
}

TEST(other_files_and_missing_files_are_refused_clearly) {
  fresh_dir();
  char msg[256], want[256];
  const unsigned char junk[] = "local x = 1 -- not a checkpoint at all, but long enough";
  write_bytes(path, junk, sizeof junk);
  sp_mlp* b = NULL;
  CHECK_INT(sp_checkpoint_read(path, &b, NULL, 1, msg, sizeof msg), SP_EFORMAT);
  snprintf(want, sizeof want, "%s: not a spinal network checkpoint", path);
  CHECK_STR(msg, want);
  snprintf(want, sizeof want, "%s/missing.ckpt", dir);
  CHECK_INT(sp_checkpoint_read(want, &b, NULL, 1, msg, sizeof msg), SP_EIO);
  CHECK(strstr(msg, "missing.ckpt: cannot open: No such file or directory"));
  remove_dir();
}

TEST(writes_replace_the_file_atomically_and_leave_no_temporary_behind) {
  int sizes[] = {4, 8, 8, 2};
  fresh_dir();
  sp_mlp* a = make_net(sizes, SP_F64, 7);
  char msg[256];
  // overwrite an existing checkpoint
  CHECK_INT(sp_checkpoint_save(path, a, NULL, msg, sizeof msg), 0);
  ((double*)a->params)[0] += 1;
  CHECK_INT(sp_checkpoint_save(path, a, NULL, msg, sizeof msg), 0);
  CHECK_INT(temp_files(), 0);
  sp_mlp* b;
  CHECK_INT(sp_checkpoint_read(path, &b, NULL, 1, msg, sizeof msg), 0);
  CHECK(((double*)b->params)[0] == ((double*)a->params)[0]);
  sp_mlp_free(b);
  // a target that cannot be replaced (a directory): the error names it, the temporary is gone
  char sub[160];
  snprintf(sub, sizeof sub, "%s/sub", dir);
  mkdir(sub, 0700);
  CHECK_INT(sp_checkpoint_save(sub, a, NULL, msg, sizeof msg), SP_EIO);
  CHECK(strstr(msg, "sub: cannot replace"));
  CHECK_INT(temp_files(), 0);
  // a directory that does not exist
  snprintf(sub, sizeof sub, "%s/nope/model.ckpt", dir);
  CHECK_INT(sp_checkpoint_save(sub, a, NULL, msg, sizeof msg), SP_EIO);
  CHECK(file_size(path) > 0);
  sp_mlp_free(a);
  remove_dir();
}

static int fail_after(size_t n, void* user) {
  (void)n;
  int* budget = user;
  return (*budget)-- <= 0;
}

TEST(out_of_memory_while_saving_or_reading_is_reported_and_leaks_nothing) {
  int sizes[] = {4, 8, 8, 2};
  fresh_dir();
  sp_mlp* a = make_net(sizes, SP_F64, 8);
  sp_optim_config c = sp_optim_adam_config(0.01);
  sp_optim* o;
  sp_optim_new(&o, &c, SP_F64, a->nparams);
  char msg[256];
  CHECK_INT(sp_checkpoint_save(path, a, o, msg, sizeof msg), 0);
  int failures = 0;
  for (int k = 0; k < 12; k++) {
    int budget = k;
    sp_alloc_set_hook(fail_after, &budget);
    sp_mlp* b = NULL;
    sp_optim* ob = NULL;
    int rs = sp_checkpoint_save(path, a, o, msg, sizeof msg);
    int rr = sp_checkpoint_read(path, &b, &ob, 1, msg, sizeof msg);
    sp_alloc_set_hook(NULL, NULL);
    CHECK(rs == 0 || rs == SP_ENOMEM);
    CHECK(rr == 0 || rr == SP_ENOMEM);
    CHECK(rr != 0 || (b && ob));
    CHECK(rr == 0 || (!b && !ob));
    failures += rs != 0 || rr != 0;
    sp_mlp_free(b);
    sp_optim_free(ob);
  }
  CHECK(failures >= 4);
  CHECK_INT(temp_files(), 0);
  sp_mlp* b;
  CHECK_INT(sp_checkpoint_read(path, &b, NULL, 1, msg, sizeof msg), 0);  // the file is intact
  sp_mlp_free(b);
  sp_optim_free(o);
  sp_mlp_free(a);
  remove_dir();
}

// meta bytes ride along (version 2); a file without them is still version 1 and has none
TEST(meta_bytes_round_trip_and_files_without_them_stay_version_1) {
  int sizes[] = {4, 8, 8, 2};
  fresh_dir();
  sp_mlp* a = make_net(sizes, SP_F64, 5);
  char msg[256];
  CHECK_INT(sp_checkpoint_save_meta(path, a, NULL, "abc\0def", 7, msg, sizeof msg), 0);
  size_t n;
  unsigned char* bytes = read_bytes(path, &n);
  CHECK(bytes && bytes[8] == 2);
  free(bytes);
  void* meta = NULL;
  size_t len = 0;
  CHECK_INT(sp_checkpoint_read_meta(path, &meta, &len, msg, sizeof msg), 0);
  CHECK(len == 7 && !memcmp(meta, "abc\0def", 7));
  sp_free(meta);
  sp_mlp* b = make_net(sizes, SP_F64, 6);
  CHECK_INT(sp_checkpoint_load(path, b, NULL, msg, sizeof msg), 0);
  CHECK(!memcmp(a->params, b->params, sizeof(double) * a->nparams));
  CHECK_INT(sp_checkpoint_save(path, a, NULL, msg, sizeof msg), 0);
  bytes = read_bytes(path, &n);
  CHECK(bytes && bytes[8] == 1);
  free(bytes);
  CHECK_INT(sp_checkpoint_read_meta(path, &meta, &len, msg, sizeof msg), 0);
  CHECK(meta == NULL && len == 0);
  sp_mlp_free(a);
  sp_mlp_free(b);
  remove_dir();
}

TEST_MAIN()
