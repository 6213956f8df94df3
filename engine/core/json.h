// json.h: a small JSON reader (RFC 8259) for the engine's file loaders (motion clips).
//
// sp_json_parse reads a whole text into a tree of values kept in one document; every value
// remembers the line it starts on so loaders can name it in their errors. Strings are unescaped
// (\uXXXX becomes UTF-8; surrogate pairs are joined), numbers are read with strtod. Depth is
// limited to SP_JSON_MAXDEPTH. Parsing allocates (the document); reading the tree never does.
#ifndef SP_CORE_JSON_H
#define SP_CORE_JSON_H

#include <stddef.h>

#include "engine/core/export.h"

SP_API_BEGIN

#define SP_JSON_MAXDEPTH 64

typedef enum sp_json_type {
  SP_JSON_NULL = 0,
  SP_JSON_FALSE,
  SP_JSON_TRUE,
  SP_JSON_NUMBER,
  SP_JSON_STRING,
  SP_JSON_ARRAY,
  SP_JSON_OBJECT,
} sp_json_type;

typedef struct sp_json {
  sp_json_type type;
  int line;                     // 1-based line where the value starts
  double num;                   // SP_JSON_NUMBER
  const char* str;              // SP_JSON_STRING: NUL-terminated, unescaped
  const char* key;              // member name when the value sits in an object, else NULL
  int n;                        // ARRAY / OBJECT: number of elements or members
  const struct sp_json* child;  // first element or member (NULL when n is 0)
  const struct sp_json* next;   // next sibling in the parent, NULL at the end
} sp_json;

typedef struct sp_json_doc sp_json_doc;

// Parse text (len bytes; it need not be NUL-terminated). SP_EFORMAT with "line L: what was
// expected" in msg (may be NULL), SP_ENOMEM. Free the document with sp_json_free.
int sp_json_parse(sp_json_doc** out, const char* text, size_t len, char* msg, size_t msg_size);
void sp_json_free(sp_json_doc* doc);
// The root value of a document.
const sp_json* sp_json_root(const sp_json_doc* doc);

// The member key of object o (NULL when o is not an object or has no such member; the last one
// wins when a key repeats).
const sp_json* sp_json_get(const sp_json* o, const char* key);
// Element i (0-based) of array a, NULL when out of range.
const sp_json* sp_json_at(const sp_json* a, int i);
// "null", "boolean", "number", "string", "array" or "object".
const char* sp_json_type_name(sp_json_type t);

SP_API_END

#endif  // SP_CORE_JSON_H
