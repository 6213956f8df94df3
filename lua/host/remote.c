// remote.c: the remote REPL on the robot (`spinal repl ROBOT.lua --listen ADDR`) and its client
// (`spinal repl --connect ADDR --token T`).
//
// The server listens on tcp://HOST:PORT (loopback only unless --listen-any) or unix:/PATH (a
// socket file made 0600), one client at a time. A client must send the session's token as its
// first line within 5 s; the token is 32 hex digits from /dev/urandom, printed on the local
// terminal and written to a 0600 file. The whole line is compared, in constant time (a NUL or
// anything after the token fails), and up to 8 clients are heard at once, each with its own
// deadline, so a client that connects and stays silent delays no other. An accepted client gets the
// same REPL as a pipe would: its socket becomes the REPL's stdin, stdout and stderr for the
// session. When it leaves, the loop is held (no operator: safe command) and the next client may
// connect. docs/cli.md has the security model.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host.h"

#define TOKEN_HEX 32

// ---- addresses ----------------------------------------------------------------------------------

typedef struct addr {
  struct sockaddr_storage sa;
  socklen_t len;
  int family;
  char path[108];  // unix sockets
} addr;

static int is_loopback(const struct sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    uint32_t a = ntohl(((const struct sockaddr_in*)sa)->sin_addr.s_addr);
    return (a >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr* a = &((const struct sockaddr_in6*)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a);
  }
  return sa->sa_family == AF_UNIX;
}

// parse tcp://HOST:PORT or unix:/PATH into a; message in err on failure
static int parse_addr(addr* a, const char* s, char* err, size_t n) {
  memset(a, 0, sizeof *a);
  if (!strncmp(s, "unix:", 5)) {
    const char* path = s + 5;
    if (!*path || strlen(path) >= sizeof a->path) {
      snprintf(err, n, "bad unix address '%s' (expected unix:/path, under 108 characters)", s);
      return -1;
    }
    struct sockaddr_un* u = (struct sockaddr_un*)&a->sa;
    u->sun_family = AF_UNIX;
    snprintf(u->sun_path, sizeof u->sun_path, "%s", path);
    snprintf(a->path, sizeof a->path, "%s", path);
    a->len = sizeof *u;
    a->family = AF_UNIX;
    return 0;
  }
  const char* rest = !strncmp(s, "tcp://", 6) ? s + 6 : NULL;
  const char* colon = rest ? strrchr(rest, ':') : NULL;
  if (!rest || !colon || colon == rest || !colon[1]) {
    snprintf(err, n, "bad address '%s' (expected tcp://HOST:PORT or unix:/PATH)", s);
    return -1;
  }
  char host[256];
  size_t hl = (size_t)(colon - rest);
  if (hl >= sizeof host) hl = sizeof host - 1;
  memcpy(host, rest, hl);
  host[hl] = 0;
  if (host[0] == '[' && hl > 1 && host[hl - 1] == ']') {
    memmove(host, host + 1, hl - 2);
    host[hl - 2] = 0;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo* res = NULL;
  int rc = getaddrinfo(host, colon + 1, &hints, &res);
  if (rc || !res) {
    snprintf(err, n, "cannot resolve '%s': %s", s, gai_strerror(rc));
    return -1;
  }
  memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
  a->len = res->ai_addrlen;
  a->family = res->ai_family;
  freeaddrinfo(res);
  return 0;
}

// ---- the token ----------------------------------------------------------------------------------

static int make_token(char* hex) {
  unsigned char b[TOKEN_HEX / 2];
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t r = read(fd, b, sizeof b);
  close(fd);
  if (r != (ssize_t)sizeof b) return -1;
  for (size_t i = 0; i < sizeof b; i++) snprintf(hex + 2 * i, 3, "%02x", b[i]);
  return 0;
}

// the whole first line against the token, in time independent of where they differ: got holds
// n bytes (NULs included), and a line of another length is refused by the same loop
static int token_equal(const char* token, const char* got, size_t n) {
  unsigned char d = n != TOKEN_HEX;
  for (size_t i = 0; i < TOKEN_HEX; i++) d |= (unsigned char)(token[i] ^ (i < n ? got[i] : 0));
  return d == 0;
}

// clients waiting to send their token: each has its own deadline, so one silent client delays no
// other (they are served as their bytes arrive)
#define MAX_PENDING 8
#define TOKEN_SECONDS 5

typedef struct pending {
  int fd;
  size_t n;  // bytes of the first line so far (TOKEN_HEX + 1: longer than it)
  char line[TOKEN_HEX + 1];
  struct timespec deadline;
} pending;

// read what pending client c has sent, without blocking: 1 when its line is complete, 0 when
// more is to come, -1 when it left
static int pending_read(pending* c) {
  char ch;
  for (;;) {
    ssize_t r = read(c->fd, &ch, 1);  // one byte at a time: what follows the line is the REPL's
    if (r == 0) return -1;
    if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    if (ch == '\n') return 1;
    if (ch == '\r') continue;
    if (c->n < sizeof c->line) c->line[c->n++] = ch;
  }
}

static int expired(const struct timespec* now, const struct timespec* t) {
  return now->tv_sec > t->tv_sec || (now->tv_sec == t->tv_sec && now->tv_nsec >= t->tv_nsec);
}

static void say(int fd, const char* s) {
  ssize_t w = write(fd, s, strlen(s));
  (void)w;
}

// tell a waiting client why it is refused, close it, and log the reason here
static void refuse(int fd, const char* reply, const char* why) {
  say(fd, reply);
  close(fd);
  fprintf(stderr, "spinal repl: a client was refused (%s)\n", why);
}

// ---- the server ---------------------------------------------------------------------------------

// call live.<name>() (no arguments, results dropped)
static void call_live(lua_State* L, const char* name) {
  int top = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "spinal.live");
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
    lua_getfield(L, -1, name);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) sp_host_report(L, 1);
  }
  lua_settop(L, top);
}

int sp_host_listen_check(const char* where, int any) {
  char err[300];
  addr a;
  if (parse_addr(&a, where, err, sizeof err)) {
    fprintf(stderr, "spinal repl: --listen: %s\n", err);
    return SP_EXIT_USAGE;
  }
  if (!any && !is_loopback((struct sockaddr*)&a.sa)) {
    fprintf(stderr,
            "spinal repl: --listen %s is not a loopback address; the remote REPL drives the "
            "robot, so it only listens on 127.0.0.1, ::1 or a unix socket unless --listen-any\n",
            where);
    return SP_EXIT_USAGE;
  }
  return SP_EXIT_OK;
}

// Ctrl-C with no client: e-stop; twice: leave (returns 1)
static int interrupt_waiting(lua_State* L, int* presses) {
  sp_host_interrupt_clear(L);
  (*presses)++;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "spinal.live");
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
    lua_getfield(L, -1, "interrupt");
    lua_pushboolean(L, *presses >= 2);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) sp_host_report(L, 1);
  }
  lua_settop(L, 0);
  return *presses >= 2;
}

// wait for a client that sends the token: its socket (blocking again), or -1 with *code set when
// the server must stop (SIGTERM, Ctrl-C twice). Up to MAX_PENDING clients are heard at once.
static int next_client(lua_State* L, int ls, const char* token, int* presses, int* code) {
  pending pend[MAX_PENDING];
  int np = 0, found = -1;
  while (found < 0) {
    if (sp_host_terminated()) {
      *code = SP_EXIT_TERMINATED;
      break;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct pollfd p[1 + MAX_PENDING] = {{.fd = ls, .events = POLLIN}};
    int timeout = -1;
    for (int i = 0; i < np; i++) {
      p[1 + i] = (struct pollfd){.fd = pend[i].fd, .events = POLLIN};
      long ms = (pend[i].deadline.tv_sec - now.tv_sec) * 1000 +
                (pend[i].deadline.tv_nsec - now.tv_nsec) / 1000000 + 1;
      if (ms < 0) ms = 0;
      if (timeout < 0 || ms < timeout) timeout = (int)ms;
    }
    if (poll(p, (nfds_t)(1 + np), timeout) < 0) {
      if (errno == EINTR && sp_host_interrupted() && interrupt_waiting(L, presses)) {
        *code = SP_EXIT_INTERRUPTED;
        break;
      }
      continue;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    // the waiting clients, newest first so removing one keeps the others' poll slots
    for (int i = np - 1; i >= 0 && found < 0; i--) {
      int st = p[1 + i].revents ? pending_read(&pend[i]) : 0;
      if (st == 1 && token_equal(token, pend[i].line, pend[i].n)) {
        found = pend[i].fd;
      } else if (st != 0 || expired(&now, &pend[i].deadline)) {
        refuse(pend[i].fd, "spinal: bad token\n",
               st == 1  ? "bad token"
               : st < 0 ? "it left before sending a token"
                        : "no token within 5 s");
      } else {
        continue;
      }
      pend[i] = pend[--np];
      p[1 + i] = p[1 + np];
    }
    if (found < 0 && (p[0].revents & POLLIN)) {
      int c = accept(ls, NULL, NULL);
      if (c >= 0 && np == MAX_PENDING) {
        refuse(c, "spinal: busy, try again\n", "too many clients waiting");
      } else if (c >= 0) {
        fcntl(c, F_SETFD, FD_CLOEXEC);
        fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
        pend[np] = (pending){.fd = c, .deadline = now};
        pend[np].deadline.tv_sec += TOKEN_SECONDS;
        np++;
      }
    }
  }
  // the others still waiting: one client at a time
  for (int i = 0; i < np; i++)
    if (found >= 0)
      refuse(pend[i].fd, "spinal: busy, another client has the REPL; try again later\n",
             "another client has the REPL");
    else
      close(pend[i].fd);
  if (found >= 0) {
    fcntl(found, F_SETFL, fcntl(found, F_GETFL) & ~O_NONBLOCK);
    *presses = 0;
  }
  return found;
}

// the listening socket on a (a unix socket file is created 0600); -1 with the reason printed
static int open_listener(const addr* a, const char* where) {
  int ls = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (ls >= 0 && a->family != AF_UNIX) setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (a->family == AF_UNIX) {
    struct stat st;
    if (lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(a->path);
  }
  mode_t old_mask = umask(0077);
  int brc = ls < 0 ? -1 : bind(ls, (const struct sockaddr*)&a->sa, a->len);
  umask(old_mask);
  if (!brc && a->family == AF_UNIX) brc = chmod(a->path, 0600);
  if (brc || listen(ls, MAX_PENDING)) {
    fprintf(stderr, "spinal repl: cannot listen on %s: %s\n", where, strerror(errno));
    if (ls >= 0) close(ls);
    return -1;
  }
  return ls;
}

// the address clients connect to, as a URI (the port the system chose for port 0)
static void shown_address(int ls, const addr* a, const char* where, char* shown, size_t n) {
  snprintf(shown, n, "%s", where);
  if (a->family == AF_UNIX) return;
  struct sockaddr_storage got;
  socklen_t gl = sizeof got;
  char h[INET6_ADDRSTRLEN] = "?";
  getsockname(ls, (struct sockaddr*)&got, &gl);
  int port = 0;
  if (got.ss_family == AF_INET) {
    inet_ntop(AF_INET, &((struct sockaddr_in*)&got)->sin_addr, h, sizeof h);
    port = ntohs(((struct sockaddr_in*)&got)->sin_port);
  } else {
    inet_ntop(AF_INET6, &((struct sockaddr_in6*)&got)->sin6_addr, h, sizeof h);
    port = ntohs(((struct sockaddr_in6*)&got)->sin6_port);
  }
  snprintf(shown, n, got.ss_family == AF_INET6 ? "tcp://[%s]:%d" : "tcp://%s:%d", h, port);
}

// the token file, 0600: $SPINAL_TOKEN_FILE, else ~/.spinal_repl_token; its path into tpath
static int write_token_file(const char* token, char* tpath, size_t n) {
  const char* env = getenv("SPINAL_TOKEN_FILE");
  const char* home = getenv("HOME");
  snprintf(tpath, n, "%s%s", env && *env ? env : (home ? home : "."),
           env && *env ? "" : "/.spinal_repl_token");
  int tf = open(tpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (tf < 0 || fchmod(tf, 0600) || write(tf, token, TOKEN_HEX) != TOKEN_HEX ||
      write(tf, "\n", 1) != 1) {
    fprintf(stderr, "spinal repl: cannot write the token file %s: %s\n", tpath, strerror(errno));
    if (tf >= 0) close(tf);
    return -1;
  }
  close(tf);
  return 0;
}

// one session: the client's socket c is the REPL's stdin, stdout and stderr (saved: the
// process's own, restored after); then, with no operator any more, the loop holds its safe
// command. Returns the REPL's exit code.
static int serve_client(lua_State* L, int c, const int* saved) {
  fflush(stdout);
  fflush(stderr);
  dup2(c, 0);
  dup2(c, 1);
  dup2(c, 2);
  close(c);
  __fpurge(stdin);
  clearerr(stdin);
  call_live(L, "show_banner");
  int rc = sp_host_repl(L);
  fflush(stdout);
  fflush(stderr);
  dup2(saved[0], 0);
  dup2(saved[1], 1);
  dup2(saved[2], 2);
  __fpurge(stdin);
  clearerr(stdin);
  call_live(L, "client_left");
  return rc;
}

int sp_host_repl_serve(lua_State* L, const char* where, int any) {
  char err[300];
  addr a;
  int chk = sp_host_listen_check(where, any);
  if (chk) return chk;
  if (parse_addr(&a, where, err, sizeof err)) return SP_EXIT_USAGE;
  char token[TOKEN_HEX + 1];
  if (make_token(token)) {
    fprintf(stderr, "spinal repl: cannot read /dev/urandom for the token\n");
    return SP_EXIT_ERROR;
  }
  int ls = open_listener(&a, where);
  if (ls < 0) return SP_EXIT_ERROR;
  char shown[160], tpath[4096];
  shown_address(ls, &a, where, shown, sizeof shown);
  if (write_token_file(token, tpath, sizeof tpath)) {
    close(ls);
    return SP_EXIT_ERROR;
  }
  printf(
      "remote REPL on %s, one client at a time; token %s (also in %s)\n"
      "connect: spinal repl --connect %s --token %s\n"
      "here: Ctrl-C = e-stop, Ctrl-C twice or SIGTERM = safe stop and exit\n",
      shown, token, tpath, shown, token);
  fflush(stdout);

  // clients one at a time; a client that goes away must not kill the robot's process
  signal(SIGPIPE, SIG_IGN);
  int code = SP_EXIT_OK;
  int saved[3] = {dup(0), dup(1), dup(2)};
  int presses = 0;
  for (;;) {
    int c = next_client(L, ls, token, &presses, &code);
    if (c < 0) break;
    fprintf(stderr, "spinal repl: client connected\n");
    say(c, "spinal: ok\n");
    int rc = serve_client(L, c, saved);
    if (rc == SP_EXIT_INTERRUPTED || rc == SP_EXIT_TERMINATED) {
      code = rc;
      break;
    }
  }
  for (int i = 0; i < 3; i++) close(saved[i]);
  close(ls);
  if (a.family == AF_UNIX) unlink(a.path);
  unlink(tpath);
  return code;
}

// ---- the client ---------------------------------------------------------------------------------

int sp_host_repl_connect(const char* where, const char* token) {
  char err[300];
  addr a;
  if (parse_addr(&a, where, err, sizeof err)) {
    fprintf(stderr, "spinal repl: --connect: %s\n", err);
    return SP_EXIT_USAGE;
  }
  int s = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0 || connect(s, (struct sockaddr*)&a.sa, a.len)) {
    fprintf(stderr, "spinal repl: cannot connect to %s: %s\n", where, strerror(errno));
    if (s >= 0) close(s);
    return SP_EXIT_ERROR;
  }
  signal(SIGPIPE, SIG_IGN);
  say(s, token);
  say(s, "\n");
  // relay: stdin -> socket, socket -> stdout, until the server closes
  struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = s, .events = POLLIN}};
  char buf[4096];
  int in_open = 1;
  for (;;) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(s, buf, sizeof buf);
      if (r <= 0) break;
      if (write(1, buf, (size_t)r) != r) break;
    }
    if (in_open && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = read(0, buf, sizeof buf);
      if (r <= 0) {
        shutdown(s, SHUT_WR);  // Ctrl-D: the remote REPL ends the session
        in_open = 0;
        p[0].fd = -1;
      } else if (write(s, buf, (size_t)r) != r) {
        // the server closed (e.g. it refused the token): stop sending, but still print what it
        // said before closing
        in_open = 0;
        p[0].fd = -1;
      }
    }
  }
  close(s);
  return SP_EXIT_OK;
}
