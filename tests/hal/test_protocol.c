// test_protocol.c: hal/protocol.c round trips, rejection of every malformed frame, sequence
// tracker.
#include "engine/core/crc32.h"
#include "engine/core/rng.h"
#include "hal/protocol.h"
#include "test.h"

static sp_proto_header hdr(uint32_t seq) {
  sp_proto_header h = {0};
  h.seq = seq;
  h.t_send_ns = 1234567890123LL;
  h.t_echo_ns = -42;
  return h;
}

static int fill_hello(sp_proto_hello* hl) {
  memset(hl, 0, sizeof *hl);
  hl->proto_version = 1;
  hl->nx = 4;
  hl->nu = 2;
  hl->rate_hz = 500.0;
  hl->watchdog_ms = 50;
  strcpy(hl->name, "rc_car");
  const char* xs[] = {"x", "y", "theta", "v"};
  for (int i = 0; i < 4; i++) strcpy(hl->x_names[i], xs[i]);
  strcpy(hl->u_names[0], "throttle");
  strcpy(hl->u_names[1], "steering_angle_name_of_31_chars");  // the longest a name may be
  return 0;
}

static int encode_state(uint8_t* buf, uint32_t seq) {
  sp_proto_header h = hdr(seq);
  double x[3] = {1.5, -2.25, 1e-300};
  return sp_proto_encode_state(buf, SP_PROTO_MAX_FRAME, &h, 987654321LL,
                               SP_PROTO_STATUS_WATCHDOG | SP_PROTO_STATUS_SAFE_STOP, x, 3);
}

TEST(hello_and_config_round_trip_with_names) {
  static uint8_t buf[SP_PROTO_MAX_FRAME];
  static sp_proto_hello hl;
  static sp_proto_msg m;
  fill_hello(&hl);
  for (int type = SP_PROTO_HELLO; type <= SP_PROTO_CONFIG; type++) {
    sp_proto_header h = hdr(7);
    h.flags = SP_PROTO_HFLAG_ESTOP;
    int n = sp_proto_encode_hello(buf, sizeof buf, &h, type, &hl);
    CHECK(n > 0);
    CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), 0);
    CHECK_INT(m.h.type, type);
    CHECK_INT(m.h.version, SP_PROTO_VERSION);
    CHECK_INT(m.h.flags, SP_PROTO_HFLAG_ESTOP);
    CHECK_INT(m.h.seq, 7);
    CHECK_INT(m.h.t_send_ns, 1234567890123LL);
    CHECK_INT(m.h.t_echo_ns, -42);
    CHECK_INT(m.body.hello.nx, 4);
    CHECK_INT(m.body.hello.nu, 2);
    CHECK_INT(m.body.hello.watchdog_ms, 50);
    CHECK(m.body.hello.rate_hz == 500.0);
    CHECK_STR(m.body.hello.name, "rc_car");
    CHECK_STR(m.body.hello.x_names[2], "theta");
    CHECK_INT(strlen(m.body.hello.u_names[1]), SP_PROTO_MAX_NAME - 1);
    CHECK_STR(m.body.hello.u_names[1], hl.u_names[1]);
  }
}

TEST(state_round_trip_is_bit_exact) {
  uint8_t buf[SP_PROTO_MAX_FRAME];
  sp_proto_msg m;
  int n = encode_state(buf, 99);
  CHECK_INT(n, 32 + 16 + 24 + 4);
  CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), 0);
  CHECK_INT(m.h.type, SP_PROTO_STATE);
  CHECK_INT(m.body.state.t_ns, 987654321LL);
  CHECK_INT(m.body.state.status, SP_PROTO_STATUS_WATCHDOG | SP_PROTO_STATUS_SAFE_STOP);
  CHECK_INT(m.body.state.n, 3);
  CHECK(m.body.state.x[0] == 1.5 && m.body.state.x[1] == -2.25 && m.body.state.x[2] == 1e-300);
}

TEST(command_heartbeat_and_estop_round_trip) {
  uint8_t buf[SP_PROTO_MAX_FRAME];
  sp_proto_msg m;
  sp_proto_header h = hdr(5);
  double u[2] = {0.25, -1.0 / 3.0};
  int n = sp_proto_encode_command(buf, sizeof buf, &h, u, 2);
  CHECK_INT(n, 32 + 4 + 16 + 4);
  CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), 0);
  CHECK_INT(m.h.type, SP_PROTO_COMMAND);
  CHECK_INT(m.body.command.n, 2);
  CHECK(m.body.command.u[0] == u[0] && m.body.command.u[1] == u[1]);

  n = sp_proto_encode_heartbeat(buf, sizeof buf, &h);
  CHECK_INT(n, 36);
  CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), 0);
  CHECK_INT(m.h.type, SP_PROTO_HEARTBEAT);
  CHECK_INT(m.h.payload_len, 0);

  n = sp_proto_encode_estop(buf, sizeof buf, &h, SP_PROTO_ESTOP_OPERATOR);
  CHECK_INT(n, 40);
  CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), 0);
  CHECK_INT(m.h.type, SP_PROTO_ESTOP);
  CHECK_INT(m.body.estop.reason, SP_PROTO_ESTOP_OPERATOR);
}

TEST(generic_encoder_matches_typed_encoders) {
  uint8_t a[SP_PROTO_MAX_FRAME], b[SP_PROTO_MAX_FRAME];
  static sp_proto_msg m;
  int n = encode_state(a, 99);
  CHECK_INT(sp_proto_decode(&m, a, (size_t)n), 0);
  CHECK_INT(sp_proto_encode(b, sizeof b, &m), n);
  CHECK(memcmp(a, b, (size_t)n) == 0);
  m.h.type = 77;
  CHECK_INT(sp_proto_encode(b, sizeof b, &m), SP_PROTO_ETYPE);
}

TEST(header_bytes_are_little_endian_as_documented) {
  uint8_t buf[64];
  sp_proto_header h = {0};
  h.seq = 0x01020304u;
  h.t_send_ns = 0x1122334455667788LL;
  int n = sp_proto_encode_heartbeat(buf, sizeof buf, &h);
  CHECK_INT(n, 36);
  CHECK(memcmp(buf, "SPNL", 4) == 0);
  CHECK_INT(buf[4], 1);
  CHECK_INT(buf[5], SP_PROTO_HEARTBEAT);
  CHECK_INT(buf[8], 0x04);
  CHECK_INT(buf[11], 0x01);
  CHECK_INT(buf[16], 0x88);
  CHECK_INT(buf[23], 0x11);
  uint32_t crc = sp_crc32(0, buf, 32);
  CHECK_INT(buf[32], crc & 0xFF);
  CHECK_INT(buf[35], crc >> 24);
}

TEST(worked_example_in_docs_protocol_md_is_what_the_encoder_writes) {
  static const uint8_t want[56] = {
      0x53, 0x50, 0x4e, 0x4c, 0x01, 0x04, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x14, 0x00,
      0x00, 0x00, 0x40, 0x42, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x58, 0x3e, 0x0f, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0xe0, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd0, 0xbf, 0xd2, 0x3a, 0x3e, 0xc7};
  uint8_t buf[64];
  sp_proto_header h = {0};
  h.seq = 1;
  h.t_send_ns = 1000000;
  h.t_echo_ns = 999000;
  double u[2] = {0.5, -0.25};
  CHECK_INT(sp_proto_encode_command(buf, sizeof buf, &h, u, 2), 56);
  CHECK(memcmp(buf, want, 56) == 0);
}

TEST(every_single_bit_flip_of_every_message_type_is_rejected) {
  static uint8_t buf[SP_PROTO_MAX_FRAME];
  static sp_proto_msg m;
  static sp_proto_hello hl;
  fill_hello(&hl);
  sp_proto_header h = hdr(3);
  double u[2] = {1, 2};
  for (int kind = 0; kind < 5; kind++) {
    int n = kind == 0   ? sp_proto_encode_hello(buf, sizeof buf, &h, SP_PROTO_HELLO, &hl)
            : kind == 1 ? encode_state(buf, 3)
            : kind == 2 ? sp_proto_encode_command(buf, sizeof buf, &h, u, 2)
            : kind == 3 ? sp_proto_encode_heartbeat(buf, sizeof buf, &h)
                        : sp_proto_encode_estop(buf, sizeof buf, &h, 1);
    CHECK(n > 0);
    CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), 0);
    for (int bit = 0; bit < 8 * n; bit++) {
      buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      int rc = sp_proto_decode(&m, buf, (size_t)n);
      buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      if (rc == 0) SP_FAIL_("kind %d: flip of bit %d accepted", kind, bit);
    }
  }
}

TEST(corrupted_payload_reports_crc_mismatch) {
  uint8_t buf[SP_PROTO_MAX_FRAME];
  sp_proto_msg m;
  int n = encode_state(buf, 1);
  buf[40] ^= 0x10;
  CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), SP_PROTO_ECRC);
  buf[40] ^= 0x10;
  buf[n - 1] ^= 0x80;
  CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), SP_PROTO_ECRC);
}

TEST(truncated_frames_at_every_length_are_rejected) {
  uint8_t buf[SP_PROTO_MAX_FRAME];
  sp_proto_msg m;
  int n = encode_state(buf, 1);
  for (int len = 0; len < n; len++)
    CHECK_INT(sp_proto_decode(&m, buf, (size_t)len), SP_PROTO_ETRUNCATED);
}

TEST(trailing_bytes_and_oversized_frames_are_rejected) {
  static uint8_t buf[SP_PROTO_MAX_FRAME + 16];
  sp_proto_msg m;
  int n = encode_state(buf, 1);
  CHECK_INT(sp_proto_decode(&m, buf, (size_t)n + 1), SP_PROTO_ELENGTH);
  CHECK_INT(sp_proto_decode(&m, buf, SP_PROTO_MAX_FRAME + 1), SP_PROTO_EOVERSIZED);
  // a declared payload beyond the maximum, even with a matching checksum
  buf[12] = 0xFF;
  buf[13] = 0xFF;
  CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), SP_PROTO_EOVERSIZED);
}

TEST(wrong_magic_and_wrong_version_have_their_own_codes) {
  uint8_t buf[SP_PROTO_MAX_FRAME];
  sp_proto_msg m;
  int n = encode_state(buf, 1);
  buf[0] = 'X';
  CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), SP_PROTO_EMAGIC);
  buf[0] = 'S';
  buf[4] = 2;
  CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), SP_PROTO_EVERSION);
  CHECK_STR(sp_proto_strerror(SP_PROTO_EVERSION), "unsupported protocol version");
}

// rewrite the CRC after a deliberate change, so checks behind the CRC are exercised
static void reseal(uint8_t* buf, int n) {
  uint32_t c = sp_crc32(0, buf, (size_t)n - 4);
  for (int i = 0; i < 4; i++) buf[n - 4 + i] = (uint8_t)(c >> (8 * i));
}

TEST(well_checksummed_but_inconsistent_payloads_are_rejected) {
  uint8_t buf[SP_PROTO_MAX_FRAME];
  sp_proto_msg m;
  int n = encode_state(buf, 1);
  buf[32 + 12] = 2;  // claims 2 doubles, carries 3
  reseal(buf, n);
  CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), SP_PROTO_EPAYLOAD);
  buf[32 + 12] = 200;  // beyond SP_PROTO_MAX_DIM
  reseal(buf, n);
  CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), SP_PROTO_EVECTOR);
  buf[32 + 12] = 3;
  buf[5] = 42;  // unknown type
  reseal(buf, n);
  CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), SP_PROTO_ETYPE);
  buf[5] = SP_PROTO_STATE;
  buf[7] = 0x80;  // reserved header flag
  reseal(buf, n);
  CHECK_INT(sp_proto_decode(&m, buf, (size_t)n), SP_PROTO_EFLAGS);
}

// deterministic random mutations of valid frames (a short in-suite stand-in for fuzzing): the
// decoder never reads out of bounds (ASan), and whatever it accepts re-encodes to the same bytes
TEST(random_mutations_never_crash_and_accepted_frames_re_encode_identically) {
  static uint8_t buf[SP_PROTO_MAX_FRAME + 64], again[SP_PROTO_MAX_FRAME];
  static sp_proto_msg m;
  static sp_proto_hello hl;
  fill_hello(&hl);
  sp_rng g;
  sp_rng_seed(&g, 2024, 0);
  long accepted = 0;
  for (int iter = 0; iter < 20000; iter++) {
    sp_proto_header h = hdr((uint32_t)iter);
    double v[3] = {1, 2, 3};
    int kind = (int)sp_rng_below(&g, 5);
    int n = kind == 0   ? sp_proto_encode_hello(buf, SP_PROTO_MAX_FRAME, &h, SP_PROTO_CONFIG, &hl)
            : kind == 1 ? encode_state(buf, (uint32_t)iter)
            : kind == 2 ? sp_proto_encode_command(buf, SP_PROTO_MAX_FRAME, &h, v, 3)
            : kind == 3 ? sp_proto_encode_heartbeat(buf, SP_PROTO_MAX_FRAME, &h)
                        : sp_proto_encode_estop(buf, SP_PROTO_MAX_FRAME, &h, 2);
    // mutate: overwrite bytes, then maybe change the length, then maybe re-seal the CRC
    int nmut = 1 + (int)sp_rng_below(&g, 4);
    for (int j = 0; j < nmut; j++) buf[sp_rng_below(&g, (uint64_t)n)] = (uint8_t)sp_rng_next(&g);
    int len = n;
    if (sp_rng_below(&g, 4) == 0) len = (int)sp_rng_below(&g, (uint64_t)n + 64);
    if (len >= 4 && sp_rng_below(&g, 2) == 0) reseal(buf, len);
    if (sp_proto_decode(&m, buf, (size_t)len) == 0) {
      accepted++;
      int n2 = sp_proto_encode(again, sizeof again, &m);
      if (n2 != len || memcmp(again, buf, (size_t)len))
        SP_FAIL_("iteration %d: accepted frame does not re-encode identically", iter);
    }
  }
  CHECK(accepted > 0);  // resealed frames with harmless mutations do get through
}

TEST(encoder_refuses_small_buffers_long_vectors_and_long_names) {
  uint8_t buf[SP_PROTO_MAX_FRAME];
  static sp_proto_hello hl;
  sp_proto_header h = hdr(0);
  double x[SP_PROTO_MAX_DIM + 1] = {0};
  CHECK_INT(sp_proto_encode_state(buf, 40, &h, 0, 0, x, 1), SP_PROTO_ESPACE);
  CHECK_INT(sp_proto_encode_command(buf, sizeof buf, &h, x, SP_PROTO_MAX_DIM + 1),
            SP_PROTO_EVECTOR);
  CHECK_INT(sp_proto_encode_command(buf, sizeof buf, &h, NULL, 2), SP_PROTO_EINVAL);
  fill_hello(&hl);
  memset(hl.name, 'a', sizeof hl.name);  // no terminator within the buffer
  CHECK_INT(sp_proto_encode_hello(buf, sizeof buf, &h, SP_PROTO_CONFIG, &hl), SP_PROTO_ENAME);
  h.flags = 0x0100;
  CHECK_INT(sp_proto_encode_heartbeat(buf, sizeof buf, &h), SP_PROTO_EFLAGS);
}

TEST(tracker_classifies_fresh_duplicate_and_reordered_packets) {
  sp_seq_tracker t = {0};
  CHECK_INT(sp_seq_classify(&t, 10), SP_SEQ_FRESH);
  CHECK_INT(sp_seq_classify(&t, 11), SP_SEQ_FRESH);
  CHECK_INT(sp_seq_classify(&t, 11), SP_SEQ_DUPLICATE);  // replayed
  CHECK_INT(sp_seq_classify(&t, 14), SP_SEQ_FRESH);      // 12, 13 skipped
  CHECK_INT(t.lost, 2);
  CHECK_INT(sp_seq_classify(&t, 12), SP_SEQ_STALE);  // arrives late: reordered
  CHECK_INT(t.lost, 1);
  CHECK_INT(sp_seq_classify(&t, 12), SP_SEQ_DUPLICATE);  // and replayed
  CHECK_INT(sp_seq_classify(&t, 10), SP_SEQ_DUPLICATE);
  CHECK_INT(sp_seq_classify(&t, 1), SP_SEQ_STALE);  // older than anything kept
  CHECK_INT(t.fresh, 3);
  CHECK_INT(t.duplicate, 3);
  CHECK_INT(t.stale, 2);
}

TEST(tracker_handles_wraparound_and_far_jumps) {
  sp_seq_tracker t = {0};
  CHECK_INT(sp_seq_classify(&t, 0xFFFFFFFEu), SP_SEQ_FRESH);
  CHECK_INT(sp_seq_classify(&t, 0xFFFFFFFFu), SP_SEQ_FRESH);
  CHECK_INT(sp_seq_classify(&t, 0u), SP_SEQ_FRESH);
  CHECK_INT(sp_seq_classify(&t, 0xFFFFFFFFu), SP_SEQ_DUPLICATE);
  CHECK_INT(sp_seq_classify(&t, 1000u), SP_SEQ_FRESH);
  CHECK_INT(sp_seq_classify(&t, 0u), SP_SEQ_STALE);  // beyond the 64-packet window
  CHECK_INT(t.lost, 999);
  sp_seq_reset(&t);
  CHECK_INT(sp_seq_classify(&t, 5u), SP_SEQ_FRESH);  // a new session starts anywhere
}

TEST(one_frame_far_ahead_is_suspect_and_does_not_make_later_frames_stale) {
  sp_seq_tracker t = {0};
  CHECK_INT(sp_seq_classify(&t, 100u), SP_SEQ_FRESH);
  CHECK_INT(sp_seq_classify(&t, 100u + SP_SEQ_JUMP_MAX), SP_SEQ_FRESH);  // the largest jump
  CHECK_INT(sp_seq_classify(&t, 101u + 2 * SP_SEQ_JUMP_MAX), SP_SEQ_SUSPECT);
  CHECK_INT(sp_seq_classify(&t, 0x80000000u), SP_SEQ_SUSPECT);
  CHECK_INT(t.suspect, 2);
  // the ordinary numbering carries on: nothing was adopted
  CHECK_INT(sp_seq_classify(&t, 101u + SP_SEQ_JUMP_MAX), SP_SEQ_FRESH);
  CHECK_INT(t.last, 101u + SP_SEQ_JUMP_MAX);
}

TEST(a_far_jump_confirmed_by_the_following_frames_is_adopted) {
  sp_seq_tracker t = {0};
  CHECK_INT(sp_seq_classify(&t, 7u), SP_SEQ_FRESH);
  // a link that lost a million frames: three in a row continue the jump
  CHECK_INT(sp_seq_classify(&t, 1000007u), SP_SEQ_SUSPECT);
  CHECK_INT(sp_seq_classify(&t, 1000008u), SP_SEQ_SUSPECT);
  CHECK_INT(sp_seq_classify(&t, 1000010u), SP_SEQ_FRESH);  // one lost between: still continuous
  CHECK_INT(t.last, 1000010u);
  CHECK_INT(sp_seq_classify(&t, 1000011u), SP_SEQ_FRESH);
  CHECK_INT(sp_seq_classify(&t, 1000008u), SP_SEQ_STALE);
  // scattered far frames never confirm each other
  CHECK_INT(sp_seq_classify(&t, 3000000u), SP_SEQ_SUSPECT);
  CHECK_INT(sp_seq_classify(&t, 5000000u), SP_SEQ_SUSPECT);
  CHECK_INT(sp_seq_classify(&t, 7000000u), SP_SEQ_SUSPECT);
  CHECK_INT(t.last, 1000011u);
}

TEST_MAIN()
