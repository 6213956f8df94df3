// error.c: error messages for the SP_E* codes.
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

const char* sp_strerror(int code) {
  switch (code) {
#define SP_ERROR_CASE(name, value, msg) \
  case name:                            \
    return msg;
    SP_ERRORS(SP_ERROR_CASE)
#undef SP_ERROR_CASE
  }
  if (code <= SP_EPROTO_FIRST && code >= SP_EPROTO_LAST)
    return "malformed protocol message (details: sp_proto_strerror)";
  return "unknown error";
}

int sp_errorf(char* buf, size_t n, int code, const char* fmt, ...) {
  if (buf && n > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
  }
  return code;
}
