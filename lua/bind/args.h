// args.h: the one argument and option-table layer of lua/bind. Every binding checks its positional
// arguments and its option tables through these helpers, so the same kind of mistake reads the
// same everywhere and names the argument as Lua itself would: every error goes through
// luaL_argerror, which names the calling function and, for a method call (obj:f(...)), does not
// count self (`c:act({1, 2, 3})` and `pol:act({1, 2, 3}, 0)` both say "bad argument #1 to 'act'").
//
// Wording (one form per kind of mistake):
//   bad argument #2 to 'step' (expected a state of length 4, got 3)        -- spA_vector
//   bad argument #1 to 'open' (field 'delay': expected an integer >= 0, got 1.5)
//   bad argument #2 to 'new' (field 'safety.watchdog': expected a number >= 0, got -1)
//   bad argument #1 to 'mlp' (field 'dtype': expected one of 'f64', 'f32', got 'f16')
//   bad argument #1 to 'new' (unknown option 'sead'; valid: nx, nu)
//   bad argument #3 to 'rollout' (field 'explore': expected a boolean, got number)
// Checks happen before any side effect; the helpers leave the stack as they found it unless they
// say otherwise.
#ifndef SP_BIND_ARGS_H
#define SP_BIND_ARGS_H

#include <float.h>
#include <stdint.h>

#include "bind.h"

// ---- errors -------------------------------------------------------------------------------------

// Raise "bad argument #arg to 'f' (<formatted message>)" through luaL_argerror (lua_pushfstring
// formats: %s %d %I %f %p %c %%). Never returns.
int spA_argerror(lua_State* L, int arg, const char* fmt, ...);

// ---- option tables ------------------------------------------------------------------------------

// An options table at stack index idx that belongs to argument arg; path names where it sits inside
// the argument ("" for the argument itself, "safety" or "state[3]" for a nested table) so field
// errors read "field 'safety.watchdog': ...". idx 0: the table is absent and every field reads nil.
typedef struct spA_table {
  lua_State* L;
  int arg;
  int idx;
  char path[96];
} spA_table;

// The options table argument at arg. optional: none or nil reads as an empty table; otherwise
// anything but a table raises "expected a table of options, got <type>".
spA_table spA_opts(lua_State* L, int arg, int optional);
// The table in field key of t, pushed on the stack (the caller pops it: lua_pop(L, 1), or a
// lua_settop). Absent: required raises "field 'key': expected a table, got nil", else the result
// has idx 0 (a nil is pushed so the stack count is the same).
spA_table spA_subtable(const spA_table* t, const char* key, int required);
// A table t2 at stack index idx (an element of t, e.g. a list entry) named path inside t's
// argument.
spA_table spA_nested(const spA_table* t, int idx, const char* path);
// "path.key" (or "key" at the top level) as a Lua string pushed on the stack; for messages.
const char* spA_fieldname(const spA_table* t, const char* key);
// Raise "bad argument #arg to 'f' (field 'path.key': <formatted message>)". Never returns.
int spA_fielderror(const spA_table* t, const char* key, const char* fmt, ...);
// Refuse keys that are not in valid (NULL-terminated): "unknown option 'k'; valid: a, b, c".
void spA_check_keys(const spA_table* t, const char* const* valid);

// Whether field key is present (not nil).
int spA_has(const spA_table* t, const char* key);
// A number (any value, even non-finite); def when absent.
double spA_number(const spA_table* t, const char* key, double def);
// A finite number in [lo, hi] (NAN bounds: that side is open); def when absent. Errors say
// "expected a number >= lo", "<= hi" or "in [lo, hi]". required: nil raises.
double spA_range(const spA_table* t, const char* key, double def, double lo, double hi,
                 int required);
// A number > 0 and finite (rates, periods, steps); def when absent; required: nil raises.
double spA_positive(const spA_table* t, const char* key, double def, int required);
// An integer in [lo, hi] (floats with an integral value are accepted, as Lua's math does);
// def when absent; required: nil raises. Errors: "expected an integer >= lo" or "in [lo, hi]"
// (hi >= INT_MAX reads as no upper bound in messages).
lua_Integer spA_integer(const spA_table* t, const char* key, lua_Integer def, lua_Integer lo,
                        lua_Integer hi, int required);
// A boolean (type-checked: 0 or 1 is refused); def when absent.
int spA_boolean(const spA_table* t, const char* key, int def);
// A string (kept alive by the table); def when absent; required: nil raises.
const char* spA_string(const spA_table* t, const char* key, const char* def, int required);
// One of names (NULL-terminated) as its index; def when absent.
int spA_option(const spA_table* t, const char* key, int def, const char* const* names);
// A vector of exactly n numbers (array of any shape, or a nested table) copied into out; returns
// 0 when absent (out untouched), 1 when read. finite: refuse NaN and infinities.
int spA_field_vector(const spA_table* t, const char* key, double* out, int64_t n, int finite);

// ---- positional arguments -----------------------------------------------------------------------

// The vector at arg (array of any shape or table) of exactly n numbers into out; what names it in
// errors ("a state" -> "expected a state of length 4, got 3"). finite: refuse NaN and infinities.
void spA_vector(lua_State* L, int arg, double* out, int64_t n, const char* what, int finite);
// A boolean argument (luaL_typeerror for anything else); optional: none or nil reads as def.
int spA_checkboolean(lua_State* L, int arg);
int spA_optboolean(lua_State* L, int arg, int def);

// ---- memory -------------------------------------------------------------------------------------

// Copy the elements of a (any shape, possibly strided) into out in row-major order.
void spA_gather(const sp_array* a, double* out);
// n zeroed doubles (or bytes) owned by a new userdata pushed on the stack: freed by the collector
// even if an error is raised before the caller is done with them.
double* spA_scratch(lua_State* L, size_t n);
void* spA_scratch_bytes(lua_State* L, size_t n);

#endif  // SP_BIND_ARGS_H
