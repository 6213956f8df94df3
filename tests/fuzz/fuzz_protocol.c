// fuzz_protocol.c: libFuzzer target for the HAL protocol decoder (hal/protocol.c).
//
// sources: hal/protocol.c engine/core/crc32.c
// The suite runs it for 10 s (tests/integration/fuzz_short.sh); tests/hal/test_protocol.c adds a
// deterministic mutation test. A longer run, from the repository root:
//   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_protocol.c \
//         hal/protocol.c engine/core/crc32.c -o /tmp/fuzz_protocol
//   /tmp/fuzz_protocol -max_total_time=600 -max_len=8300
// Properties: the decoder never reads out of bounds or hits undefined behaviour, and any frame it
// accepts re-encodes to exactly the bytes it came from; the sequence tracker never misbehaves on
// the sequence numbers it is fed.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/crc32.h"
#include "hal/protocol.h"

static void check(const uint8_t* data, size_t size) {
  static sp_proto_msg m;
  static uint8_t again[SP_PROTO_MAX_FRAME];
  static sp_seq_tracker seq;
  if (sp_proto_decode(&m, data, size) != 0) return;
  int n = sp_proto_encode(again, sizeof again, &m);
  if (n != (int)size || memcmp(again, data, size) != 0) abort();
  int c = sp_seq_classify(&seq, m.h.seq);
  if (c != SP_SEQ_FRESH && c != SP_SEQ_DUPLICATE && c != SP_SEQ_STALE && c != SP_SEQ_SUSPECT)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static uint8_t sealed[SP_PROTO_MAX_FRAME + 1];
  check(data, size);
  // the same bytes with a valid CRC, so the checks behind the checksum are reached too
  if (size >= 4 && size <= sizeof sealed) {
    memcpy(sealed, data, size);
    uint32_t crc = sp_crc32(0, sealed, size - 4);
    for (int i = 0; i < 4; i++) sealed[size - 4 + i] = (uint8_t)(crc >> (8 * i));
    check(sealed, size);
  }
  return 0;
}
