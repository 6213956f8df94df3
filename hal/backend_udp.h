// backend_udp.h: the "udp" plant backend: a robot (firmware or `spinal bridge`) over the HAL wire
// protocol (docs/protocol.md), URI udp://HOST:PORT.
//
// A dedicated I/O thread runs a libuv loop with the socket, so read and write on the control
// thread never block: the I/O thread decodes STATE frames into a latest-state slot (a seqlock of
// atomic words: read copies it, retrying while a state is being published) and sends the
// COMMANDs that write queues (a single-producer ring, then uv_async_send to wake the loop).
//
// configure is the handshake: HELLO every 100 ms until CONFIG arrives or timeout_s passes
// (SP_ETIMEOUT, "no CONFIG from udp://HOST:PORT ..."). The robot's sizes and names are checked
// against the expected ones given in the config (SP_EMISMATCH naming the first difference), and
// become the plant's capabilities. read returns the latest accepted state with the robot's
// measurement time and its status bits as SP_FLAG_PLANT_* (SP_ENOTFOUND before the first state);
// a robot that stops sending leaves the timestamp unchanged, which is what the safety filter's
// watchdog sees. write queues one COMMAND (SP_EIO when 16 are already waiting).
//
// Lockstep: against a robot stepped per command (`spinal bridge` without --realtime), a lockstep
// loop can wait for each answer: with wait_s > 0, read waits (polling, at most wait_s) until a
// state it has not returned yet has arrived, so each tick sees the state its previous command
// produced and a rollout is as deterministic as on the plant itself; none within wait_s returns
// SP_ETIMEOUT (the robot stopped answering: never the old state as if it were the answer). A read
// with nothing sent since the last new state returns the latest at once. Leave wait_s 0 for
// real-time loops, where read must never wait.
//
// Heartbeats: the I/O thread sends HEARTBEAT when nothing else went out for heartbeat_s (by
// default a quarter of the watchdog time in the robot's CONFIG, 50 ms if it reports none). After
// deactivate it sends nothing at all, so the robot's watchdog applies its safe command; activate
// sends a new HELLO (a new session, which re-arms a robot whose watchdog tripped).
//
// Counters (sp_plant_udp_stats, any thread): received, accepted, dropped per reason, lost, RTT.
#ifndef SP_HAL_BACKEND_UDP_H
#define SP_HAL_BACKEND_UDP_H

#include <stdint.h>

#include "engine/core/export.h"
#include "hal/hal.h"
#include "hal/udp_link.h"

SP_API_BEGIN

typedef struct sp_plant_udp_config {
  const char* robot;           // expected robot name, NULL: any
  int nx, nu;                  // expected sizes, 0: any
  const char* const* x_names;  // (nx) expected state names, NULL: any
  const char* const* u_names;  // (nu) expected action names, NULL: any
  double rate_hz;              // rate asked for in HELLO, 0: the robot's
  double watchdog_s;           // robot watchdog asked for in HELLO, 0: the robot's
  double timeout_s;            // handshake timeout, 0: 2 s
  double heartbeat_s;          // idle time before a HEARTBEAT, 0: the robot's watchdog / 4
  double wait_s;               // lockstep: read waits up to this for a new state after a command
                               // (SP_ETIMEOUT without one), 0: never
} sp_plant_udp_config;

// Link counters of a configured udp plant. SP_EINVAL if p is not a udp plant.
int sp_plant_udp_stats(const sp_plant* p, sp_udp_stats* out);
// Robot status bits (SP_PROTO_STATUS_*) of the latest accepted state. SP_EINVAL if not udp.
int sp_plant_udp_status(const sp_plant* p, uint32_t* status);
// Start a new session (HELLO): the robot clears a tripped watchdog or e-stop and waits, applying
// its safe command, for the next command. Any thread.
int sp_plant_udp_rearm(sp_plant* p);
// Send ESTOP (three times, as the protocol asks) with reason SP_PROTO_ESTOP_*. Any thread.
int sp_plant_udp_estop(sp_plant* p, uint32_t reason);

SP_API_END

#endif  // SP_HAL_BACKEND_UDP_H
