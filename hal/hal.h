// hal.h: the plant interface: one lifecycle, read/write and capabilities over pluggable backends.
//
// A plant is whatever the control loop drives: an engine model standing in for a robot, a MuJoCo
// simulation, a robot over UDP, or a recorded log. Backends implement a small vtable and register
// under a URI scheme ("model", "mujoco", "udp", "replay"); sp_plant_open picks one from the URI.
//
// Lifecycle (as ROS 2 managed nodes): open -> configure -> activate <-> deactivate -> close.
//   open       parse the URI and backend config, allocate the backend        -> OPENED
//   configure  build what the backend needs (model, buffers, sockets)        -> CONFIGURED
//   activate   start accepting commands                                      -> ACTIVE
//   deactivate stop accepting commands (the backend applies its safe action) -> CONFIGURED
//   close      release everything (from any state)
// read and reset work in CONFIGURED and ACTIVE; write only in ACTIVE. Any other use returns
// SP_ESTATE and leaves the plant unchanged. read/write/reset never allocate.
//
// Time: read returns the time the state was measured in the plant's own clock (simulated time for
// simulators), in nanoseconds. Nothing here sleeps: pacing is the control loop's job.
#ifndef SP_HAL_HAL_H
#define SP_HAL_HAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"

SP_API_BEGIN

// Per-sample flags recorded with every control tick (trajectories, logs). One table for the
// whole HAL so every consumer reads the same bits.
enum {
  // set by the safety filter (hal/safety.c)
  SP_FLAG_CLAMPED = 1u << 0,       // a channel was clamped to its limits
  SP_FLAG_RATE_LIMITED = 1u << 1,  // a channel was rate limited
  SP_FLAG_NAN = 1u << 2,           // NaN/Inf in the policy's command or in the state
  SP_FLAG_WATCHDOG = 1u << 3,      // no new state within the watchdog timeout
  SP_FLAG_ESTOP = 1u << 4,         // e-stop latched
  SP_FLAG_POLICY_ERROR = 1u << 5,  // the policy callback returned an error
  SP_FLAG_SAFE = 1u << 6,          // the safe command was sent this tick (any fault)
  // set by the control loop (hal/loop.c)
  SP_FLAG_LATE = 1u << 8,          // the previous tick overran its period; deadlines were skipped
  SP_FLAG_DROPPED = 1u << 9,       // no new state this tick (read failed or state not new)
  SP_FLAG_HELD = 1u << 10,         // loop held by the operator: safe command by request
  SP_FLAG_WRITE_ERROR = 1u << 11,  // the plant refused the command
  // reported by the plant (read's status, e.g. from a robot's STATE message)
  SP_FLAG_PLANT_WATCHDOG = 1u << 16,   // the robot's own watchdog tripped
  SP_FLAG_PLANT_SAFE_STOP = 1u << 17,  // the robot is applying its safe command
  SP_FLAG_PLANT_ESTOP = 1u << 18,      // the robot's e-stop is latched
  SP_FLAG_PLANT_FAULT = 1u << 19,      // robot-side fault
  SP_FLAG_PLANT_LIMITED = 1u << 20,    // the robot clamped or rate limited the command it got
  SP_FLAG_PLANT_REJECTED = 1u << 21,   // the robot replaced a non-finite command by its safe one
};

// Limits every backend applies to its configuration; `spinal check` applies the same ones (the Lua
// binding exports them as spinal.hal.limits), so a robot file that passes check opens.
#define SP_PLANT_MAX_SUBSTEPS 10000  // integration or physics substeps per control tick
#define SP_PLANT_MAX_DELAY 100000    // command delay, in control ticks
#define SP_PLANT_MAX_INDEX 1000000   // index of a mujoco state source into its joint or sensor

typedef enum sp_plant_state {
  SP_PLANT_CLOSED = 0,
  SP_PLANT_OPENED = 1,
  SP_PLANT_CONFIGURED = 2,
  SP_PLANT_ACTIVE = 3,
} sp_plant_state;

// What a plant offers; filled by the backend at configure, read-only for users. Pointers are
// owned by the backend and stay valid until close.
typedef struct sp_plant_caps {
  const char* robot;           // robot name ("rc_car"), never NULL after configure
  const char* backend;         // scheme of the backend ("model")
  int nx, nu;                  // state and action sizes
  double rate_hz;              // nominal control rate
  const char* const* x_names;  // (nx)
  const char* const* u_names;  // (nu)
  const double* u_min;         // (nu) command limits the plant accepts, NULL when unbounded
  const double* u_max;         // (nu)
  int can_reset;               // 1 if reset(x0) is available
} sp_plant_caps;

typedef struct sp_plant sp_plant;

// Backend vtable. open and close are required; the others may be NULL when a backend has nothing
// to do there (reset NULL: cannot reset; seed NULL: no randomness). All return 0 or SP_E*.
typedef struct sp_plant_backend {
  const char* scheme;  // URI scheme this backend serves
  // parse uri and the backend-specific config (may be NULL), allocate p->impl; msg explains errors
  int (*open)(sp_plant* p, const char* uri, const void* config, char* msg, size_t msglen);
  // build resources and fill p->caps
  int (*configure)(sp_plant* p, char* msg, size_t msglen);
  int (*activate)(sp_plant* p);
  int (*deactivate)(sp_plant* p);
  void (*close)(sp_plant* p);  // free p->impl; called from any state
  // x (nx), t_ns: measurement time, status: SP_FLAG_PLANT_* bits
  int (*read)(sp_plant* p, double* x, int64_t* t_ns, uint32_t* status);
  int (*write)(sp_plant* p, const double* u);   // u (nu)
  int (*reset)(sp_plant* p, const double* x0);  // x0 (nx), NULL: the backend's default
  int (*seed)(sp_plant* p, uint64_t seed);      // reseed noise sources
  // enter (on = 1) or leave (0) the plant's own safe behaviour, e.g. a legged robot's low-level
  // controller sitting down; NULL: the plant has none (the safe command is all it gets)
  int (*safe)(sp_plant* p, int on);
  // the low-level controller the plant runs at its physics rate (hal/lowlevel.h), NULL: none
  struct sp_lowlevel* (*lowlevel)(sp_plant* p);
} sp_plant_backend;

struct sp_plant {
  const sp_plant_backend* backend;
  sp_plant_state state;
  sp_plant_caps caps;
  void* impl;  // backend data
  char uri[128];
};

// Register a backend under its scheme (the backend must outlive every plant using it). Built-in
// backends are registered on first use. SP_EINVAL on a duplicate scheme, SP_ERANGE when full.
int sp_plant_register(const sp_plant_backend* b);
const sp_plant_backend* sp_plant_find_backend(const char* scheme);
// Fill names (up to n) with registered schemes; returns the number registered.
int sp_plant_list(const char** names, int n);

// Open a plant: the scheme is the URI up to "://" (or the whole URI: "model"). config is the
// backend's own config struct (e.g. sp_plant_model_config), may be NULL where the backend allows.
// On failure *out is NULL and msg (may be NULL) says why.
int sp_plant_open(sp_plant** out, const char* uri, const void* config, char* msg, size_t msglen);
int sp_plant_configure(sp_plant* p, char* msg, size_t msglen);
int sp_plant_activate(sp_plant* p);
int sp_plant_deactivate(sp_plant* p);
// Deactivate if needed and free everything. Safe on NULL.
void sp_plant_close(sp_plant* p);

// x (nx) gets the latest state, t_ns its measurement time, status SP_FLAG_PLANT_* bits; t_ns and
// status may be NULL.
int sp_plant_read(sp_plant* p, double* x, int64_t* t_ns, uint32_t* status);
int sp_plant_write(sp_plant* p, const double* u);
// Reset to x0 (nx), or to the backend's default initial state when x0 is NULL.
// SP_EUNSUPPORTED when the backend cannot reset.
int sp_plant_reset(sp_plant* p, const double* x0);
int sp_plant_seed(sp_plant* p, uint64_t seed);
// The plant's own safe behaviour on (1) or off (0): the control loop and the bridge turn it on in
// the ticks that send the safe command because of a fault (e-stop, watchdog, NaN), not for an
// operator's hold. A plant with a low-level controller then runs its safe mode (a legged robot
// sits down) whatever the command. SP_EUNSUPPORTED when the backend has none (callers ignore it);
// allowed in CONFIGURED and ACTIVE; never allocates.
int sp_plant_safe(sp_plant* p, int on);
// Change settings of the plant's low-level controller while it runs (the walking controller's
// gait, period, duty; a joint PD's gains): checked now, all or none, and applied together at the
// controller's next tick boundary, from any thread (sp_lowlevel_request: the plant's physics
// may run on another one). Allowed in CONFIGURED and ACTIVE; msg names the setting on failure.
// SP_EUNSUPPORTED when the plant runs no low-level controller here (a udp plant: the wire
// protocol carries no settings; change them on the robot's side).
struct sp_lowlevel_param;
int sp_plant_set_lowlevel(sp_plant* p, const struct sp_lowlevel_param* params, int n, char* msg,
                          size_t msglen);
// The plant's low-level controller (for sp_lowlevel_value and inspection), NULL when none.
const struct sp_lowlevel* sp_plant_lowlevel(sp_plant* p);
const sp_plant_caps* sp_plant_capabilities(const sp_plant* p);
const char* sp_plant_state_name(sp_plant_state s);

SP_API_END

#endif  // SP_HAL_HAL_H
