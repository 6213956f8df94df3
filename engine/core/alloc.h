// alloc.h: the engine's allocator, with a counter so tests can prove a path does not allocate.
//
// All engine and hal code allocates through sp_malloc/sp_calloc/sp_realloc/sp_free. The counters
// are process-wide and thread-safe (atomic). A test takes sp_alloc_count() before and after a hot
// loop (step, forward, backward, a control tick) and asserts the difference is zero.
#ifndef SP_CORE_ALLOC_H
#define SP_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"

SP_API_BEGIN

void* sp_malloc(size_t n);
void* sp_calloc(size_t count, size_t size);
void* sp_realloc(void* p, size_t n);
void sp_free(void* p);

// Number of successful sp_malloc/sp_calloc/sp_realloc calls since process start.
uint64_t sp_alloc_count(void);

// Optional hook for tests: when set, called with the requested size before every allocation;
// returning non-zero makes that allocation fail (NULL), to exercise out-of-memory paths.
typedef int (*sp_alloc_hook)(size_t n, void* user);
void sp_alloc_set_hook(sp_alloc_hook hook, void* user);

SP_API_END

#endif  // SP_CORE_ALLOC_H
