// file.c: whole-file reads and crash-safe whole-file writes (file.h).
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

// write all of buf to fd
static int write_all(int fd, const uint8_t* buf, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, buf, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += k;
    n -= (size_t)k;
  }
  return 0;
}

// write buf to a temporary file next to path, fsync it, rename it over path
int sp_file_write_atomic(const char* path, const void* buf, size_t n, char* msg, size_t ms) {
  // a fresh name next to path; open(O_EXCL) with mode 0666 so the file gets the umask's usual
  // permissions (mkstemp would make it private)
  static atomic_uint counter;
  size_t plen = strlen(path), tlen = plen + 48;
  char* tmp = sp_malloc(tlen);
  if (!tmp) return sp_errorf(msg, ms, SP_ENOMEM, "%s: out of memory", path);
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
    snprintf(tmp, tlen, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    int rc =
        sp_errorf(msg, ms, SP_EIO, "%s: cannot create a temporary file: %s", path, strerror(errno));
    sp_free(tmp);
    return rc;
  }
  const char* what = NULL;
  if (write_all(fd, buf, n))
    what = "cannot write";
  else if (fsync(fd))
    what = "cannot sync";
  int err = errno;
  if (close(fd) && !what) {
    what = "cannot close";
    err = errno;
  }
  if (!what && rename(tmp, path)) {
    what = "cannot replace";
    err = errno;
  }
  if (what) {
    unlink(tmp);
    sp_free(tmp);
    return sp_errorf(msg, ms, SP_EIO, "%s: %s: %s", path, what, strerror(err));
  }
  sp_free(tmp);

  // make the rename durable (best effort: some file systems refuse fsync on directories)
  const char* slash = strrchr(path, '/');
  char dir[4096];
  if (!slash) {
    strcpy(dir, ".");
  } else if ((size_t)(slash - path) < sizeof dir) {
    size_t dl = slash == path ? 1 : (size_t)(slash - path);
    memcpy(dir, path, dl);
    dir[dl] = 0;
  } else {
    return 0;
  }
  int dfd = open(dir, O_RDONLY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

int sp_file_read(const char* path, uint8_t** out, size_t* size, char* msg, size_t ms) {
  FILE* f = fopen(path, "rb");
  if (!f) return sp_errorf(msg, ms, SP_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) || st.st_size < 0) {
    fclose(f);
    return sp_errorf(msg, ms, SP_EIO, "%s: cannot stat: %s", path, strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    fclose(f);
    return sp_errorf(msg, ms, SP_EIO, "%s: not a regular file", path);
  }
  size_t n = (size_t)st.st_size;
  uint8_t* buf = sp_malloc(n ? n : 1);
  if (!buf) {
    fclose(f);
    return sp_errorf(msg, ms, SP_ENOMEM, "%s: out of memory (%zu bytes)", path, n);
  }
  size_t got = fread(buf, 1, n, f);
  int bad = ferror(f);
  fclose(f);
  if (bad || got != n) {
    sp_free(buf);
    return sp_errorf(msg, ms, SP_EIO, "%s: read error", path);
  }
  *out = buf;
  *size = n;
  return 0;
}
