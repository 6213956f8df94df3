// alloc.c: counted allocation for the engine (see alloc.h).
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

static atomic_uint_fast64_t count;
static sp_alloc_hook hook;
static void* hook_user;

static int refused(size_t n) {
  return hook && hook(n, hook_user);
}

void* sp_malloc(size_t n) {
  if (refused(n)) return NULL;
  void* p = malloc(n ? n : 1);
  if (p) atomic_fetch_add(&count, 1);
  return p;
}

void* sp_calloc(size_t nmemb, size_t size) {
  if (refused(nmemb * size)) return NULL;
  void* p = calloc(nmemb ? nmemb : 1, size ? size : 1);
  if (p) atomic_fetch_add(&count, 1);
  return p;
}

void* sp_realloc(void* p, size_t n) {
  if (refused(n)) return NULL;
  void* q = realloc(p, n ? n : 1);
  if (q) atomic_fetch_add(&count, 1);
  return q;
}

void sp_free(void* p) {
  free(p);
}

uint64_t sp_alloc_count(void) {
  return atomic_load(&count);
}

void sp_alloc_set_hook(sp_alloc_hook h, void* user) {
  hook = h;
  hook_user = user;
}
