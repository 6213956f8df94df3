// npy.c: NPY files (numpy.lib.format, NEP 1): save float64 C-order arrays, load the common
// numeric dtypes in either byte order and either memory order as float64.
//
// Layout: "\x93NUMPY", major, minor, header length (uint16 LE for 1.0, uint32 LE for 2.0/3.0),
// an ASCII (3.0: UTF-8) Python dict literal ending in '\n' and padded with spaces so the data
// starts at a multiple of 64 bytes, then the elements.
#include "npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static int host_little_endian(void) {
  const uint16_t one = 1;
  unsigned char c;
  memcpy(&c, &one, 1);
  return c == 1;
}

static void swap_bytes(unsigned char* p, int size) {
  for (int i = 0; i < size / 2; i++) {
    unsigned char t = p[i];
    p[i] = p[size - 1 - i];
    p[size - 1 - i] = t;
  }
}

// ---- save --------------------------------------------------------------------------------------

int sp_npy_save(const char* path, const sp_array* a, char* msg, size_t n) {
  if (!a->data) return sp_errorf(msg, n, SP_EINVAL, "%s: cannot save a released array", path);
  // the header dict, padded to a multiple of 64 bytes with the preamble
  char dict[64 + SP_MAXDIM * 24 + 64];
  int len = snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (");
  for (int d = 0; d < a->ndim; d++)
    len += snprintf(dict + len, sizeof dict - (size_t)len, d ? ", %lld" : "%lld",
                    (long long)a->shape[d]);
  len += snprintf(dict + len, sizeof dict - (size_t)len, a->ndim == 1 ? ",), }" : "), }");
  int total = 10 + len + 1;
  int pad = (64 - total % 64) % 64;
  char header[sizeof dict + 64 + 10];
  memcpy(header, magic, 6);
  header[6] = 1;
  header[7] = 0;
  int hlen = len + pad + 1;
  header[8] = (char)(hlen & 0xff);
  header[9] = (char)(hlen >> 8);
  memcpy(header + 10, dict, (size_t)len);
  memset(header + 10 + len, ' ', (size_t)pad);
  header[10 + len + pad] = '\n';

  FILE* f = fopen(path, "wb");
  if (!f)
    return sp_errorf(msg, n, SP_EIO, "%s: cannot open for writing (%s)", path, strerror(errno));
  int ok = fwrite(header, 1, (size_t)(10 + hlen), f) == (size_t)(10 + hlen);

  // elements in row-major order, through a small buffer (byte-swapped on big-endian hosts)
  int swap = !host_little_endian();
  int64_t size = sp_array_size(a), idx[SP_MAXDIM] = {0};
  double chunk[512];
  int fill = 0;
  for (int64_t i = 0; i < size && ok; i++) {
    chunk[fill] = *sp_array_at(a, idx);
    if (swap) swap_bytes((unsigned char*)&chunk[fill], 8);
    if (++fill == 512 || i == size - 1) {
      ok = fwrite(chunk, sizeof(double), (size_t)fill, f) == (size_t)fill;
      fill = 0;
    }
    for (int d = a->ndim - 1; d >= 0 && ++idx[d] == a->shape[d]; d--) idx[d] = 0;
  }
  int err = errno;
  if (fclose(f) != 0 && ok) {
    ok = 0;
    err = errno;
  }
  if (!ok) return sp_errorf(msg, n, SP_EIO, "%s: write failed (%s)", path, strerror(err));
  return SP_OK;
}

// ---- load --------------------------------------------------------------------------------------

typedef struct {
  char kind;    // 'f', 'i', 'u', 'b'
  int size;     // bytes per element
  int swap;     // file byte order differs from the host's
  int fortran;  // column-major data
  int ndim;
  int64_t shape[SP_MAXDIM];
} npy_header;

// the value text after 'key': in the dict, or NULL
static const char* find_key(const char* dict, const char* key) {
  size_t k = strlen(key);
  for (const char* p = strchr(dict, '\''); p; p = strchr(p + 1, '\'')) {
    if (!strncmp(p + 1, key, k) && p[k + 1] == '\'') {
      const char* q = p + k + 2;
      while (*q == ' ') q++;
      if (*q != ':') return NULL;
      q++;
      while (*q == ' ') q++;
      return q;
    }
  }
  return NULL;
}

static int parse_header(npy_header* h, char* dict, const char* path, char* msg, size_t n) {
  // numpy writes single quotes; accept double quotes too
  for (char* p = dict; *p; p++)
    if (*p == '"') *p = '\'';
  memset(h, 0, sizeof *h);
  const char* d = find_key(dict, "descr");
  if (!d || *d != '\'')
    return sp_errorf(msg, n, SP_EFORMAT, "%s: header has no 'descr' string", path);
  char descr[32] = {0};
  const char* e = strchr(d + 1, '\'');
  if (!e || e - d - 1 >= (long)sizeof descr)
    return sp_errorf(msg, n, SP_EFORMAT, "%s: malformed 'descr' in header", path);
  memcpy(descr, d + 1, (size_t)(e - d - 1));
  char order = descr[0], kind = descr[1];
  char* end;
  long size = strtol(descr + 2, &end, 10);
  int known =
      (order == '<' || order == '>' || order == '|' || order == '=') && *end == '\0' &&
      ((kind == 'f' && (size == 4 || size == 8)) ||
       ((kind == 'i' || kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8)) ||
       (kind == 'b' && size == 1));
  if (!known)
    return sp_errorf(msg, n, SP_EFORMAT,
                     "%s: unsupported dtype '%s' (expected float64, float32, signed or "
                     "unsigned integers, or bool)",
                     path, descr);
  h->kind = kind;
  h->size = (int)size;
  h->swap = size > 1 && order != '|' && order != '=' && (order == '<') != host_little_endian();

  const char* fo = find_key(dict, "fortran_order");
  if (!fo) return sp_errorf(msg, n, SP_EFORMAT, "%s: header has no 'fortran_order'", path);
  if (!strncmp(fo, "True", 4))
    h->fortran = 1;
  else if (strncmp(fo, "False", 5))
    return sp_errorf(msg, n, SP_EFORMAT, "%s: 'fortran_order' is neither True nor False", path);

  const char* s = find_key(dict, "shape");
  if (!s || *s != '(')
    return sp_errorf(msg, n, SP_EFORMAT, "%s: header has no 'shape' tuple", path);
  s++;
  for (;;) {
    while (*s == ' ' || *s == ',') s++;
    if (*s == ')') break;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0)
      return sp_errorf(msg, n, SP_EFORMAT, "%s: malformed 'shape' in header", path);
    if (h->ndim == SP_MAXDIM)
      return sp_errorf(msg, n, SP_EFORMAT, "%s: more than %d dimensions", path, SP_MAXDIM);
    h->shape[h->ndim++] = v;
    s = end;
    while (*s == ' ' || *s == 'L') s++;
    if (*s != ',' && *s != ')')
      return sp_errorf(msg, n, SP_EFORMAT, "%s: malformed 'shape' in header", path);
  }
  return SP_OK;
}

static double convert(const unsigned char* p, const npy_header* h) {
  unsigned char b[8];
  memcpy(b, p, (size_t)h->size);
  if (h->swap) swap_bytes(b, h->size);
  switch (h->kind) {
    case 'f':
      if (h->size == 8) {
        double v;
        memcpy(&v, b, 8);
        return v;
      } else {
        float v;
        memcpy(&v, b, 4);
        return v;
      }
    case 'i':
      switch (h->size) {
        case 1: {
          int8_t v;
          memcpy(&v, b, 1);
          return v;
        }
        case 2: {
          int16_t v;
          memcpy(&v, b, 2);
          return v;
        }
        case 4: {
          int32_t v;
          memcpy(&v, b, 4);
          return v;
        }
        default: {
          int64_t v;
          memcpy(&v, b, 8);
          return (double)v;
        }
      }
    case 'u':
      switch (h->size) {
        case 1:
          return b[0];
        case 2: {
          uint16_t v;
          memcpy(&v, b, 2);
          return v;
        }
        case 4: {
          uint32_t v;
          memcpy(&v, b, 4);
          return v;
        }
        default: {
          uint64_t v;
          memcpy(&v, b, 8);
          return (double)v;
        }
      }
    default:
      return b[0] != 0;
  }
}

static int load_file(sp_array* a, FILE* f, const char* path, char* msg, size_t n) {
  unsigned char pre[12];
  size_t got = fread(pre, 1, 10, f);
  if (got < 10 && ferror(f))
    return sp_errorf(msg, n, SP_EIO, "%s: read failed (%s)", path, strerror(errno));
  if (got < 8 || memcmp(pre, magic, 6))
    return sp_errorf(msg, n, SP_EFORMAT, "%s: not an NPY file (bad magic)", path);
  int major = pre[6], minor = pre[7];
  uint32_t hlen;
  if (major == 1) {
    if (got < 10) return sp_errorf(msg, n, SP_EFORMAT, "%s: truncated header", path);
    hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
  } else if (major == 2 || major == 3) {
    if (got < 10 || fread(pre + 10, 1, 2, f) != 2)
      return sp_errorf(msg, n, SP_EFORMAT, "%s: truncated header", path);
    hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
           (uint32_t)pre[11] << 24;
  } else {
    return sp_errorf(msg, n, SP_EFORMAT, "%s: unsupported NPY version %d.%d", path, major, minor);
  }
  if (hlen > (1u << 20))
    return sp_errorf(msg, n, SP_EFORMAT, "%s: header length %u is implausible", path, hlen);
  char* dict = sp_malloc(hlen + 1);
  if (!dict) return sp_errorf(msg, n, SP_ENOMEM, "%s: out of memory reading header", path);
  if (fread(dict, 1, hlen, f) != hlen) {
    sp_free(dict);
    return sp_errorf(msg, n, SP_EFORMAT, "%s: truncated header", path);
  }
  dict[hlen] = '\0';
  npy_header h;
  int rc = parse_header(&h, dict, path, msg, n);
  sp_free(dict);
  if (rc) return rc;

  // Fortran order is C order of the reversed shape; read that, then transpose and copy
  int64_t shape[SP_MAXDIM];
  for (int d = 0; d < h.ndim; d++) shape[d] = h.fortran ? h.shape[h.ndim - 1 - d] : h.shape[d];
  sp_array raw;
  rc = sp_array_new(&raw, h.ndim, shape);
  if (rc) return sp_errorf(msg, n, rc, "%s: cannot allocate the array", path);
  int64_t count = sp_array_size(&raw), bytes = count * h.size, read = 0;
  if (h.kind == 'f' && h.size == 8 && !h.swap) {
    read = (int64_t)fread(raw.data, 1, (size_t)bytes, f);
  } else {
    unsigned char chunk[4096];
    int per = (int)sizeof chunk / h.size;
    for (int64_t i = 0; i < count;) {
      int want = count - i < per ? (int)(count - i) : per;
      size_t r = fread(chunk, (size_t)h.size, (size_t)want, f);
      for (size_t k = 0; k < r; k++) raw.data[i + (int64_t)k] = convert(chunk + k * h.size, &h);
      read += (int64_t)r * h.size;
      i += (int64_t)r;
      if ((int)r < want) break;
    }
  }
  if (read < bytes) {
    sp_array_release(&raw);
    return sp_errorf(msg, n, SP_EFORMAT, "%s: truncated data (expected %lld bytes, got %lld)", path,
                     (long long)bytes, (long long)read);
  }
  if (!h.fortran) {
    *a = raw;
    return SP_OK;
  }
  sp_array rev = raw;
  for (int d = 0; d < h.ndim; d++) {
    rev.shape[d] = raw.shape[h.ndim - 1 - d];
    rev.stride[d] = raw.stride[h.ndim - 1 - d];
  }
  rc = sp_array_copy(a, &rev);
  sp_array_release(&raw);
  if (rc) return sp_errorf(msg, n, rc, "%s: cannot allocate the array", path);
  return SP_OK;
}

int sp_npy_load(sp_array* a, const char* path, char* msg, size_t n) {
  memset(a, 0, sizeof *a);
  FILE* f = fopen(path, "rb");
  if (!f) return sp_errorf(msg, n, SP_EIO, "%s: cannot open (%s)", path, strerror(errno));
  int rc = load_file(a, f, path, msg, n);
  fclose(f);
  return rc;
}
