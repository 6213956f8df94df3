// crc32.h: CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum zlib and PNG use.
//
// Used by checkpoints and the HAL wire protocol. Incremental: start with crc = 0 and feed chunks,
// crc = sp_crc32(crc, chunk, n). sp_crc32(0, "123456789", 9) == 0xCBF43926.
#ifndef SP_CORE_CRC32_H
#define SP_CORE_CRC32_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"

SP_API_BEGIN

uint32_t sp_crc32(uint32_t crc, const void* data, size_t n);

SP_API_END

#endif  // SP_CORE_CRC32_H
