// protocol.c: encoder, decoder and sequence tracker for the HAL wire protocol v1.
//
// The format is specified in docs/protocol.md. Every multi-byte field is written and read one
// byte at a time in little-endian order; doubles travel as their IEEE 754 binary64 bit pattern.
// Self-contained: needs only the C library and engine/core/crc32.h (copy both for firmware).
#include "hal/protocol.h"

#include <string.h>

#include "engine/core/crc32.h"

// ---- little-endian byte access ----------------------------------------------------------------

static void put_u16(uint8_t* p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_f64(uint8_t* p, double d) {
  uint64_t v;
  memcpy(&v, &d, 8);
  put_u64(p, v);
}

static uint16_t get_u16(const uint8_t* p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}

static uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static double get_f64(const uint8_t* p) {
  uint64_t v = get_u64(p);
  double d;
  memcpy(&d, &v, 8);
  return d;
}

// ---- framing ----------------------------------------------------------------------------------

// write the header for a payload of plen bytes; the caller has checked the capacity
static void put_header(uint8_t* buf, const sp_proto_header* h, int type, uint32_t plen) {
  buf[0] = SP_PROTO_MAGIC0;
  buf[1] = SP_PROTO_MAGIC1;
  buf[2] = SP_PROTO_MAGIC2;
  buf[3] = SP_PROTO_MAGIC3;
  buf[4] = SP_PROTO_VERSION;
  buf[5] = (uint8_t)type;
  put_u16(buf + 6, h->flags);
  put_u32(buf + 8, h->seq);
  put_u32(buf + 12, plen);
  put_u64(buf + 16, (uint64_t)h->t_send_ns);
  put_u64(buf + 24, (uint64_t)h->t_echo_ns);
}

// append the CRC over header and payload; returns the frame length
static int seal(uint8_t* buf, uint32_t plen) {
  size_t n = SP_PROTO_HEADER_SIZE + plen;
  put_u32(buf + n, sp_crc32(0, buf, n));
  return (int)(n + SP_PROTO_CRC_SIZE);
}

// common argument checks; returns 0 or a code
static int check_out(const uint8_t* buf, size_t cap, const sp_proto_header* h, size_t plen) {
  if (!buf || !h) return SP_PROTO_EINVAL;
  if (h->flags & ~SP_PROTO_HFLAG_ESTOP) return SP_PROTO_EFLAGS;
  if (plen > SP_PROTO_MAX_PAYLOAD) return SP_PROTO_EOVERSIZED;
  if (cap < SP_PROTO_HEADER_SIZE + plen + SP_PROTO_CRC_SIZE) return SP_PROTO_ESPACE;
  return 0;
}

// ---- encoders ---------------------------------------------------------------------------------

static int name_len(const char* s, size_t* n) {
  size_t k = strnlen(s, SP_PROTO_MAX_NAME);
  if (k >= SP_PROTO_MAX_NAME) return SP_PROTO_ENAME;
  *n = k;
  return 0;
}

int sp_proto_encode_hello(uint8_t* buf, size_t cap, const sp_proto_header* h, int type,
                          const sp_proto_hello* hello) {
  if (!hello || (type != SP_PROTO_HELLO && type != SP_PROTO_CONFIG)) return SP_PROTO_EINVAL;
  if (hello->nx > SP_PROTO_MAX_DIM || hello->nu > SP_PROTO_MAX_DIM) return SP_PROTO_EVECTOR;

  // payload size: fixed part, then one length-prefixed string per name
  size_t plen = 20, k;
  int rc = name_len(hello->name, &k);
  if (rc) return rc;
  plen += 1 + k;
  for (int i = 0; i < hello->nx; i++) {
    if ((rc = name_len(hello->x_names[i], &k))) return rc;
    plen += 1 + k;
  }
  for (int i = 0; i < hello->nu; i++) {
    if ((rc = name_len(hello->u_names[i], &k))) return rc;
    plen += 1 + k;
  }
  if ((rc = check_out(buf, cap, h, plen))) return rc;

  put_header(buf, h, type, (uint32_t)plen);
  uint8_t* p = buf + SP_PROTO_HEADER_SIZE;
  put_u16(p, hello->proto_version);
  put_u16(p + 2, hello->nx);
  put_u16(p + 4, hello->nu);
  put_u16(p + 6, 0);
  put_f64(p + 8, hello->rate_hz);
  put_u32(p + 16, hello->watchdog_ms);
  p += 20;
  for (int i = -1; i < hello->nx + hello->nu; i++) {
    const char* s = i < 0           ? hello->name
                    : i < hello->nx ? hello->x_names[i]
                                    : hello->u_names[i - hello->nx];
    size_t n = strnlen(s, SP_PROTO_MAX_NAME);
    *p++ = (uint8_t)n;
    memcpy(p, s, n);
    p += n;
  }
  return seal(buf, (uint32_t)plen);
}

int sp_proto_encode_state(uint8_t* buf, size_t cap, const sp_proto_header* h, int64_t t_ns,
                          uint32_t status, const double* x, int n) {
  if (n < 0 || (n > 0 && !x)) return SP_PROTO_EINVAL;
  if (n > SP_PROTO_MAX_DIM) return SP_PROTO_EVECTOR;
  size_t plen = 16 + 8 * (size_t)n;
  int rc = check_out(buf, cap, h, plen);
  if (rc) return rc;
  put_header(buf, h, SP_PROTO_STATE, (uint32_t)plen);
  uint8_t* p = buf + SP_PROTO_HEADER_SIZE;
  put_u64(p, (uint64_t)t_ns);
  put_u32(p + 8, status);
  put_u16(p + 12, (uint16_t)n);
  put_u16(p + 14, 0);
  for (int i = 0; i < n; i++) put_f64(p + 16 + 8 * i, x[i]);
  return seal(buf, (uint32_t)plen);
}

int sp_proto_encode_command(uint8_t* buf, size_t cap, const sp_proto_header* h, const double* u,
                            int n) {
  if (n < 0 || (n > 0 && !u)) return SP_PROTO_EINVAL;
  if (n > SP_PROTO_MAX_DIM) return SP_PROTO_EVECTOR;
  size_t plen = 4 + 8 * (size_t)n;
  int rc = check_out(buf, cap, h, plen);
  if (rc) return rc;
  put_header(buf, h, SP_PROTO_COMMAND, (uint32_t)plen);
  uint8_t* p = buf + SP_PROTO_HEADER_SIZE;
  put_u16(p, (uint16_t)n);
  put_u16(p + 2, 0);
  for (int i = 0; i < n; i++) put_f64(p + 4 + 8 * i, u[i]);
  return seal(buf, (uint32_t)plen);
}

int sp_proto_encode_heartbeat(uint8_t* buf, size_t cap, const sp_proto_header* h) {
  int rc = check_out(buf, cap, h, 0);
  if (rc) return rc;
  put_header(buf, h, SP_PROTO_HEARTBEAT, 0);
  return seal(buf, 0);
}

int sp_proto_encode_goodbye(uint8_t* buf, size_t cap, const sp_proto_header* h) {
  int rc = check_out(buf, cap, h, 0);
  if (rc) return rc;
  put_header(buf, h, SP_PROTO_GOODBYE, 0);
  return seal(buf, 0);
}

int sp_proto_encode_estop(uint8_t* buf, size_t cap, const sp_proto_header* h, uint32_t reason) {
  int rc = check_out(buf, cap, h, 4);
  if (rc) return rc;
  put_header(buf, h, SP_PROTO_ESTOP, 4);
  put_u32(buf + SP_PROTO_HEADER_SIZE, reason);
  return seal(buf, 4);
}

int sp_proto_encode(uint8_t* buf, size_t cap, const sp_proto_msg* m) {
  if (!m) return SP_PROTO_EINVAL;
  switch (m->h.type) {
    case SP_PROTO_HELLO:
    case SP_PROTO_CONFIG:
      return sp_proto_encode_hello(buf, cap, &m->h, m->h.type, &m->body.hello);
    case SP_PROTO_STATE:
      return sp_proto_encode_state(buf, cap, &m->h, m->body.state.t_ns, m->body.state.status,
                                   m->body.state.x, m->body.state.n);
    case SP_PROTO_COMMAND:
      return sp_proto_encode_command(buf, cap, &m->h, m->body.command.u, m->body.command.n);
    case SP_PROTO_HEARTBEAT:
      return sp_proto_encode_heartbeat(buf, cap, &m->h);
    case SP_PROTO_ESTOP:
      return sp_proto_encode_estop(buf, cap, &m->h, m->body.estop.reason);
    case SP_PROTO_GOODBYE:
      return sp_proto_encode_goodbye(buf, cap, &m->h);
    default:
      return SP_PROTO_ETYPE;
  }
}

// ---- decoder ----------------------------------------------------------------------------------

// read one length-prefixed name at *off within the payload p (plen bytes) into out
static int get_name(char* out, const uint8_t* p, uint32_t plen, uint32_t* off) {
  if (*off >= plen) return SP_PROTO_EPAYLOAD;
  uint32_t n = p[*off];
  if (n >= SP_PROTO_MAX_NAME) return SP_PROTO_ENAME;
  if (*off + 1 + n > plen) return SP_PROTO_EPAYLOAD;
  if (memchr(p + *off + 1, 0, n)) return SP_PROTO_ENAME;
  memcpy(out, p + *off + 1, n);
  out[n] = 0;
  *off += 1 + n;
  return 0;
}

static int decode_hello(sp_proto_hello* hl, const uint8_t* p, uint32_t plen) {
  if (plen < 20) return SP_PROTO_EPAYLOAD;
  hl->proto_version = get_u16(p);
  hl->nx = get_u16(p + 2);
  hl->nu = get_u16(p + 4);
  if (get_u16(p + 6) != 0) return SP_PROTO_EFLAGS;
  hl->rate_hz = get_f64(p + 8);
  hl->watchdog_ms = get_u32(p + 16);
  if (hl->nx > SP_PROTO_MAX_DIM || hl->nu > SP_PROTO_MAX_DIM) return SP_PROTO_EVECTOR;
  uint32_t off = 20;
  int rc = get_name(hl->name, p, plen, &off);
  for (int i = 0; !rc && i < hl->nx; i++) rc = get_name(hl->x_names[i], p, plen, &off);
  for (int i = 0; !rc && i < hl->nu; i++) rc = get_name(hl->u_names[i], p, plen, &off);
  if (rc) return rc;
  return off == plen ? 0 : SP_PROTO_EPAYLOAD;
}

int sp_proto_decode(sp_proto_msg* m, const uint8_t* buf, size_t len) {
  if (!m || !buf) return SP_PROTO_EINVAL;

  // envelope: size, magic, version
  if (len > SP_PROTO_MAX_FRAME) return SP_PROTO_EOVERSIZED;
  if (len < SP_PROTO_HEADER_SIZE + SP_PROTO_CRC_SIZE) return SP_PROTO_ETRUNCATED;
  if (buf[0] != SP_PROTO_MAGIC0 || buf[1] != SP_PROTO_MAGIC1 || buf[2] != SP_PROTO_MAGIC2 ||
      buf[3] != SP_PROTO_MAGIC3)
    return SP_PROTO_EMAGIC;
  if (buf[4] != SP_PROTO_VERSION) return SP_PROTO_EVERSION;

  // declared payload length against what arrived
  uint32_t plen = get_u32(buf + 12);
  if (plen > SP_PROTO_MAX_PAYLOAD) return SP_PROTO_EOVERSIZED;
  size_t need = SP_PROTO_HEADER_SIZE + (size_t)plen + SP_PROTO_CRC_SIZE;
  if (len < need) return SP_PROTO_ETRUNCATED;
  if (len > need) return SP_PROTO_ELENGTH;

  // checksum over header and payload
  size_t body = SP_PROTO_HEADER_SIZE + plen;
  if (sp_crc32(0, buf, body) != get_u32(buf + body)) return SP_PROTO_ECRC;

  // header fields
  m->h.version = buf[4];
  m->h.type = buf[5];
  m->h.flags = get_u16(buf + 6);
  m->h.seq = get_u32(buf + 8);
  m->h.payload_len = plen;
  m->h.t_send_ns = (int64_t)get_u64(buf + 16);
  m->h.t_echo_ns = (int64_t)get_u64(buf + 24);
  if (m->h.flags & ~SP_PROTO_HFLAG_ESTOP) return SP_PROTO_EFLAGS;

  // payload by type
  const uint8_t* p = buf + SP_PROTO_HEADER_SIZE;
  switch (m->h.type) {
    case SP_PROTO_HELLO:
    case SP_PROTO_CONFIG:
      return decode_hello(&m->body.hello, p, plen);
    case SP_PROTO_STATE: {
      if (plen < 16) return SP_PROTO_EPAYLOAD;
      int n = get_u16(p + 12);
      if (n > SP_PROTO_MAX_DIM) return SP_PROTO_EVECTOR;
      if (get_u16(p + 14) != 0) return SP_PROTO_EFLAGS;
      if (plen != 16 + 8 * (uint32_t)n) return SP_PROTO_EPAYLOAD;
      m->body.state.t_ns = (int64_t)get_u64(p);
      m->body.state.status = get_u32(p + 8);
      m->body.state.n = n;
      for (int i = 0; i < n; i++) m->body.state.x[i] = get_f64(p + 16 + 8 * i);
      return 0;
    }
    case SP_PROTO_COMMAND: {
      if (plen < 4) return SP_PROTO_EPAYLOAD;
      int n = get_u16(p);
      if (n > SP_PROTO_MAX_DIM) return SP_PROTO_EVECTOR;
      if (get_u16(p + 2) != 0) return SP_PROTO_EFLAGS;
      if (plen != 4 + 8 * (uint32_t)n) return SP_PROTO_EPAYLOAD;
      m->body.command.n = n;
      for (int i = 0; i < n; i++) m->body.command.u[i] = get_f64(p + 4 + 8 * i);
      return 0;
    }
    case SP_PROTO_HEARTBEAT:
    case SP_PROTO_GOODBYE:
      return plen == 0 ? 0 : SP_PROTO_EPAYLOAD;
    case SP_PROTO_ESTOP:
      if (plen != 4) return SP_PROTO_EPAYLOAD;
      m->body.estop.reason = get_u32(p);
      return 0;
    default:
      return SP_PROTO_ETYPE;
  }
}

const char* sp_proto_strerror(int code) {
  switch (code) {
    case 0:
      return "success";
    case SP_PROTO_ETRUNCATED:
      return "truncated frame";
    case SP_PROTO_EOVERSIZED:
      return "oversized frame or payload";
    case SP_PROTO_EMAGIC:
      return "bad magic (not a spinal frame)";
    case SP_PROTO_EVERSION:
      return "unsupported protocol version";
    case SP_PROTO_ECRC:
      return "CRC mismatch";
    case SP_PROTO_ELENGTH:
      return "datagram longer than its frame";
    case SP_PROTO_ETYPE:
      return "unknown message type";
    case SP_PROTO_EFLAGS:
      return "reserved bits set";
    case SP_PROTO_EPAYLOAD:
      return "payload length does not match its contents";
    case SP_PROTO_EVECTOR:
      return "vector longer than the maximum";
    case SP_PROTO_ENAME:
      return "bad name (too long or contains NUL)";
    case SP_PROTO_ESPACE:
      return "output buffer too small";
    case SP_PROTO_EINVAL:
      return "invalid argument";
    default:
      return "unknown protocol error";
  }
}

const char* sp_proto_type_name(int type) {
  switch (type) {
    case SP_PROTO_HELLO:
      return "HELLO";
    case SP_PROTO_CONFIG:
      return "CONFIG";
    case SP_PROTO_STATE:
      return "STATE";
    case SP_PROTO_COMMAND:
      return "COMMAND";
    case SP_PROTO_HEARTBEAT:
      return "HEARTBEAT";
    case SP_PROTO_ESTOP:
      return "ESTOP";
    case SP_PROTO_GOODBYE:
      return "GOODBYE";
    default:
      return "UNKNOWN";
  }
}

// ---- sequence tracker -------------------------------------------------------------------------

void sp_seq_reset(sp_seq_tracker* t) {
  t->last = 0;
  t->window = 0;
  t->started = 0;
  t->cand_n = 0;
}

int sp_seq_classify(sp_seq_tracker* t, uint32_t seq) {
  if (!t->started) {
    t->started = 1;
    t->last = seq;
    t->window = 1;
    t->fresh++;
    return SP_SEQ_FRESH;
  }
  // signed distance modulo 2^32: positive means newer than the newest seen
  int32_t d = (int32_t)(seq - t->last);
  if (d > SP_SEQ_JUMP_MAX) {
    // far ahead: adopted only when the frames that follow continue it
    uint32_t step = seq - t->cand;
    if (t->cand_n > 0 && step > 0 && step <= SP_SEQ_CONFIRM_GAP)
      t->cand_n++;
    else
      t->cand_n = 1;
    t->cand = seq;
    if (t->cand_n < SP_SEQ_CONFIRM) {
      t->suspect++;
      return SP_SEQ_SUSPECT;
    }
  }
  t->cand_n = 0;
  if (d > 0) {
    t->window = d >= 64 ? 1 : (t->window << d) | 1;
    t->lost += (uint64_t)(d - 1);
    t->last = seq;
    t->fresh++;
    return SP_SEQ_FRESH;
  }
  uint32_t back = (uint32_t)(t->last - seq);  // 0 .. 2^31
  if (back < 64 && (t->window >> back) & 1) {
    t->duplicate++;
    return SP_SEQ_DUPLICATE;
  }
  // late arrival: within the window it was counted lost, so move it from lost to stale
  if (back < 64) {
    t->window |= (uint64_t)1 << back;
    if (t->lost) t->lost--;
  }
  t->stale++;
  return SP_SEQ_STALE;
}
