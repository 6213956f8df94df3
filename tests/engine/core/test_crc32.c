// test_crc32.c: engine/core/crc32.c against the standard check values.
#include "engine/core/crc32.h"
#include "test.h"

TEST(check_value_of_123456789_is_cbf43926) {
  CHECK(sp_crc32(0, "123456789", 9) == 0xCBF43926u);
}

TEST(empty_input_leaves_crc_unchanged) {
  CHECK(sp_crc32(0, "", 0) == 0u);
  CHECK(sp_crc32(0x1234u, "", 0) == 0x1234u);
}

TEST(incremental_update_equals_one_shot) {
  const char* s = "The quick brown fox jumps over the lazy dog";
  uint32_t one = sp_crc32(0, s, strlen(s));
  uint32_t two = sp_crc32(sp_crc32(0, s, 10), s + 10, strlen(s) - 10);
  CHECK(one == 0x414FA339u);
  CHECK(two == one);
}

TEST(single_bit_flip_changes_the_crc) {
  unsigned char buf[64];
  for (int i = 0; i < 64; i++) buf[i] = (unsigned char)(i * 7);
  uint32_t ref = sp_crc32(0, buf, sizeof buf);
  for (int bit = 0; bit < 64 * 8; bit += 13) {
    buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    CHECK(sp_crc32(0, buf, sizeof buf) != ref);
    buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
  }
}

TEST_MAIN()
