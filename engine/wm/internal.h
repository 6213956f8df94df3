// internal.h: passes shared by the world model's files (wm.c, rollout_loss.c, wm_file.c).
#ifndef SP_WM_INTERNAL_H
#define SP_WM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/wm/wm.h"

// Free n network workspaces (one per step of a horizon) and the array holding them; w may be
// NULL, its entries NULL (wm.c; the VAE's and the command network's data use it too).
void sp__mlp_works_free(sp_mlp_work** w, int n);

// Build a model around an existing network (taken over; freed with the model), checking it fits the
// configuration: SP_EMISMATCH otherwise (the network is then not taken).
int sp__wm_wrap(sp_wm** out, const sp_wm_config* cfg, sp_mlp* net);

// The component sums of one row's errors (state s against reference r, both nx) ADDED into e
// (SP_WM_NCOMP); when g is not NULL, ADD into g (nx) the gradient of sum_c c[c] e_c with respect to
// s (rollout_loss.c).
void sp__wm_row_errors(const sp_wm* wm, double* e, double* g, const double* c, const double* s,
                       const double* r);

// ---- files (file_io.c)
// ---------------------------------------------------------------------------- A growing
// little-endian byte buffer for the family's files, written atomically (a temporary next to path,
// fsync'ed, renamed) with a CRC-32 appended, and read back whole with the CRC checked.

typedef struct sp__wbuf {
  uint8_t* p;
  size_t n, cap;
  int failed;  // an allocation failed: the buffer is not to be written
} sp__wbuf;

void sp__put_u32(sp__wbuf* w, uint32_t x);
void sp__put_u64(sp__wbuf* w, uint64_t x);
void sp__put_f64(sp__wbuf* w, double x);
void sp__put_f64s(sp__wbuf* w, const double* x, size_t n);
void sp__put_bytes(sp__wbuf* w, const void* x, size_t n);
// Append the CRC and write the buffer to path atomically (the buffer is freed).
int sp__wbuf_save(sp__wbuf* w, const char* path, char* msg, size_t msg_size);

typedef struct sp__rbuf {
  const uint8_t* p;
  size_t n, at;
  int short_read;  // a get ran past the end (values read as 0)
} sp__rbuf;

// Read path whole, check its 8-byte magic and trailing CRC-32; *data (sp_free it) holds the bytes
// and r reads them after the magic. SP_EIO, SP_EFORMAT ("not a <what> file"), SP_ECHECKSUM.
int sp__rbuf_load(sp__rbuf* r, uint8_t** data, const char* path, const char* magic,
                  const char* what, char* msg, size_t msg_size);
uint32_t sp__get_u32(sp__rbuf* r);
uint64_t sp__get_u64(sp__rbuf* r);
double sp__get_f64(sp__rbuf* r);
void sp__get_f64s(sp__rbuf* r, double* x, size_t n);
void sp__get_bytes(sp__rbuf* r, void* x, size_t n);

// n values of dtype t written as f64, and read back (rounded for float32)
void sp__put_reals(sp__wbuf* w, const void* x, sp_dtype t, size_t n);
void sp__get_reals(sp__rbuf* r, void* x, sp_dtype t, size_t n);
// An optimiser's configuration and state (or its absence), as sp_vae_save writes them: u32 has_opt;
// when present u32 kind, f64 lr momentum beta1 beta2 eps clip weight_decay, u64 t, u32 has_m,
// u32 has_v, m and v (f64). sp__get_optim makes *out (NULL when absent) for n parameters of dtype:
// SP_EFORMAT when the state does not fit that optimiser.
void sp__put_optim(sp__wbuf* w, const sp_optim* opt);
int sp__get_optim(sp__rbuf* r, sp_optim** out, sp_dtype dtype, size_t n);

#endif  // SP_WM_INTERNAL_H
