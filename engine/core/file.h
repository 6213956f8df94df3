// file.h: whole-file reads and crash-safe whole-file writes, for the engine's checkpoints.
//
// sp_file_write_atomic writes to a fresh temporary file next to path, syncs it, renames it over
// path and syncs the directory (best effort): a crash or a full disk leaves either the old file
// or the new one, never a torn mix. sp_file_read reads a regular file whole into a buffer from
// sp_malloc (the caller sp_frees it). Errors name the path and what failed.
#ifndef SP_CORE_FILE_H
#define SP_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"

SP_API_BEGIN

int sp_file_write_atomic(const char* path, const void* buf, size_t n, char* msg, size_t ms);
int sp_file_read(const char* path, uint8_t** out, size_t* size, char* msg, size_t ms);

SP_API_END

#endif  // SP_CORE_FILE_H
