// interrupt.c: Ctrl-C handling for scripts and the REPL.
//
// The first SIGINT sets a flag that scripts poll (spinal.interrupted()) and installs a count hook
// that raises "interrupted" inside the script if it has not stopped SP_INTERRUPT_GRACE seconds
// later. The second SIGINT installs a hook that raises at the next VM instruction (as lua.c does).
// A third one gives up on the Lua state and exits 130 at once. Hooks are per Lua thread: a script
// spinning inside a coroutine is only reached by the flag or by the third Ctrl-C.
#include <lauxlib.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host.h"

static lua_State* volatile main_state;
static volatile sig_atomic_t presses;  // Ctrl-Cs since the last clear
static volatile sig_atomic_t urgent;   // 1 once the hook must raise without waiting
static volatile sig_atomic_t closing;  // 1 while the state is being closed: no more hooks
static volatile double first_press;    // sp_host_clock() at the first Ctrl-C

double sp_host_clock(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// raise "interrupted" once the grace period is over (or at once after a second Ctrl-C)
static void interrupt_hook(lua_State* L, lua_Debug* ar) {
  (void)ar;
  if (!urgent && sp_host_clock() - first_press < SP_INTERRUPT_GRACE) return;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted");
}

// a process-directed signal may land on any thread that does not block it (OpenBLAS workers, for
// one); the REPL's blocking read only returns EINTR on the main thread, so forward it there
static pthread_t main_thread;
static volatile sig_atomic_t have_main;

static int forwarded(int sig) {
  if (!have_main || pthread_equal(pthread_self(), main_thread)) return 0;
  pthread_kill(main_thread, sig);
  return 1;
}

static void on_sigint(int sig) {
  if (forwarded(sig)) return;
  presses++;
  lua_State* L = main_state;
  if (presses >= 3) {
    static const char msg[] = "\nspinal: interrupted three times, exiting without cleanup\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(SP_EXIT_INTERRUPTED);
  }
  if (closing || !L) return;
  if (presses == 1) {
    first_press = sp_host_clock();
    lua_sethook(L, interrupt_hook, LUA_MASKCOUNT, 1000);
  } else {
    urgent = 1;
    lua_sethook(L, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
  }
}

// ---- SIGTERM (the REPL on the robot): leave cleanly --------------------------------------------

static volatile sig_atomic_t terminated;

static void terminate_hook(lua_State* L, lua_Debug* ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "terminated");
}

static void on_sigterm(int sig) {
  if (forwarded(sig)) return;
  terminated = 1;
  lua_State* L = main_state;
  if (closing || !L) return;
  lua_sethook(L, terminate_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

void sp_host_terminate_install(lua_State* L) {
  main_state = L;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigterm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // a blocking read returns EINTR so the REPL sees it
  sigaction(SIGTERM, &sa, NULL);
}

int sp_host_terminated(void) {
  return terminated != 0;
}

void sp_host_interrupt_install(lua_State* L) {
  main_state = L;
  main_thread = pthread_self();
  have_main = 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking read returns EINTR so the REPL sees Ctrl-C
  sigaction(SIGINT, &sa, NULL);
}

int sp_host_interrupted(void) {
  return presses > 0;
}

void sp_host_interrupt_clear(lua_State* L) {
  lua_sethook(L, NULL, 0, 0);
  urgent = 0;
  presses = 0;
}

void sp_host_interrupt_unhook(lua_State* L) {
  closing = 1;
  lua_sethook(L, NULL, 0, 0);
}
