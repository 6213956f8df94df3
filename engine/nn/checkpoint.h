// checkpoint.h: save and load an MLP's parameters and its optimiser's state.
//
// File layout (versions 1 and 2, all integers and floats little-endian):
//   "SPNNCKPT"  u32 version  u32 0  u64 file length
//   u32 dtype (0 f64, 1 f32)  u32 L  u32 sizes[L + 1]  u32 acts[L]  u64 nparams
//   u32 optimiser (0 none, 1 sgd, 2 adam); when present: f64 lr, momentum, beta1, beta2, eps,
//       clip, weight_decay; i64 t; u32 has_m; u32 has_v
//   version 2 only: u64 meta length
//   params (nparams, in dtype); then m and v when present (nparams each, in dtype)
//   version 2 only: the meta bytes (a caller's own description, e.g. a policy's; opaque here)
//   u32 CRC-32 (engine/core/crc32.h) of every byte before it
// A file without meta is written as version 1; both versions are read.
// Writes are atomic: a temporary file in the same directory is written, fsync'ed and renamed over
// the target, so a crash leaves either the old or the new file, and no temporary behind.
//
// Errors fill msg (may be NULL) naming the file and what is wrong: SP_EIO (cannot open, read or
// write), SP_EFORMAT (not a checkpoint, unsupported version, truncated, inconsistent header),
// SP_ECHECKSUM (corrupt), SP_EMISMATCH (the file describes a different network or optimiser,
// e.g. "model.ckpt: layer 2 has 64 outputs in the file, 32 in the network").
#ifndef SP_NN_CHECKPOINT_H
#define SP_NN_CHECKPOINT_H

#include <stddef.h>

#include "engine/core/export.h"
#include "engine/nn/mlp.h"
#include "engine/nn/optim.h"

SP_API_BEGIN

#define SP_CHECKPOINT_VERSION 2  // the newest version this build reads and writes

// Save net and (when opt is not NULL) opt's configuration and state to path. opt->n must equal
// net->nparams and opt->dtype net->dtype (SP_EINVAL otherwise).
int sp_checkpoint_save(const char* path, const sp_mlp* net, const sp_optim* opt, char* msg,
                       size_t msg_size);

// sp_checkpoint_save with meta_len opaque bytes stored with the network (meta may be NULL when
// meta_len is 0; the file is then version 1), all in one atomic write.
int sp_checkpoint_save_meta(const char* path, const sp_mlp* net, const sp_optim* opt,
                            const void* meta, size_t meta_len, char* msg, size_t msg_size);

// The meta bytes of a checkpoint, after the same checks as a load (checksum, layout): *meta is
// allocated with sp_malloc (free it with sp_free), NULL with *meta_len 0 when the file has none.
int sp_checkpoint_read_meta(const char* path, void** meta, size_t* meta_len, char* msg,
                            size_t msg_size);

// Load into an existing net (same architecture and dtype, else SP_EMISMATCH) and, when opt is
// not NULL, its state (step count and moments; opt's own configuration is kept). The file must
// then hold optimiser state of the same kind. Nothing is modified unless the whole load succeeds.
int sp_checkpoint_load(const char* path, sp_mlp* net, sp_optim* opt, char* msg, size_t msg_size);

// Create the network (workspace for max_batch rows) and, when the file holds one and opt is not
// NULL, the optimiser described by the file. *opt is NULL when the file has no optimiser.
int sp_checkpoint_read(const char* path, sp_mlp** net, sp_optim** opt, int max_batch, char* msg,
                       size_t msg_size);

SP_API_END

#endif  // SP_NN_CHECKPOINT_H
