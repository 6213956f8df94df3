// udp_link.h: one end of a protocol link over UDP (docs/protocol.md): what both the host's "udp"
// plant backend and the robot-side bridge do with datagrams. Receiving: decode, check the sender,
// classify the sequence number, and count every drop by its reason; sending: stamp sequence
// number and timestamps (t_echo for the peer's round-trip estimate) and send without blocking.
// Round-trip times come from the echo timestamps: now - t_echo of each accepted frame.
//
// Threads: the link's I/O (sp__udp_link_* functions) runs on one thread, the owner's libuv loop;
// the counters are atomics, so sp_udp_stats_get may be called from any thread at any time.
#ifndef SP_HAL_UDP_LINK_H
#define SP_HAL_UDP_LINK_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "engine/core/export.h"
#include "hal/protocol.h"

SP_API_BEGIN

// Why a datagram was dropped (never acted on).
typedef enum sp_udp_drop {
  SP_UDP_DROP_MALFORMED = 0,   // failed decoding: truncated, oversized, bad magic, length, fields
  SP_UDP_DROP_CRC = 1,         // checksum mismatch: corrupted in transit
  SP_UDP_DROP_VERSION = 2,     // a protocol version this side does not speak
  SP_UDP_DROP_DUPLICATE = 3,   // a sequence number already seen
  SP_UDP_DROP_STALE = 4,       // out of order or late: older than what was already accepted
  SP_UDP_DROP_FOREIGN = 5,     // from an address that is not the session's peer
  SP_UDP_DROP_UNEXPECTED = 6,  // valid, but not meaningful here (direction, vector size, phase)
  SP_UDP_DROP_COUNT = 7,
} sp_udp_drop;

// Counters of one link end (all since the link was created).
typedef struct sp_udp_stats {
  uint64_t received;                    // datagrams read from the socket
  uint64_t accepted;                    // frames acted on
  uint64_t dropped[SP_UDP_DROP_COUNT];  // by reason
  uint64_t dropped_total;
  uint64_t lost;         // peer sequence numbers never seen (gaps skipped by fresh frames)
  uint64_t sent;         // frames sent
  uint64_t send_errors;  // frames the socket refused (would block, unreachable)
  uint64_t rtt_samples;  // round-trip estimates taken (frames with an echo timestamp)
  double rtt_last_us, rtt_mean_us, rtt_p50_us, rtt_p99_us, rtt_max_us;
  double since_rx_s;  // seconds since the last accepted frame (INFINITY if none)
} sp_udp_stats;

// Name of a drop reason ("crc"), "unknown" otherwise.
const char* sp_udp_drop_name(int reason);

// ---- internal: shared by hal/backend_udp.c and hal/bridge.c ------------------------------------

#define SP__RTT_BUCKETS 20000  // 1 us buckets up to 20 ms, the last collects everything above

typedef atomic_uint_fast64_t sp__counter;

typedef struct sp__udp_link {
  uv_udp_t* sock;                // the owner's socket (I/O thread)
  struct sockaddr_storage peer;  // where frames go
  int have_peer;
  sp_seq_tracker trk;  // peer's sequence numbers
  uint32_t tx_seq;     // next sequence number to send
  int64_t echo_ns;     // t_send of the latest frame accepted from the peer
  uint16_t tx_flags;   // header flags to send (SP_PROTO_HFLAG_ESTOP)
  sp__counter received, accepted, dropped[SP_UDP_DROP_COUNT], sent, send_errors, lost;
  sp__counter rtt_n, rtt_sum, rtt_max, rtt_last, last_rx_ns, last_tx_ns;
  atomic_uint_fast32_t rtt_hist[SP__RTT_BUCKETS + 1];
  uint8_t tx[SP_PROTO_MAX_FRAME];  // encode buffer
} sp__udp_link;

// Monotonic clock (ns), the one every timestamp on the wire uses.
int64_t sp__now_ns(void);
// Zero everything; sock is the socket frames are sent on.
void sp__udp_link_init(sp__udp_link* k, uv_udp_t* sock);
void sp__udp_link_set_peer(sp__udp_link* k, const struct sockaddr* addr);
int sp__udp_addr_equal(const struct sockaddr* a, const struct sockaddr* b);
// "127.0.0.1:9870" (or "[::1]:9870") into out.
void sp__udp_addr_format(char* out, size_t n, const struct sockaddr* a);
// Parse "HOST:PORT" / "[V6]:PORT" (HOST numeric or "localhost") into addr; 0 or SP_EINVAL.
int sp__udp_addr_parse(struct sockaddr_storage* addr, const char* s);

// A datagram arrived (nread bytes, from addr, libuv's flags): decode it into m and classify it.
// Returns 0 when it was dropped (and counted), 1 when m is a candidate the owner may act on (its
// sequence class in *seq_class), 2 when it is a HELLO from a new sender that became the peer (only
// with hello_from_any; the peer's numbering starts over). Frames from other senders are foreign.
// Duplicates and stale frames are dropped unless they are HELLO, CONFIG or ESTOP (acted on even
// when not fresh, docs/protocol.md).
int sp__udp_link_recv(sp__udp_link* k, sp_proto_msg* m, const uint8_t* buf, ssize_t nread,
                      const struct sockaddr* addr, unsigned flags, int hello_from_any,
                      int* seq_class);
// The owner acted on m: count it, remember its t_send for echoes, take a round-trip sample.
void sp__udp_link_accept(sp__udp_link* k, const sp_proto_msg* m);
// The owner refused a candidate: count it under reason.
void sp__udp_link_drop(sp__udp_link* k, sp_udp_drop reason);

// Send a frame to the peer; each fills the header (seq, t_send, t_echo, flags). 0 or an error
// (counted); never blocks (uv_udp_try_send).
int sp__udp_link_send_hello(sp__udp_link* k, int type, const sp_proto_hello* hello);
int sp__udp_link_send_state(sp__udp_link* k, int64_t t_ns, uint32_t status, const double* x, int n);
int sp__udp_link_send_command(sp__udp_link* k, const double* u, int n);
int sp__udp_link_send_heartbeat(sp__udp_link* k);
int sp__udp_link_send_estop(sp__udp_link* k, uint32_t reason);
// Nanoseconds since the last frame sent (INT64_MAX if none).
int64_t sp__udp_link_idle_ns(sp__udp_link* k, int64_t now);

void sp__udp_link_stats(sp__udp_link* k, sp_udp_stats* out);

SP_API_END

#endif  // SP_HAL_UDP_LINK_H
