// crc32.c: table-driven CRC-32 (reflected 0xEDB88320); the table is a compile-time constant so
// the function is thread-safe and never allocates (firmware authors can copy this file alone).
#include "crc32.h"

#define P 0xEDB88320u
// one table entry: 8 rounds of the bitwise algorithm on byte n
#define R1(c) (((c)&1u) ? (P ^ ((c) >> 1)) : ((c) >> 1))
#define R8(n) R1(R1(R1(R1(R1(R1(R1(R1((uint32_t)(n)))))))))
#define T4(n) R8(n), R8((n) + 1), R8((n) + 2), R8((n) + 3)
#define T16(n) T4(n), T4((n) + 4), T4((n) + 8), T4((n) + 12)
#define T64(n) T16(n), T16((n) + 16), T16((n) + 32), T16((n) + 48)

static const uint32_t table[256] = {T64(0), T64(64), T64(128), T64(192)};

uint32_t sp_crc32(uint32_t crc, const void* data, size_t n) {
  const unsigned char* p = data;
  crc = ~crc;
  while (n--) crc = table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}
