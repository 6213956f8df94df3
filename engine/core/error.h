// error.h: the one table of spinal error codes and their messages.
//
// Functions that can fail return int: 0 (SP_OK) or a negative SP_E* code. sp_strerror gives the
// message. Loaders additionally fill a caller's message buffer with file, line and field.
#ifndef SP_CORE_ERROR_H
#define SP_CORE_ERROR_H

#include <stddef.h>

#include "engine/core/export.h"

SP_API_BEGIN

// X-macro: code name, value, message
#define SP_ERRORS(X)                                                  \
  X(SP_OK, 0, "success")                                              \
  X(SP_ENOMEM, -1, "out of memory")                                   \
  X(SP_EINVAL, -2, "invalid argument")                                \
  X(SP_ESHAPE, -3, "shape mismatch")                                  \
  X(SP_EIO, -4, "input/output error")                                 \
  X(SP_EFORMAT, -5, "malformed file")                                 \
  X(SP_ECHECKSUM, -6, "checksum mismatch")                            \
  X(SP_ENUMERIC, -7, "numerical failure (NaN, Inf or divergence)")    \
  X(SP_ERANGE, -8, "value out of range")                              \
  X(SP_EMISMATCH, -9, "object does not match the saved description")  \
  X(SP_ESINGULAR, -10, "matrix is singular or not positive definite") \
  X(SP_ENOTFOUND, -11, "not found")                                   \
  X(SP_EUNSUPPORTED, -12, "unsupported operation")                    \
  X(SP_ESTATE, -13, "operation not valid in the current state")       \
  X(SP_ETIMEOUT, -14, "timed out")

enum {
#define SP_ERROR_ENUM(name, value, msg) name = value,
  SP_ERRORS(SP_ERROR_ENUM)
#undef SP_ERROR_ENUM
};

// Codes -101 .. -199 belong to the HAL wire protocol (hal/protocol.h, SP_PROTO_E*), which keeps
// its own table so that firmware can reuse the protocol file alone; sp_strerror names the range.
#define SP_EPROTO_FIRST (-101)
#define SP_EPROTO_LAST (-199)

// Message for an error code; never NULL ("unknown error" for codes not in the table).
const char* sp_strerror(int code);

// Format a message into buf (size n), like snprintf; returns code so loaders can write
// `return sp_errorf(msg, n, SP_EFORMAT, "%s: field '%s' ...", path, field);`.
int sp_errorf(char* buf, size_t n, int code, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

SP_API_END

#endif  // SP_CORE_ERROR_H
