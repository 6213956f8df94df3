// protocol.h: the spinal HAL wire protocol, version 1 (specified byte by byte in docs/protocol.md).
//
// A frame is a 32-byte header, a payload and a CRC-32 (IEEE, as zlib) over header and payload.
// Every field is little-endian and encoded byte by byte, so the code is independent of the host's
// endianness, alignment and struct padding. This header and protocol.c depend only on the C
// standard library and engine/core/crc32.h, so a firmware author can copy the three files.
//
// Return codes: encoders return the number of bytes written or a negative SP_PROTO_E* code;
// the decoder returns 0 or one distinct SP_PROTO_E* code per kind of failure. The codes live
// below -100 so they never collide with the engine's SP_E* table.
#ifndef SP_HAL_PROTOCOL_H
#define SP_HAL_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"

SP_API_BEGIN

#define SP_PROTO_VERSION 1
#define SP_PROTO_MAGIC0 0x53  // 'S'
#define SP_PROTO_MAGIC1 0x50  // 'P'
#define SP_PROTO_MAGIC2 0x4E  // 'N'
#define SP_PROTO_MAGIC3 0x4C  // 'L'
#define SP_PROTO_HEADER_SIZE 32
#define SP_PROTO_CRC_SIZE 4

// Limits a receiver enforces; firmware with little memory may lower them at compile time.
#ifndef SP_PROTO_MAX_DIM
#define SP_PROTO_MAX_DIM 64  // longest state or action vector
#endif
#ifndef SP_PROTO_MAX_NAME
#define SP_PROTO_MAX_NAME 32  // name buffer size, including the terminating NUL
#endif
#define SP_PROTO_MAX_PAYLOAD 8192
#define SP_PROTO_MAX_FRAME (SP_PROTO_HEADER_SIZE + SP_PROTO_MAX_PAYLOAD + SP_PROTO_CRC_SIZE)

// message types
enum {
  SP_PROTO_HELLO = 1,      // host -> robot: start a session, propose rate and watchdog
  SP_PROTO_CONFIG = 2,     // robot -> host: sizes, names, rate, watchdog actually in force
  SP_PROTO_STATE = 3,      // robot -> host: timestamped state vector and status
  SP_PROTO_COMMAND = 4,    // host -> robot: action vector
  SP_PROTO_HEARTBEAT = 5,  // either way: keeps the watchdog fed, carries timestamps for RTT
  SP_PROTO_ESTOP = 6,      // either way: latch the emergency stop
};

// header flags (all other bits are reserved and must be zero in version 1)
#define SP_PROTO_HFLAG_ESTOP 0x0001u  // the sender's e-stop is latched

// STATE status bits
#define SP_PROTO_STATUS_WATCHDOG 0x0001u   // robot watchdog tripped (no commands in time)
#define SP_PROTO_STATUS_SAFE_STOP 0x0002u  // robot is applying its safe command
#define SP_PROTO_STATUS_ESTOP 0x0004u      // robot e-stop latched
#define SP_PROTO_STATUS_FAULT 0x0008u      // robot-side fault (sensor, driver, limit)

// ESTOP reasons
enum {
  SP_PROTO_ESTOP_UNSPECIFIED = 0,
  SP_PROTO_ESTOP_OPERATOR = 1,
  SP_PROTO_ESTOP_WATCHDOG = 2,
  SP_PROTO_ESTOP_FAULT = 3,
};

// return codes
enum {
  SP_PROTO_ETRUNCATED = -101,  // fewer bytes than the header or its payload length need
  SP_PROTO_EOVERSIZED = -102,  // frame or declared payload longer than SP_PROTO_MAX_*
  SP_PROTO_EMAGIC = -103,      // first four bytes are not "SPNL"
  SP_PROTO_EVERSION = -104,    // a protocol version this code does not speak
  SP_PROTO_ECRC = -105,        // checksum mismatch
  SP_PROTO_ELENGTH = -106,     // bytes after the checksum: datagram longer than the frame
  SP_PROTO_ETYPE = -107,       // unknown message type
  SP_PROTO_EFLAGS = -108,      // reserved header flag or payload field not zero
  SP_PROTO_EPAYLOAD = -109,    // payload length does not match its contents for the type
  SP_PROTO_EVECTOR = -110,     // vector longer than SP_PROTO_MAX_DIM
  SP_PROTO_ENAME = -111,       // name too long for SP_PROTO_MAX_NAME or containing NUL
  SP_PROTO_ESPACE = -112,      // (encode) output buffer too small
  SP_PROTO_EINVAL = -113,      // (encode) invalid argument
};

typedef struct sp_proto_header {
  uint8_t version;       // SP_PROTO_VERSION
  uint8_t type;          // SP_PROTO_*
  uint16_t flags;        // SP_PROTO_HFLAG_*
  uint32_t seq;          // per-sender sequence number, +1 per frame, wraps
  uint32_t payload_len;  // bytes of payload (filled by the encoder)
  int64_t t_send_ns;     // sender's clock when the frame was sent
  int64_t t_echo_ns;     // t_send_ns of the latest frame received from the peer, 0 if none
} sp_proto_header;

// HELLO and CONFIG share one payload
typedef struct sp_proto_hello {
  uint16_t proto_version;        // highest protocol version the sender speaks
  uint16_t nx, nu;               // state and action sizes (HELLO may send 0: not yet known)
  double rate_hz;                // control rate
  uint32_t watchdog_ms;          // robot watchdog timeout
  char name[SP_PROTO_MAX_NAME];  // robot name, NUL-terminated
  char x_names[SP_PROTO_MAX_DIM][SP_PROTO_MAX_NAME];  // (nx) state names
  char u_names[SP_PROTO_MAX_DIM][SP_PROTO_MAX_NAME];  // (nu) action names
} sp_proto_hello;

typedef struct sp_proto_msg {
  sp_proto_header h;
  union {
    sp_proto_hello hello;  // HELLO, CONFIG
    struct {
      int64_t t_ns;     // measurement time, robot clock
      uint32_t status;  // SP_PROTO_STATUS_*
      int n;
      double x[SP_PROTO_MAX_DIM];  // (n)
    } state;
    struct {
      int n;
      double u[SP_PROTO_MAX_DIM];  // (n)
    } command;
    struct {
      uint32_t reason;  // SP_PROTO_ESTOP_*
    } estop;
  } body;
} sp_proto_msg;

// Encoders. h gives type-independent fields (flags, seq, timestamps); its version, type and
// payload_len are ignored and written by the encoder. Return bytes written (<= cap) or SP_PROTO_E*.
int sp_proto_encode_hello(uint8_t* buf, size_t cap, const sp_proto_header* h, int type,
                          const sp_proto_hello* hello);
int sp_proto_encode_state(uint8_t* buf, size_t cap, const sp_proto_header* h, int64_t t_ns,
                          uint32_t status, const double* x, int n);
int sp_proto_encode_command(uint8_t* buf, size_t cap, const sp_proto_header* h, const double* u,
                            int n);
int sp_proto_encode_heartbeat(uint8_t* buf, size_t cap, const sp_proto_header* h);
int sp_proto_encode_estop(uint8_t* buf, size_t cap, const sp_proto_header* h, uint32_t reason);
// Encode any message: dispatches on m->h.type.
int sp_proto_encode(uint8_t* buf, size_t cap, const sp_proto_msg* m);

// Decode one datagram of len bytes into m. Returns 0 or the SP_PROTO_E* code of the first check
// that failed; m is unspecified on failure. Checks, in order: length against the header and the
// maximum, magic, version, declared payload length (oversized, truncated, trailing bytes), CRC,
// flags, type, then the payload's own structure.
int sp_proto_decode(sp_proto_msg* m, const uint8_t* buf, size_t len);

// Message for any SP_PROTO_E* code ("unknown protocol error" otherwise); never NULL.
const char* sp_proto_strerror(int code);
// Name of a message type ("STATE"), "UNKNOWN" for others.
const char* sp_proto_type_name(int type);

// Receiver-side sequence tracker: classifies each arriving sequence number as fresh (newer than
// anything seen), duplicate (seen already, within the last 64) or stale (older than the newest
// and not a duplicate: reordered or delayed). Only fresh packets should be acted on. Comparison
// is modulo 2^32 (RFC 1982 serial arithmetic), so wrap-around is handled.
enum { SP_SEQ_FRESH = 0, SP_SEQ_DUPLICATE = 1, SP_SEQ_STALE = 2 };

typedef struct sp_seq_tracker {
  uint32_t last;                     // newest sequence number accepted
  uint64_t window;                   // bit i set: last - i has been seen
  int started;                       // 0 until the first packet
  uint64_t fresh, duplicate, stale;  // counters by class
  uint64_t lost;                     // sequence numbers skipped over by fresh packets (never seen)
} sp_seq_tracker;

// Forget everything (a new session, e.g. after HELLO/CONFIG); counters are kept unless zeroed.
void sp_seq_reset(sp_seq_tracker* t);
// Classify seq and update counters; returns SP_SEQ_FRESH, SP_SEQ_DUPLICATE or SP_SEQ_STALE.
int sp_seq_classify(sp_seq_tracker* t, uint32_t seq);

SP_API_END

#endif  // SP_HAL_PROTOCOL_H
