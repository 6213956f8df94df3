// hostlib.c: the preloaded C module "spinal.host" (what the binary offers scripts and the Lua
// library: Ctrl-C flag, command-line overrides, tty test, monotonic clock, directory listing).
#define _GNU_SOURCE  // cpu_set_t and sched_setaffinity
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "host.h"

// provided by OpenBLAS (declared here so the host needs no BLAS header path)
char* openblas_get_config(void);

const char* sp_host_blas(void) {
  return openblas_get_config();
}

// interrupted() -> true once Ctrl-C was pressed
static int host_interrupted(lua_State* L) {
  lua_pushboolean(L, sp_host_interrupted());
  return 1;
}

// clear_interrupt(): forget a Ctrl-C the script has handled, so the run may go on
static int host_clear_interrupt(lua_State* L) {
  sp_host_interrupt_clear(L);
  return 0;
}

// overrides() -> { "key=value", ... } as given on the command line, in order
static int host_overrides(lua_State* L) {
  lua_getfield(L, lua_upvalueindex(1), "list");
  int n = (int)luaL_len(L, -1);
  lua_createtable(L, n, 0);
  for (int i = 1; i <= n; i++) {
    lua_geti(L, -2, i);
    lua_rawseti(L, -2, i);
  }
  return 1;
}

// isatty(fd | file) -> boolean
static int host_isatty(lua_State* L) {
  int fd;
  luaL_Stream* s = luaL_testudata(L, 1, LUA_FILEHANDLE);
  if (s) {
    luaL_argcheck(L, s->closef != NULL, 1, "attempt to use a closed file");
    fd = fileno(s->f);
  } else if (lua_isinteger(L, 1)) {
    fd = (int)lua_tointeger(L, 1);
  } else {
    return luaL_typeerror(L, 1, "file or file descriptor");
  }
  lua_pushboolean(L, isatty(fd));
  return 1;
}

// clock() -> monotonic seconds (for rates and ETAs; os.clock is CPU time)
static int host_clock(lua_State* L) {
  lua_pushnumber(L, sp_host_clock());
  return 1;
}

// listdir(path) -> { names... } sorted by the caller, or nil, message
static int host_listdir(lua_State* L) {
  const char* path = luaL_checkstring(L, 1);
  DIR* d = opendir(path);
  if (!d) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(errno));
    return 2;
  }
  lua_newtable(L);
  int n = 0;
  for (struct dirent* e = readdir(d); e; e = readdir(d)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    lua_pushstring(L, e->d_name);
    lua_rawseti(L, -2, ++n);
  }
  closedir(d);
  return 1;
}

// sleep(seconds): a monotonic sleep; Ctrl-C (SIGINT) ends it early, then the interrupt applies
static int host_sleep(lua_State* L) {
  double s = luaL_checknumber(L, 1);
  if (!(s >= 0) || s > 1e6) return luaL_argerror(L, 1, "expected seconds in [0, 1e6]");
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !sp_host_interrupted() &&
         !sp_host_terminated()) {
  }
  return 0;
}

// lower_priority(n): make the calling thread n nice levels nicer (Linux: this thread only, and
// for good: an unprivileged thread cannot take it back) -> the new nice value, or nil, message
static int host_lower_priority(lua_State* L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 0 && n <= 39, 1, "expected 0..39 nice levels");
  pid_t tid = (pid_t)syscall(SYS_gettid);
  errno = 0;
  int cur = getpriority(PRIO_PROCESS, (id_t)tid);
  int want = cur + (int)n > 19 ? 19 : cur + (int)n;
  if ((cur == -1 && errno) || setpriority(PRIO_PROCESS, (id_t)tid, want) != 0) {
    luaL_pushfail(L);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  lua_pushinteger(L, want);
  return 1;
}

// pin_cpu(k): run the calling thread on CPU k only -> true, or nil, message; cpus() -> CPUs online
static int host_pin_cpu(lua_State* L) {
  lua_Integer k = luaL_checkinteger(L, 1);
  luaL_argcheck(L, k >= 0 && k < CPU_SETSIZE, 1, "expected a CPU number");
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET((int)k, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    luaL_pushfail(L);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int host_cpus(lua_State* L) {
  lua_pushinteger(L, sysconf(_SC_NPROCESSORS_ONLN));
  return 1;
}

// mkdir(path) -> true, creating missing parents (as mkdir -p), or nil, message
static int host_mkdir(lua_State* L) {
  size_t len;
  const char* path = luaL_checklstring(L, 1, &len);
  char buf[4096];
  if (len == 0 || len >= sizeof buf) return luaL_argerror(L, 1, "expected a non-empty path");
  memcpy(buf, path, len + 1);
  for (char* p = buf + 1;; p++) {
    if (*p == '/' || *p == 0) {
      char c = *p;
      *p = 0;
      if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: %s", buf, strerror(errno));
        return 2;
      }
      *p = c;
      if (!c) break;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int open_host(lua_State* L) {
  static const luaL_Reg funcs[] = {
      {"interrupted", host_interrupted},
      {"clear_interrupt", host_clear_interrupt},
      {"overrides", host_overrides},
      {"isatty", host_isatty},
      {"clock", host_clock},
      {"listdir", host_listdir},
      {"mkdir", host_mkdir},
      {"sleep", host_sleep},
      {"lower_priority", host_lower_priority},
      {"pin_cpu", host_pin_cpu},
      {"cpus", host_cpus},
      {NULL, NULL},
  };
  luaL_newlibtable(L, funcs);
  lua_pushvalue(L, lua_upvalueindex(1));
  luaL_setfuncs(L, funcs, 1);
  lua_getfield(L, lua_upvalueindex(1), "lua_dir");
  lua_setfield(L, -2, "lua_dir");
  lua_pushliteral(L, SP_VERSION);
  lua_setfield(L, -2, "version");
#ifdef SP_GIT_COMMIT
  if (SP_GIT_COMMIT[0]) {  // the checkout's commit, baked in at configure time (CMakeLists.txt)
    lua_pushliteral(L, SP_GIT_COMMIT);
    lua_setfield(L, -2, "commit");
  }
#endif
  lua_pushstring(L, sp_host_blas());
  lua_setfield(L, -2, "blas");
  return 1;
}

void sp_host_preload(lua_State* L, const char* lua_dir, char** overrides, int n) {
  // one private table shared by the module's functions: the Lua dir and the raw overrides
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_createtable(L, 0, 2);
  lua_pushstring(L, lua_dir);
  lua_setfield(L, -2, "lua_dir");
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, overrides[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "list");
  lua_pushcclosure(L, open_host, 1);
  lua_setfield(L, -2, "spinal.host");
  lua_pop(L, 1);
}

// does msg start with the "source:line:" Lua puts in front of an error raised at a position
// (error("x"), a runtime error)? A message without one was raised on purpose for the user
// (error(msg, 0), an argument error from C): it is the whole story, printed without a traceback
static int has_position(const char* s) {
  const char* p;
  if (!strncmp(s, "[string \"", 9)) {
    if (!(p = strstr(s, "\"]:"))) return 0;
    p += 2;
  } else if (*s == '(') {
    if (!(p = strchr(s, ')'))) return 0;
    p++;
  } else {
    // a file name (no spaces) followed by :LINE:
    for (p = s; *p && *p != ' ' && *p != '\n'; p++) {
      if (*p != ':' || !isdigit((unsigned char)p[1])) continue;
      const char* q = p + 1;
      while (isdigit((unsigned char)*q)) q++;
      if (*q == ':') return 1;
    }
    return 0;
  }
  if (*p != ':' || !isdigit((unsigned char)p[1])) return 0;
  for (p++; isdigit((unsigned char)*p);) p++;
  return *p == ':';
}

int sp_host_msghandler(lua_State* L) {
  const char* msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  const char* always = getenv("SPINAL_TRACEBACK");
  if (!has_position(msg) && !(always && *always && strcmp(always, "0"))) {
    lua_pushstring(L, msg);
    return 1;
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

void sp_host_report(lua_State* L, int prefix) {
  const char* msg = lua_tostring(L, -1);
  if (!msg) msg = "(error object is not a string)";
  fprintf(stderr, "%s%s\n", prefix ? "spinal: " : "", msg);
  fflush(stderr);
  lua_pop(L, 1);
}
