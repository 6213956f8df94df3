// telemetry.h: live telemetry of a running control loop, as JSON datagrams over UDP.
//
// A thread of its own (never the control thread) wakes at a fixed rate, reads the loop's latest
// tick through its seqlock snapshot (sp_loop_latest, which never makes the control thread wait)
// and, when a new tick has been published since the last datagram, sends one JSON object per
// datagram in the form PlotJuggler's "UDP Server" with the JSON parser reads:
//   {"t":1.23,"k":123,"x":{"th1":0.01,"th2":0.0,...},"u":{"tau1":0.5,...},"flags":0}
// Nested objects become the series /x/th1, /u/tau1 there; choose "t" as the timestamp field.
// Non-finite numbers are sent as null (JSON has no NaN). Sending never blocks the loop: a full
// socket buffer drops the datagram (counted).
#ifndef SP_HAL_TELEMETRY_H
#define SP_HAL_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"
#include "hal/loop.h"

SP_API_BEGIN

typedef struct sp_telemetry sp_telemetry;

typedef struct sp_telemetry_config {
  const char* host;  // destination host or address; NULL: "127.0.0.1"
  int port;          // destination UDP port; 0: 9870
  double rate_hz;    // datagrams per second at most; 0: 50 (range (0, 1000])
  int nx, nu;        // sizes of the loop's state and command
  const char* const* x_names;  // (nx) names of the state entries; NULL: x0, x1, ...
  const char* const* u_names;  // (nu) names of the command entries; NULL: u0, u1, ...
} sp_telemetry_config;

// Resolve the destination, open the socket and start the sender thread over loop l (borrowed:
// it must outlive the telemetry). msg names the problem on failure.
int sp_telemetry_new(sp_telemetry** out, const sp_loop* l, const sp_telemetry_config* c, char* msg,
                     size_t msglen);
// Stop the thread, close the socket. Safe on NULL.
void sp_telemetry_free(sp_telemetry* t);
// Datagrams sent and dropped (send failed) so far (any thread).
uint64_t sp_telemetry_sent(const sp_telemetry* t);
uint64_t sp_telemetry_dropped(const sp_telemetry* t);
// Format one datagram into buf (JSON, NUL-terminated); returns its length, or -1 if it does not
// fit. x (nx), u (nu) with the config's names.
int sp_telemetry_format(char* buf, size_t cap, const sp_telemetry_config* c, double t, long k,
                        const double* x, const double* u, uint32_t flags);

SP_API_END

#endif  // SP_HAL_TELEMETRY_H
