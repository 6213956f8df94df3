// test_crc32.c: engine/core/crc32.c against the standard check value and zlib's results.
#include "engine/core/crc32.h"
#include "test.h"

TEST(check_value_of_123456789_is_cbf43926) {
  CHECK(sp_crc32(0, "123456789", 9) == 0xCBF43926u);
}

TEST(empty_input_gives_zero_and_leaves_a_running_crc_unchanged) {
  CHECK(sp_crc32(0, NULL, 0) == 0);
  CHECK(sp_crc32(0x1234abcdu, "", 0) == 0x1234abcdu);
}

TEST(matches_zlib_on_known_strings) {
  // values from zlib.crc32 in Python
  CHECK(sp_crc32(0, "a", 1) == 0xE8B7BE43u);
  CHECK(sp_crc32(0, "The quick brown fox jumps over the lazy dog", 43) == 0x414FA339u);
}

TEST(incremental_updates_equal_one_pass) {
  unsigned char buf[1000];
  for (int i = 0; i < 1000; i++) buf[i] = (unsigned char)(i * 7 + 3);
  uint32_t whole = sp_crc32(0, buf, sizeof buf);
  for (size_t cut = 0; cut <= sizeof buf; cut += 37) {
    uint32_t c = sp_crc32(sp_crc32(0, buf, cut), buf + cut, sizeof buf - cut);
    CHECK(c == whole);
  }
}

TEST(any_single_bit_flip_changes_the_crc) {
  unsigned char buf[64];
  for (int i = 0; i < 64; i++) buf[i] = (unsigned char)i;
  uint32_t ref = sp_crc32(0, buf, sizeof buf);
  for (int bit = 0; bit < 64 * 8; bit++) {
    buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    CHECK(sp_crc32(0, buf, sizeof buf) != ref);
    buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
  }
}

TEST_MAIN()
