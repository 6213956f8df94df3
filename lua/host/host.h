// host.h: pieces of the spinal binary shared between main.c, interrupt.c, hostlib.c and repl.c.
//
// The host owns the process: command line, signals, the terminal. Everything a script can call
// goes through the preloaded C module "spinal.host" (hostlib.c) or the Lua library lua/spinal/.
#ifndef SP_HOST_H
#define SP_HOST_H

#include <lua.h>

// exit codes of the binary
enum {
  SP_EXIT_OK = 0,
  SP_EXIT_ERROR = 1,
  SP_EXIT_USAGE = 2,
  SP_EXIT_INTERRUPTED = 130,
  SP_EXIT_TERMINATED = 143,
};

// seconds a script has after the first Ctrl-C before "interrupted" is raised inside it
#define SP_INTERRUPT_GRACE 2.0

// Install the SIGINT handler for state L (no SA_RESTART, so blocking reads return EINTR).
void sp_host_interrupt_install(lua_State* L);
// True once Ctrl-C was pressed (and not cleared since).
int sp_host_interrupted(void);
// Forget pending Ctrl-Cs and remove the interrupt hook from L (the REPL does this per line).
void sp_host_interrupt_clear(lua_State* L);
// Remove the interrupt hook only, keeping the flag (before lua_close, so __gc/__close run whole).
void sp_host_interrupt_unhook(lua_State* L);

// Register "spinal.host" in package.preload; overrides are the key=value arguments (count n).
void sp_host_preload(lua_State* L, const char* lua_dir, char** overrides, int n);
// Monotonic wall-clock time in seconds.
double sp_host_clock(void);
// Message handler for lua_pcall: appends a traceback to the error message.
int sp_host_msghandler(lua_State* L);
// Print the error on top of L to stderr, prefixed with "spinal: " when prefix is non-zero.
void sp_host_report(lua_State* L, int prefix);
// The BLAS in use, as one short line (static storage).
const char* sp_host_blas(void);

// Run the interactive prompt (or read lines from a non-tty stdin); returns the exit code.
int sp_host_repl(lua_State* L);
// The REPL on the robot: open the robot file's plant and live loop (lua/spinal/live.lua; uri
// NULL: the robot's default plant), run the prompt, then stop safely. Returns the exit code.
// listen (may be NULL): serve the REPL on that address instead of the terminal (remote.c); any:
// allow a non-loopback address.
int sp_host_repl_robot(lua_State* L, const char* robot, const char* uri, const char* listen,
                       int any);
// The remote REPL (remote.c): serve clients one at a time until Ctrl-C twice or SIGTERM, and the
// client that relays a terminal or a pipe to it. Both return an exit code.
int sp_host_repl_serve(lua_State* L, const char* where, int any);
// Check a --listen address before anything starts (parse; loopback unless any): an exit code.
int sp_host_listen_check(const char* where, int any);
int sp_host_repl_connect(const char* where, const char* token);
// SIGTERM for state L: a flag the REPL polls, and an error "terminated" raised in a running
// command at its next instruction.
void sp_host_terminate_install(lua_State* L);
int sp_host_terminated(void);

#endif  // SP_HOST_H
