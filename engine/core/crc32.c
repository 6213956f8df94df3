// crc32.c: table-driven CRC-32 (IEEE 802.3, reflected, init and final xor 0xFFFFFFFF).
//
// The table is built from the polynomial on first use; building it twice from two threads writes
// the same values, so no lock is needed.
#include "crc32.h"

static uint32_t table[256];
static volatile int table_ready;

static void build_table(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  table_ready = 1;
}

uint32_t sp_crc32(uint32_t crc, const void* data, size_t n) {
  if (!table_ready) build_table();
  const unsigned char* p = data;
  uint32_t c = crc ^ 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}
