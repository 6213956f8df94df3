// repl.c: the interactive prompt: terminal, signals, libedit, history and the read-eval loop.
//
// The loop follows lua.c (Lua 5.4): a line is first compiled as "return <line>" so expressions
// print without `return`; a chunk whose syntax error ends at "<eof>" is incomplete and continues
// on the next line (prompt ">> "). Printing, :commands and completion candidates are computed in
// Lua (lua/spinal/repl.lua: show, command, complete) so users can extend them. With a non-tty
// stdin there are no prompts and no libedit: lines are read as they come.
#include <errno.h>
#include <lauxlib.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

// editline's header needs <stdio.h> (FILE) included before it
// clang-format off
#include <editline/readline.h>
// clang-format on

#include "host.h"

#define HISTORY_MAX 1000  // entries kept in memory and in the history file

static lua_State* repl_state;  // for the completion callback
static int repl_module;        // registry reference to the lua/spinal/repl.lua table
static int interactive;
static int line_cancelled;  // the last line was ended by Ctrl-C

// the REPL on the robot (sp_host_repl_robot): Ctrl-C at an empty prompt e-stops, twice leaves;
// whether the prompt was empty is decided from the line itself when Ctrl-C ends it, so text typed
// and erased before does not matter
static int robot_mode;
static int live_module = LUA_NOREF;  // registry reference to lua/spinal/live.lua
static int at_primary;               // the prompt is "> " (not a continuation)
static int robot_presses;            // Ctrl-Cs at a fresh prompt with nothing entered between
static int leave;                    // leave the REPL after this line (second Ctrl-C, SIGTERM)

// call live.interrupt(second) (prints the e-stop message and latches it)
static void robot_interrupt(lua_State* L, int second) {
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, live_module);
  lua_getfield(L, -1, "interrupt");
  lua_pushboolean(L, second);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) sp_host_report(L, 1);
  lua_settop(L, top);
}

// a Ctrl-C while waiting for input; returns 1 when the REPL must leave
static int robot_ctrl_c(lua_State* L) {
  robot_presses++;
  robot_interrupt(L, robot_presses >= 2);
  return robot_presses >= 2;
}

// ---- history: one entry per line, plain text, bounded ------------------------------------------

static char* history_path;
static char* history_last;  // the newest entry, so repeats are stored once

static void history_append(const char* line) {
  if (!interactive || !*line || strspn(line, " \t") == strlen(line)) return;
  if (history_last && strcmp(history_last, line) == 0) return;
  free(history_last);
  history_last = strdup(line);
  add_history(line);
  if (!history_path) return;
  FILE* f = fopen(history_path, "a");
  if (!f) return;
  fprintf(f, "%s\n", line);
  fclose(f);
}

// load $SPINAL_HISTORY (empty: no history) or ~/.spinal_history; trim the file when it is long
static void history_load(void) {
  const char* env = getenv("SPINAL_HISTORY");
  const char* home = getenv("HOME");
  if (env && !*env) return;
  if (env) {
    history_path = strdup(env);
  } else if (home) {
    size_t n = strlen(home) + sizeof "/.spinal_history";
    history_path = malloc(n);
    if (history_path) snprintf(history_path, n, "%s/.spinal_history", home);
  }
  stifle_history(HISTORY_MAX);
  FILE* f = history_path ? fopen(history_path, "r") : NULL;
  if (!f) return;
  char* ring[HISTORY_MAX] = {0};
  long count = 0;
  char* buf = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&buf, &cap, f)) >= 0) {
    if (len > 0 && buf[len - 1] == '\n') buf[--len] = '\0';
    if (len == 0) continue;
    free(ring[count % HISTORY_MAX]);
    ring[count % HISTORY_MAX] = strdup(buf);
    count++;
  }
  free(buf);
  fclose(f);
  long first = count > HISTORY_MAX ? count - HISTORY_MAX : 0;
  FILE* out = count > HISTORY_MAX ? fopen(history_path, "w") : NULL;
  for (long i = first; i < count; i++) {
    char* line = ring[i % HISTORY_MAX];
    if (!line) continue;
    add_history(line);
    if (i == count - 1) history_last = strdup(line);
    if (out) fprintf(out, "%s\n", line);
  }
  if (out) fclose(out);
  for (int i = 0; i < HISTORY_MAX; i++) free(ring[i]);
}

// ---- libedit glue -------------------------------------------------------------------------------

// read one character for libedit; Ctrl-C (EINTR with the flag set) ends the line, which the loop
// then drops. Multibyte characters are decoded in the current locale.
static int repl_getc(FILE* unused) {
  (void)unused;
  char bytes[MB_LEN_MAX];
  size_t n = 0;
  for (;;) {
    unsigned char c;
    ssize_t r = read(STDIN_FILENO, &c, 1);
    if (r == 0) return -1;
    if (r < 0) {
      if (errno != EINTR) return -1;
      if (sp_host_terminated()) {
        leave = 1;
        line_cancelled = 1;
        return '\n';
      }
      if (sp_host_interrupted()) {
        // end the line here; read_line decides from its content what the Ctrl-C meant
        sp_host_interrupt_clear(repl_state);
        line_cancelled = 1;
        return '\n';
      }
      continue;
    }
    if (n == 0 && c < 0x80) return c;
    bytes[n++] = (char)c;
    wchar_t wc;
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t k = mbrtowc(&wc, bytes, n, &st);
    if (k == (size_t)-2 && n < sizeof bytes) continue;
    if (k == (size_t)-1 || k == (size_t)-2) return (unsigned char)bytes[0];
    return (int)wc;
  }
}

// completion: candidates come from repl.complete(word, line) as full replacements of word
static char** repl_complete(const char* text, int start, int end) {
  (void)start;
  rl_attempted_completion_over = 1;  // never fall back to file names
  lua_State* L = repl_state;
  int top = lua_gettop(L);
  char** matches = NULL;
  lua_rawgeti(L, LUA_REGISTRYINDEX, repl_module);
  lua_getfield(L, -1, "complete");
  lua_pushstring(L, text);
  lua_pushlstring(L, rl_line_buffer ? rl_line_buffer : "", rl_line_buffer ? (size_t)end : 0);
  if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_istable(L, -1)) {
    size_t n = (size_t)lua_rawlen(L, -1);
    if (n > 0 && (matches = calloc(n + 2, sizeof *matches))) {
      size_t common = SIZE_MAX;
      for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        const char* s = lua_tostring(L, -1);
        matches[i] = strdup(s ? s : "");
        lua_pop(L, 1);
        size_t k = 0;
        while (common != SIZE_MAX && k < common && matches[1][k] && matches[1][k] == matches[i][k])
          k++;
        common = i == 1 ? strlen(matches[1]) : k;
      }
      // matches[0] is the longest common prefix, which libedit substitutes for the word
      matches[0] = strndup(matches[1], common);
    }
  }
  lua_settop(L, top);
  return matches;
}

// ---- the read-eval-print loop -------------------------------------------------------------------

enum { LINE_OK, LINE_CANCELLED, LINE_EOF, LINE_INTERRUPTED };

// one line without its newline in *out (malloc'd); prompts only when interactive
static int read_line(const char* prompt, char** out) {
  *out = NULL;
  if (leave || sp_host_terminated()) return LINE_EOF;
  if (interactive) {
    line_cancelled = 0;
    at_primary = prompt[0] == '>' && prompt[1] == ' ';
    char* line = readline(prompt);
    if (!line || leave) {
      free(line);
      return LINE_EOF;
    }
    if (line_cancelled) {
      // on the robot: Ctrl-C at an empty prompt e-stops (whatever was typed and erased before);
      // on a line with text, or inside an unfinished chunk, it only clears, and says so
      int empty = strspn(line, " \t") == strlen(line);
      free(line);
      if (robot_mode && at_primary && empty) {
        if (robot_ctrl_c(repl_state)) leave = 1;
      } else {
        robot_presses = 0;
        if (robot_mode) {
          printf("line cleared; e-stop NOT latched (Ctrl-C at an empty prompt e-stops)\n");
          fflush(stdout);
        }
      }
      return leave ? LINE_EOF : LINE_CANCELLED;
    }
    if (*line) robot_presses = 0;
    *out = line;
    return LINE_OK;
  }
  char* buf = NULL;
  size_t cap = 0;
  errno = 0;
  ssize_t len = getline(&buf, &cap, stdin);
  if (len < 0) {
    int err = errno;
    free(buf);
    if (sp_host_terminated()) return LINE_EOF;
    // on the robot, Ctrl-C while waiting for a line e-stops; a second one leaves
    if (robot_mode && sp_host_interrupted() && err == EINTR) {
      sp_host_interrupt_clear(repl_state);
      clearerr(stdin);
      if (robot_ctrl_c(repl_state)) return LINE_INTERRUPTED;
      return LINE_CANCELLED;
    }
    return sp_host_interrupted() ? LINE_INTERRUPTED : LINE_EOF;
  }
  robot_presses = 0;
  if (len > 0 && buf[len - 1] == '\n') buf[--len] = '\0';
  *out = buf;
  return LINE_OK;
}

// call repl.<name>(args...) on the nargs values on top, leaving nresults; returns a Lua status
static int call_repl(lua_State* L, const char* name, int nargs, int nresults) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, repl_module);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
  lua_insert(L, -1 - nargs);
  lua_pushcfunction(L, sp_host_msghandler);
  int handler = lua_gettop(L) - nargs - 1;
  lua_insert(L, handler);
  int status = lua_pcall(L, nargs, nresults, handler);
  lua_remove(L, handler);
  return status;
}

static void report(lua_State* L) {
  fflush(stdout);
  sp_host_report(L, 0);
}

static int incomplete(lua_State* L, int status) {
  if (status != LUA_ERRSYNTAX) return 0;
  size_t len;
  const char* msg = lua_tolstring(L, -1, &len);
  const size_t mark = sizeof "<eof>" - 1;
  return msg && len >= mark && strcmp(msg + len - mark, "<eof>") == 0;
}

// read a line (and continuation lines) and compile it: LINE_OK leaves the function on the stack
static int read_chunk(lua_State* L, int* quit) {
  char* line;
  int got = read_line("> ", &line);
  if (got != LINE_OK) return got;
  history_append(line);
  if (line[0] == ':') {
    lua_pushstring(L, line);
    free(line);
    if (call_repl(L, "command", 1, 1) != LUA_OK) {
      report(L);
      return LINE_CANCELLED;
    }
    *quit = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return LINE_CANCELLED;
  }
  if (strspn(line, " \t\r") == strlen(line)) {
    free(line);
    return LINE_CANCELLED;
  }
  // an expression prints without `return`
  const char* ret = lua_pushfstring(L, "return %s;", line);
  if (luaL_loadbuffer(L, ret, strlen(ret), "=repl") == LUA_OK) {
    lua_remove(L, -2);
    free(line);
    return LINE_OK;
  }
  lua_pop(L, 2);
  // a statement, continued while the chunk is incomplete
  lua_pushstring(L, line);
  free(line);
  for (;;) {
    size_t len;
    const char* code = lua_tolstring(L, -1, &len);
    int status = luaL_loadbuffer(L, code, len, "=repl");
    if (status == LUA_OK) {
      lua_remove(L, -2);
      return LINE_OK;
    }
    if (!incomplete(L, status)) {
      lua_remove(L, -2);
      report(L);
      return LINE_CANCELLED;
    }
    got = read_line(">> ", &line);
    if (got != LINE_OK) {
      lua_remove(L, -2);
      if (got == LINE_EOF)
        report(L);  // the input ended inside the chunk: say what is missing
      else
        lua_pop(L, 1);
      return got;
    }
    lua_pop(L, 1);
    history_append(line);
    lua_pushliteral(L, "\n");
    lua_pushstring(L, line);
    free(line);
    lua_concat(L, 3);
  }
}

// run the compiled chunk on top of the stack and show its results through repl.show
static void eval_print(lua_State* L) {
  int base = lua_gettop(L);
  lua_pushcfunction(L, sp_host_msghandler);
  lua_insert(L, base);
  int status = lua_pcall(L, 0, LUA_MULTRET, base);
  lua_remove(L, base);
  if (status != LUA_OK) {
    report(L);
  } else {
    int n = lua_gettop(L) - base + 1;
    if (n > 0 && call_repl(L, "show", n, 0) != LUA_OK) report(L);
  }
  lua_settop(L, base - 1);
  // on the robot: say what the loop did meanwhile (a fault that stopped it, a recording saved)
  if (robot_mode) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, live_module);
    lua_getfield(L, -1, "after_line");
    lua_remove(L, -2);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) report(L);
  }
  fflush(stdout);
  sp_host_interrupt_clear(L);
}

// globals spinal and sp, and the repl module kept in the registry
static int repl_setup(lua_State* L) {
  lua_pushcfunction(L, sp_host_msghandler);
  int handler = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "spinal");
  if (lua_pcall(L, 1, 1, handler) != LUA_OK) return 0;
  lua_pushvalue(L, -1);
  lua_setglobal(L, "spinal");
  lua_setglobal(L, "sp");
  lua_getglobal(L, "require");
  lua_pushliteral(L, "spinal.repl");
  if (lua_pcall(L, 1, 1, handler) != LUA_OK) return 0;
  lua_getfield(L, -1, "help");  // help(x): docs/api on any spinal function, module or object
  lua_setglobal(L, "help");
  repl_module = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  return 1;
}

int sp_host_repl(lua_State* L) {
  repl_state = L;
  if (!repl_setup(L)) {
    sp_host_report(L, 1);
    return SP_EXIT_ERROR;
  }
  interactive = isatty(STDIN_FILENO);
  if (interactive) {
    setlocale(LC_CTYPE, "");
    rl_readline_name = "spinal";
    rl_catch_signals = 0;  // Ctrl-C is ours: it clears the line (repl_getc)
    rl_getc_function = repl_getc;
    rl_attempted_completion_function = repl_complete;
    rl_basic_word_break_characters = " \t\n\"'`@$><=;|&{}()[]+-*/%^#,~";
    rl_completion_append_character = '\0';
    rl_initialize();
    using_history();
    history_load();
    if (!robot_mode)
      printf("spinal %s (%s)  :help for help, Ctrl-D to quit\n", SP_VERSION, LUA_RELEASE);
    fflush(stdout);
  }
  int code = SP_EXIT_OK;
  int quit = 0;
  while (!quit) {
    int got = read_chunk(L, &quit);
    if (got == LINE_EOF && leave && robot_presses >= 2) code = SP_EXIT_INTERRUPTED;
    if (got == LINE_EOF) break;
    if (got == LINE_INTERRUPTED) {
      code = SP_EXIT_INTERRUPTED;
      break;
    }
    if (got == LINE_OK) eval_print(L);
  }
  if (interactive && !quit) printf("\n");
  if (sp_host_terminated()) code = SP_EXIT_TERMINATED;
  fflush(stdout);
  free(history_path);
  free(history_last);
  history_path = history_last = NULL;
  return code;
}

int sp_host_repl_robot(lua_State* L, const char* robot, const char* uri, const char* listen,
                       int any) {
  // open the session: robot file, plant, loop started held, globals and banner
  lua_pushcfunction(L, sp_host_msghandler);
  int handler = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "spinal.live");
  if (lua_pcall(L, 1, 1, handler) != LUA_OK) {
    sp_host_report(L, 1);
    return SP_EXIT_ERROR;
  }
  live_module = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_rawgeti(L, LUA_REGISTRYINDEX, live_module);
  lua_getfield(L, -1, "open");
  lua_remove(L, -2);
  lua_pushstring(L, robot);
  if (uri)
    lua_pushstring(L, uri);
  else
    lua_pushnil(L);
  int status = lua_pcall(L, 2, 2, handler);
  if (status != LUA_OK || lua_isnil(L, -2)) {
    // the robot loader's or the plant's messages; nothing was started
    fflush(stdout);
    if (status == LUA_OK) lua_remove(L, -2);
    sp_host_report(L, status != LUA_OK);
    lua_settop(L, handler - 1);
    return SP_EXIT_ERROR;
  }
  lua_settop(L, handler - 1);
  sp_host_terminate_install(L);
  robot_mode = 1;

  int code = listen ? sp_host_repl_serve(L, listen, any) : sp_host_repl(L);

  // the safe stop, whatever ended the session; not interruptible by a pending Ctrl-C
  sp_host_interrupt_clear(L);
  lua_pushcfunction(L, sp_host_msghandler);
  handler = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, live_module);
  lua_getfield(L, -1, "close");
  lua_remove(L, -2);
  lua_pushstring(L, sp_host_terminated()          ? "SIGTERM"
                    : code == SP_EXIT_INTERRUPTED ? "Ctrl-C"
                                                  : "end of session");
  if (lua_pcall(L, 1, 0, handler) != LUA_OK) {
    sp_host_report(L, 1);
    if (code == SP_EXIT_OK) code = SP_EXIT_ERROR;
  }
  lua_settop(L, handler - 1);
  robot_mode = 0;
  return code;
}
