// bridge.h: serve any plant over the HAL wire protocol (docs/protocol.md): the robot's side of
// the link, what `spinal bridge` runs and what robot firmware does.
//
// Two pacing modes:
//   realtime  a pacing thread steps the plant at a fixed rate (absolute deadlines on
//             CLOCK_MONOTONIC), with the latest command or the safe command, and sends a STATE
//             after every step: the plant behaves like hardware that does not wait for anyone;
//   lockstep  every fresh COMMAND steps the plant once and is answered by one STATE: simulated
//             time advances only when the host commands (tests, deterministic runs).
// An I/O thread runs a libuv loop with the socket and a 1 ms timer (watchdog, heartbeats).
//
// Session: a HELLO from anyone starts a session with its sender (the peer): the robot answers
// with CONFIG (its names, sizes, rate and the watchdog in force) and, in lockstep mode, the
// current STATE. Until the first fresh COMMAND the safe command is applied (SAFE_STOP reported).
// A repeated HELLO (duplicate or late, same sender) is answered with CONFIG but does not start
// a new session, so a delayed copy can never re-arm a tripped watchdog.
//
// Watchdog: once a COMMAND has arrived, if no fresh COMMAND or HEARTBEAT arrives for the watchdog
// time the bridge applies the safe command at once (lockstep: one step with it, answered by a
// STATE), reports WATCHDOG | SAFE_STOP in every STATE and ignores commands until the next fresh
// HELLO: recovery needs an explicit re-arm by the host (sp_plant_udp_rearm; activate after a
// deactivate does it). ESTOP latches the same way with ESTOP | SAFE_STOP. Heartbeats go out when
// nothing was sent for a quarter of the watchdog time. The watchdog a HELLO asks for is bounded by
// watchdog_max_s (a host cannot switch it off with 0xffffffff ms).
//
// Commands: every command passes the robot's own safety filter (hal/safety.h) before it reaches
// the plant, whatever the host claims to have filtered: a non-finite command is replaced by the
// safe command (status REJECTED | SAFE_STOP, counted), one outside the limits is clamped or rate
// limited (status LIMITED, counted). The safe command itself is the safe behaviour when one is
// configured (a controller on the last state), else the constant u_safe.
//
// GOODBYE: the host leaves on purpose; the bridge applies the safe command, ends the session
// without a watchdog trip and waits for the next HELLO.
#ifndef SP_HAL_BRIDGE_H
#define SP_HAL_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"
#include "hal/hal.h"
#include "hal/safety.h"
#include "hal/udp_link.h"

SP_API_BEGIN

typedef struct sp_bridge sp_bridge;

typedef struct sp_bridge_config {
  const char* listen;      // "HOST:PORT" to bind; port 0 picks a free port (sp_bridge_port)
  int realtime;            // 1: paced at rate_hz; 0: lockstep, one step per fresh COMMAND
  double rate_hz;          // 0: the plant's rate
  double watchdog_s;       // > 0: in force whatever the host asks; 0: the host's request or 0.2 s
  const double* u_safe;    // (nu) the robot's safe command, NULL: zeros
  const char* robot;       // name sent in CONFIG, NULL: the plant's
  const double* u_min;     // (nu) command limits, NULL: the plant's (caps), else none
  const double* u_max;     // (nu)
  const double* rate_max;  // (nu) max |du/dt| per second, NULL: none
  double watchdog_max_s;   // > 0: the longest watchdog a HELLO may ask for; 0: 1 s
  sp_safe_fn safe_act;     // optional safe behaviour (hal/safety.h), on the plant's thread
  void* safe_user;
  int reset_on_session;  // lockstep only, a plant that can reset: each new session (a fresh
                         // HELLO) starts the robot from its initial state, as a person would
                         // stand a fallen robot up (a host over udp cannot reset it)
} sp_bridge_config;

typedef struct sp_bridge_stats {
  sp_udp_stats link;    // the robot side's link counters
  uint64_t steps;       // plant steps
  uint64_t commands;    // fresh commands received
  uint64_t safe_steps;  // steps taken with the safe command
  uint64_t sessions;    // sessions started (fresh HELLOs)
  uint64_t watchdog_trips;
  double last_trip_silence_s;  // silence that preceded the latest trip (NaN if none)
  double watchdog_s;           // the watchdog time in force
  double watchdog_asked_s;     // what the latest HELLO asked for (0: nothing)
  uint64_t rejected;           // non-finite commands replaced by the safe command
  uint64_t limited;            // commands outside the limits (clamped)
  uint64_t goodbyes;           // sessions the host ended with GOODBYE
  uint64_t resets;             // sessions that reset the plant (reset_on_session)
  uint32_t status;             // SP_PROTO_STATUS_* currently reported
  int port;                    // the bound port
} sp_bridge_stats;

// Bind, activate the plant (configured or active; borrowed, it must outlive the bridge) and start
// serving. msg names the problem (bad address, port in use, size limits) on failure.
int sp_bridge_new(sp_bridge** out, sp_plant* plant, const sp_bridge_config* c, char* msg,
                  size_t msglen);
// Stop serving, join the threads, close every handle and give the plant the safe command. Safe on
// NULL.
void sp_bridge_free(sp_bridge* b);
// The bound UDP port.
int sp_bridge_port(const sp_bridge* b);
void sp_bridge_stats_get(const sp_bridge* b, sp_bridge_stats* out);

SP_API_END

#endif  // SP_HAL_BRIDGE_H
