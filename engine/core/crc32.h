// crc32.h: CRC-32 as in IEEE 802.3, zlib and PNG (reflected polynomial 0xEDB88320).
//
// Used by network checkpoints and the HAL wire protocol. Incremental: start with crc = 0 and feed
// the result back in, so sp_crc32(sp_crc32(0, a, na), b, nb) == sp_crc32(0, ab, na + nb).
// sp_crc32(0, "123456789", 9) == 0xCBF43926 (the standard check value).
#ifndef SP_CORE_CRC32_H
#define SP_CORE_CRC32_H

#include <stddef.h>
#include <stdint.h>

// CRC of n bytes at data continuing from a previous crc (0 to start). data may be NULL when n = 0.
uint32_t sp_crc32(uint32_t crc, const void* data, size_t n);

#endif  // SP_CORE_CRC32_H
