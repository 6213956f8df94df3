// main.c: the spinal binary: command line, Lua state set-up, script and chunk runner.
//
// spinal SCRIPT.lua [key=value ...] | -e CODE [key=value ...] | repl [ROBOT.lua [--hal URI]] |
// check ROBOT.lua ... | render RUN_DIR ... | --version | --help.
// Subcommands are one entry each in the commands table below. Every lua/bind module is
// preloaded from the CMake-generated preload.h; the Lua library is found next to the source tree
// or installed under share/lua/5.4. docs/cli.md is the user's reference.
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"
#include "preload.h"

// ---- state set-up -------------------------------------------------------------------------------

// register every lua/bind module in package.preload
static void preload_all(lua_State* L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg* m = sp_preload_modules; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
}

// the directory holding spinal/init.lua: $SPINAL_LUA_DIR, else the installed copy next to the
// binary (<prefix>/bin/spinal -> <prefix>/share/lua/5.4, where a stock lua5.4 finds it too; so an
// installed tree can be moved), else the source tree the binary was built from
static const char* lua_dir(void) {
  static char buf[4096];
  const char* env = getenv("SPINAL_LUA_DIR");
  if (env && *env) return env;
  char exe[4000];  // shorter than buf, so the suffix always fits
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char* slash = strrchr(exe, '/');
    if (slash) {
      *slash = 0;
      snprintf(buf, sizeof buf, "%s/../%s", exe, SP_INSTALL_LUA_DIR);
      char probe[4200];
      snprintf(probe, sizeof probe, "%s/spinal/init.lua", buf);
      if (access(probe, R_OK) == 0) return buf;
    }
  }
  return SP_SOURCE_LUA_DIR;
}

// prepend spinal's Lua library directory to package.path
static void set_lua_path(lua_State* L, const char* dir) {
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
  lua_getfield(L, -2, "path");
  lua_concat(L, 2);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
}

// key=value with a key that starts with an ASCII letter or _ and has no space or '/' (a path is
// not an override); spinal.settings refuses a key that is not a setting name (h.-1=5) by name
static int is_override(const char* s) {
  const char* p = s;
  if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) return 0;
  for (p++; *p && *p != '='; p++)
    if (*p <= ' ' || *p == '/' || *p == 127) return 0;
  return *p == '=';
}

// a fresh state: libraries, preloads, package.path, "spinal.host", the global arg table
// (arg[0] = argv[first], arg[1..] = what follows, negative indices = what precedes, as lua.c)
static lua_State* new_state(int argc, char** argv, int first) {
  lua_State* L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "spinal: cannot create the Lua state (out of memory)\n");
    return NULL;
  }
  luaL_openlibs(L);
  preload_all(L);
  const char* dir = lua_dir();
  set_lua_path(L, dir);

  char* overrides[argc > 0 ? argc : 1];
  int n = 0;
  for (int i = first + 1; i < argc; i++)
    if (is_override(argv[i])) overrides[n++] = argv[i];
  sp_host_preload(L, dir, overrides, n);

  lua_createtable(L, argc - first - 1, first + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - first);
  }
  lua_setglobal(L, "arg");
  sp_host_interrupt_install(L);

  // the library as the global spinal (scripts may still write local sp = require "spinal")
  lua_pushcfunction(L, sp_host_msghandler);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "spinal");
  if (lua_pcall(L, 1, 1, -3) != LUA_OK) {
    sp_host_report(L, 1);
    lua_close(L);
    return NULL;
  }
  lua_setglobal(L, "spinal");
  lua_pop(L, 1);
  return L;
}

// report the outcome, close the state (so __gc/__close handlers flush) and pick the exit code
static int finish(lua_State* L, int status) {
  int code = SP_EXIT_OK;
  if (status != LUA_OK) {
    fflush(stdout);
    sp_host_report(L, 1);
    code = SP_EXIT_ERROR;
  }
  if (sp_host_interrupted()) {
    if (status == LUA_OK) fprintf(stderr, "spinal: interrupted\n");
    code = SP_EXIT_INTERRUPTED;
  }
  sp_host_interrupt_unhook(L);
  lua_close(L);
  return code;
}

// call the chunk on top of the stack with arg[1..] as its varargs, under a traceback handler
static int call_main(lua_State* L, int argc, char** argv, int first) {
  int base = lua_gettop(L);
  lua_pushcfunction(L, sp_host_msghandler);
  lua_insert(L, base);
  if (!lua_checkstack(L, argc + LUA_MINSTACK)) {
    lua_settop(L, base - 1);
    lua_pushliteral(L, "too many arguments");
    return LUA_ERRMEM;
  }
  for (int i = first + 1; i < argc; i++) lua_pushstring(L, argv[i]);
  int status = lua_pcall(L, argc - first - 1, 0, base);
  lua_remove(L, base);
  return status;
}

// ---- commands ---------------------------------------------------------------------------------

static const char* progname = "spinal";

static int run_script(int argc, char** argv, int first) {
  const char* path = argv[first];
  FILE* f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "%s: cannot open %s (%s)\n", progname, path, strerror(errno));
    return SP_EXIT_ERROR;
  }
  fclose(f);
  lua_State* L = new_state(argc, argv, first);
  if (!L) return SP_EXIT_ERROR;
  int status = luaL_loadfile(L, path);
  if (status == LUA_OK) status = call_main(L, argc, argv, first);
  return finish(L, status);
}

static void usage(FILE* out);
static void usage_hint(void);

static int cmd_eval(int argc, char** argv, int first) {
  if (first + 1 >= argc) {
    fprintf(stderr, "%s: '-e' needs a chunk of Lua code\n", progname);
    usage_hint();
    return SP_EXIT_USAGE;
  }
  first++;  // arg[0] is the code
  lua_State* L = new_state(argc, argv, first);
  if (!L) return SP_EXIT_ERROR;
  const char* code = argv[first];
  int status = luaL_loadbuffer(L, code, strlen(code), "=(command line)");
  if (status == LUA_OK) status = call_main(L, argc, argv, first);
  return finish(L, status);
}

// spinal bridge [ROBOT.lua] --listen ADDR ...: serve a plant over the UDP protocol
// (lua/spinal/bridge.lua parses the options and reports; hal/bridge.c serves)
// a subcommand written in Lua: require(module).main(args...) returns the exit status
static int run_lua_main(int argc, char** argv, int first, const char* module) {
  lua_State* L = new_state(argc, argv, first);
  if (!L) return SP_EXIT_ERROR;
  lua_pushcfunction(L, sp_host_msghandler);
  int base = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  int status = lua_pcall(L, 1, 1, base);
  int code = SP_EXIT_ERROR;
  if (status == LUA_OK) {
    lua_getfield(L, -1, "main");
    lua_remove(L, -2);
    lua_newtable(L);
    for (int i = first + 1; i < argc; i++) {
      lua_pushstring(L, argv[i]);
      lua_rawseti(L, -2, i - first);
    }
    status = lua_pcall(L, 1, 1, base);
    if (status == LUA_OK) {
      code = (int)lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
  }
  lua_remove(L, base);
  if (status != LUA_OK) return finish(L, status);
  int fin = finish(L, LUA_OK);
  return fin != SP_EXIT_OK ? fin : code;
}

static int cmd_bridge(int argc, char** argv, int first) {
  return run_lua_main(argc, argv, first, "spinal.bridge");
}

// the value of option name at argv[*i] ("--name V" or "--name=V"); NULL when it is not that option;
// *bad set when the value is missing
static const char* option(int argc, char** argv, int* i, const char* name, int* bad) {
  size_t n = strlen(name);
  const char* a = argv[*i];
  if (strncmp(a, name, n) || (a[n] && a[n] != '=')) return NULL;
  const char* v = a[n] == '=' ? a + n + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
  if (!v || !*v) {
    *bad = 1;
    return NULL;
  }
  return v;
}

// spinal repl [ROBOT.lua [--hal URI] [--listen ADDR [--listen-any]]] [key=value ...]
//        | repl --connect ADDR --token T
static int cmd_repl(int argc, char** argv, int first) {
  const char* robot = NULL;
  const char* uri = NULL;
  const char* listen = NULL;
  const char* connect = NULL;
  const char* token = NULL;
  int any = 0;
  for (int i = first + 1; i < argc; i++) {
    const char* a = argv[i];
    if (is_override(a)) continue;
    int bad = 0;
    const char* v;
    if ((v = option(argc, argv, &i, "--hal", &bad)) || bad) {
      if (bad) {
        fprintf(stderr, "%s repl: '--hal' needs a plant URI (model, mujoco, udp://HOST:PORT)\n",
                progname);
        usage_hint();
        return SP_EXIT_USAGE;
      }
      uri = v;
      continue;
    }
    if ((v = option(argc, argv, &i, "--listen", &bad)) || (bad && strcmp(a, "--listen-any"))) {
      if (bad) {
        fprintf(stderr, "%s repl: '--listen' needs tcp://127.0.0.1:PORT or unix:/PATH\n", progname);
        usage_hint();
        return SP_EXIT_USAGE;
      }
      listen = v;
      continue;
    }
    if (!strcmp(a, "--listen-any")) {
      any = 1;
      continue;
    }
    if ((v = option(argc, argv, &i, "--connect", &bad)) || bad) {
      if (bad) {
        fprintf(stderr, "%s repl: '--connect' needs an address\n", progname);
        return SP_EXIT_USAGE;
      }
      connect = v;
      continue;
    }
    if ((v = option(argc, argv, &i, "--token", &bad)) || bad) {
      if (bad) {
        fprintf(stderr, "%s repl: '--token' needs the token the server printed\n", progname);
        return SP_EXIT_USAGE;
      }
      token = v;
      continue;
    }
    if (a[0] != '-' && !robot) {
      robot = a;
      continue;
    }
    fprintf(stderr,
            "%s repl: unexpected argument '%s' (expected ROBOT.lua, --hal URI or "
            "key=value)\n",
            progname, a);
    usage_hint();
    return SP_EXIT_USAGE;
  }
  if (connect) {
    if (robot || uri || listen || !token) {
      fprintf(stderr, "%s repl: --connect ADDR takes --token T and nothing else\n", progname);
      usage_hint();
      return SP_EXIT_USAGE;
    }
    return sp_host_repl_connect(connect, token);
  }
  if ((uri || listen) && !robot) {
    fprintf(stderr, "%s repl: '%s' needs a robot file (spinal repl ROBOT.lua %s ...)\n", progname,
            uri ? "--hal" : "--listen", uri ? "--hal" : "--listen");
    usage_hint();
    return SP_EXIT_USAGE;
  }
  if (any && !listen) {
    fprintf(stderr, "%s repl: '--listen-any' goes with --listen ADDR\n", progname);
    usage_hint();
    return SP_EXIT_USAGE;
  }
  if (listen) {
    int chk = sp_host_listen_check(listen, any);
    if (chk) return chk;
  }
  lua_State* L = new_state(argc, argv, first);
  if (!L) return SP_EXIT_ERROR;
  int code = robot ? sp_host_repl_robot(L, robot, uri, listen, any) : sp_host_repl(L);
  sp_host_interrupt_unhook(L);
  lua_close(L);
  return code;
}

// spinal render RUN_DIR ...: a video and a poster of a recorded MuJoCo run (lua/spinal/render.lua;
// the pictures come from render/ through spinal.renderer)
static int cmd_render(int argc, char** argv, int first) {
  return run_lua_main(argc, argv, first, "spinal.render");
}

// spinal check ROBOT.lua ...: validate robot files through spinal.robot (lua/spinal/robot.lua)
static int cmd_check(int argc, char** argv, int first) {
  return run_lua_main(argc, argv, first, "spinal.robot");
}

static int cmd_version(int argc, char** argv, int first) {
  printf("spinal %s\n%s\nBLAS: %s\n", SP_VERSION, LUA_RELEASE, sp_host_blas());
  return SP_EXIT_OK;
}

static int cmd_help(int argc, char** argv, int first) {
  usage(stdout);
  return SP_EXIT_OK;
}

// one entry per subcommand or option; argv[first] is the entry's own name
typedef struct command {
  const char* name;
  const char* alias;
  const char* args;  // shown in the usage line
  const char* what;
  int (*run)(int argc, char** argv, int first);
} command;

static const command commands[] = {
    {"bridge", NULL, "[ROBOT.lua] --listen ADDR ...", "serve a plant over the UDP protocol",
     cmd_bridge},
    {"repl", NULL, "[ROBOT.lua [--hal URI] [--listen ADDR]]",
     "interactive Lua; with a robot: its live loop", cmd_repl},
    {"-e", NULL, "CODE [key=value ...]", "run a chunk of Lua", cmd_eval},
    {"check", NULL, "ROBOT.lua ...", "validate robot files, naming every problem", cmd_check},
    {"render", NULL, "RUN_DIR [--out FILE] ...", "a video and poster of a recorded MuJoCo run",
     cmd_render},
    {"--version", "-v", "", "print the versions of spinal, Lua and the BLAS", cmd_version},
    {"--help", "-h", "", "print this help", cmd_help},
    {NULL, NULL, NULL, NULL, NULL},
};

// after a usage error: one line pointing at the help
static void usage_hint(void) {
  fprintf(stderr, "run '%s --help' for usage\n", progname);
}

static void usage(FILE* out) {
  fprintf(out, "usage: spinal SCRIPT.lua [key=value ...]   run a script\n");
  for (const command* c = commands; c->name; c++) {
    char left[64];
    snprintf(left, sizeof left, "%s%s%s", c->name, *c->args ? " " : "", c->args);
    fprintf(out, "       spinal %-28s %s\n", left, c->what);
  }
  fprintf(out,
          "key=value arguments reach the script as spinal.args (numbers and true/false parsed,\n"
          "a.b=1 nests) and spinal.settings(defaults); every argument is also in the global arg.\n"
          "Ctrl-C sets spinal.interrupted(); a script still running %.0f s later (or at a second\n"
          "Ctrl-C) gets an \"interrupted\" error; exit status 130. See docs/cli.md.\n",
          SP_INTERRUPT_GRACE);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return SP_EXIT_USAGE;
  }
  const char* word = argv[1];
  for (const command* c = commands; c->name; c++)
    if (strcmp(word, c->name) == 0 || (c->alias && strcmp(word, c->alias) == 0))
      return c->run(argc, argv, 1);
  if (word[0] == '-') {
    fprintf(stderr, "%s: unknown option '%s'\n", progname, word);
    usage_hint();
    return SP_EXIT_USAGE;
  }
  // a bare word that is not a file is a mistyped subcommand, not a script
  if (!strchr(word, '/') && !strchr(word, '.') && access(word, F_OK) != 0) {
    fprintf(stderr, "%s: unknown command '%s'\n", progname, word);
    usage_hint();
    return SP_EXIT_USAGE;
  }
  return run_script(argc, argv, 1);
}
