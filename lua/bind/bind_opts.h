// bind_opts.h: the older names of the args layer (args.h), kept while policy.c and grad.c move to
// it; each helper is the args.h function of the same meaning, so the wording and the argument
// numbers are the layer's (fname is no longer needed: luaL_argerror names the function).
#ifndef SP_BIND_OPTS_H
#define SP_BIND_OPTS_H

#include "args.h"

static inline spA_table spO_table(lua_State* L, int arg) {
  spA_table t = {L, arg, lua_absindex(L, arg), ""};
  return t;
}

static inline void spO_check_keys(lua_State* L, int arg, const char* fname,
                                  const char* const* valid) {
  (void)fname;
  spA_table t = spO_table(L, arg);
  spA_check_keys(&t, valid);
}

static inline double spO_number(lua_State* L, int arg, const char* fname, const char* key,
                                double def) {
  (void)fname;
  spA_table t = spO_table(L, arg);
  return spA_number(&t, key, def);
}

static inline lua_Integer spO_integer(lua_State* L, int arg, const char* fname, const char* key,
                                      lua_Integer def) {
  (void)fname;
  spA_table t = spO_table(L, arg);
  return spA_integer(&t, key, def, LUA_MININTEGER, LUA_MAXINTEGER, 0);
}

static inline int spO_boolean(lua_State* L, int arg, const char* fname, const char* key, int def) {
  (void)fname;
  spA_table t = spO_table(L, arg);
  return spA_boolean(&t, key, def);
}

static inline const char* spO_string(lua_State* L, int arg, const char* fname, const char* key,
                                     const char* def) {
  (void)fname;
  spA_table t = spO_table(L, arg);
  return spA_string(&t, key, def, 0);
}

static inline void spO_gather(const sp_array* a, double* out) {
  spA_gather(a, out);
}

static inline void spO_vector(lua_State* L, int arg, const char* fname, double* out, int64_t n,
                              const char* what) {
  (void)fname;
  spA_vector(L, arg, out, n, what, 0);
}

static inline void spO_field_vector(lua_State* L, int arg, const char* fname, const char* key,
                                    double* out, int64_t n) {
  (void)fname;
  spA_table t = spO_table(L, arg);
  spA_field_vector(&t, key, out, n, 0);
}

#endif  // SP_BIND_OPTS_H
