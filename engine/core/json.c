// json.c: a recursive-descent JSON reader (RFC 8259 grammar) building the tree of json.h.
//
// Values are built in a growing array of nodes linked by indices while parsing (the array moves
// as it grows); once the text is read the indices become the pointers of sp_json. Strings are
// unescaped into a second growing buffer, referenced by offsets until the end for the same reason.
#include "json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

typedef struct node {
  sp_json v;
  long child, next, last;  // indices, -1 for none
  long str, key;           // offsets into strs, -1 for none
} node;

struct sp_json_doc {
  node* nodes;
  long nn, cap;
  char* strs;
  size_t ns, scap;
  sp_json* out;  // the final tree (nn values)
};

typedef struct parser {
  const char* p;
  const char* end;
  int line;
  sp_json_doc* d;
  char* msg;
  size_t ms;
  int depth;
} parser;

static int fail(parser* P, const char* what) {
  if (P->p >= P->end)
    return sp_errorf(P->msg, P->ms, SP_EFORMAT, "line %d: %s, got the end of the text", P->line,
                     what);
  return sp_errorf(P->msg, P->ms, SP_EFORMAT, "line %d: %s, got '%c'", P->line, what, *P->p);
}

static void skip_ws(parser* P) {
  while (P->p < P->end && (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r')) {
    if (*P->p == '\n') P->line++;
    P->p++;
  }
}

static long new_node(parser* P, sp_json_type t) {
  sp_json_doc* d = P->d;
  if (d->nn == d->cap) {
    long cap = d->cap ? 2 * d->cap : 64;
    node* n = sp_realloc(d->nodes, (size_t)cap * sizeof *n);
    if (!n) return -1;
    d->nodes = n;
    d->cap = cap;
  }
  node* n = &d->nodes[d->nn];
  memset(n, 0, sizeof *n);
  n->v.type = t;
  n->v.line = P->line;
  n->child = n->next = n->last = n->str = n->key = -1;
  return d->nn++;
}

static int put_char(parser* P, char c) {
  sp_json_doc* d = P->d;
  if (d->ns == d->scap) {
    size_t cap = d->scap ? 2 * d->scap : 256;
    char* s = sp_realloc(d->strs, cap);
    if (!s) return SP_ENOMEM;
    d->strs = s;
    d->scap = cap;
  }
  d->strs[d->ns++] = c;
  return 0;
}

static int put_utf8(parser* P, uint32_t c) {
  int rc = 0;
  if (c < 0x80) return put_char(P, (char)c);
  if (c < 0x800) {
    rc |= put_char(P, (char)(0xC0 | c >> 6));
  } else if (c < 0x10000) {
    rc |= put_char(P, (char)(0xE0 | c >> 12));
    rc |= put_char(P, (char)(0x80 | (c >> 6 & 0x3F)));
  } else {
    rc |= put_char(P, (char)(0xF0 | c >> 18));
    rc |= put_char(P, (char)(0x80 | (c >> 12 & 0x3F)));
    rc |= put_char(P, (char)(0x80 | (c >> 6 & 0x3F)));
  }
  rc |= put_char(P, (char)(0x80 | (c & 0x3F)));
  return rc;
}

static int hex4(parser* P, uint32_t* out) {
  if (P->end - P->p < 4) return fail(P, "expected 4 hex digits after \\u");
  uint32_t c = 0;
  for (int i = 0; i < 4; i++, P->p++) {
    char h = *P->p;
    int v = h >= '0' && h <= '9'   ? h - '0'
            : h >= 'a' && h <= 'f' ? h - 'a' + 10
            : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                   : -1;
    if (v < 0) return fail(P, "expected a hex digit in \\u escape");
    c = c << 4 | (uint32_t)v;
  }
  *out = c;
  return 0;
}

// a string at P->p (on the opening quote); *off = its offset in strs
static int parse_string(parser* P, long* off) {
  P->p++;
  *off = (long)P->d->ns;
  for (;;) {
    if (P->p >= P->end) return fail(P, "unterminated string: expected '\"'");
    unsigned char c = (unsigned char)*P->p;
    if (c == '"') {
      P->p++;
      return put_char(P, 0);
    }
    if (c < 0x20) return fail(P, "control character in a string");
    if (c != '\\') {
      if (put_char(P, (char)c)) return SP_ENOMEM;
      P->p++;
      continue;
    }
    P->p++;
    if (P->p >= P->end) return fail(P, "expected an escape after '\\'");
    char e = *P->p++, r;
    switch (e) {
      case '"':
        r = '"';
        break;
      case '\\':
        r = '\\';
        break;
      case '/':
        r = '/';
        break;
      case 'b':
        r = '\b';
        break;
      case 'f':
        r = '\f';
        break;
      case 'n':
        r = '\n';
        break;
      case 'r':
        r = '\r';
        break;
      case 't':
        r = '\t';
        break;
      case 'u': {
        uint32_t c1;
        int rc = hex4(P, &c1);
        if (rc) return rc;
        if (c1 >= 0xD800 && c1 < 0xDC00 && P->end - P->p >= 6 && P->p[0] == '\\' &&
            P->p[1] == 'u') {
          P->p += 2;
          uint32_t c2;
          if ((rc = hex4(P, &c2))) return rc;
          if (c2 >= 0xDC00 && c2 < 0xE000) c1 = 0x10000 + ((c1 - 0xD800) << 10) + (c2 - 0xDC00);
        }
        if (put_utf8(P, c1)) return SP_ENOMEM;
        continue;
      }
      default:
        P->p--;
        return fail(P, "unknown escape in a string");
    }
    if (put_char(P, r)) return SP_ENOMEM;
  }
}

static int parse_value(parser* P, long* out);

static int parse_number(parser* P, long* out) {
  // RFC 8259: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
  const char* s = P->p;
  const char* q = s;
  if (q < P->end && *q == '-') q++;
  if (q >= P->end || *q < '0' || *q > '9') return fail(P, "expected a value");
  if (*q == '0')
    q++;
  else
    while (q < P->end && *q >= '0' && *q <= '9') q++;
  if (q < P->end && *q == '.') {
    q++;
    if (q >= P->end || *q < '0' || *q > '9') {
      P->p = q;
      return fail(P, "expected a digit after '.'");
    }
    while (q < P->end && *q >= '0' && *q <= '9') q++;
  }
  if (q < P->end && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < P->end && (*q == '+' || *q == '-')) q++;
    if (q >= P->end || *q < '0' || *q > '9') {
      P->p = q;
      return fail(P, "expected a digit in the exponent");
    }
    while (q < P->end && *q >= '0' && *q <= '9') q++;
  }
  char buf[64];
  size_t len = (size_t)(q - s);
  if (len >= sizeof buf) return fail(P, "number too long");
  memcpy(buf, s, len);
  buf[len] = 0;
  long i = new_node(P, SP_JSON_NUMBER);
  if (i < 0) return SP_ENOMEM;
  P->d->nodes[i].v.num = strtod(buf, NULL);
  P->p = q;
  *out = i;
  return 0;
}

static int literal(parser* P, const char* word, sp_json_type t, long* out) {
  size_t n = strlen(word);
  if ((size_t)(P->end - P->p) < n || memcmp(P->p, word, n)) return fail(P, "expected a value");
  long i = new_node(P, t);
  if (i < 0) return SP_ENOMEM;
  P->p += n;
  *out = i;
  return 0;
}

// append child c to container i
static void append(sp_json_doc* d, long i, long c) {
  node* n = &d->nodes[i];
  if (n->last < 0)
    n->child = c;
  else
    d->nodes[n->last].next = c;
  n->last = c;
  n->v.n++;
}

static int parse_container(parser* P, long* out, int object) {
  if (++P->depth > SP_JSON_MAXDEPTH) return fail(P, "nesting deeper than 64 levels");
  long i = new_node(P, object ? SP_JSON_OBJECT : SP_JSON_ARRAY);
  if (i < 0) return SP_ENOMEM;
  char close = object ? '}' : ']';
  P->p++;
  skip_ws(P);
  if (P->p < P->end && *P->p == close) {
    P->p++;
    P->depth--;
    *out = i;
    return 0;
  }
  for (;;) {
    long key = -1, c;
    int rc;
    if (object) {
      skip_ws(P);
      if (P->p >= P->end || *P->p != '"') return fail(P, "expected a member name in quotes");
      if ((rc = parse_string(P, &key))) return rc;
      skip_ws(P);
      if (P->p >= P->end || *P->p != ':') return fail(P, "expected ':' after a member name");
      P->p++;
    }
    if ((rc = parse_value(P, &c))) return rc;
    P->d->nodes[c].key = key;
    append(P->d, i, c);
    skip_ws(P);
    if (P->p < P->end && *P->p == ',') {
      P->p++;
      continue;
    }
    if (P->p < P->end && *P->p == close) {
      P->p++;
      break;
    }
    return fail(P, object ? "expected ',' or '}'" : "expected ',' or ']'");
  }
  P->depth--;
  *out = i;
  return 0;
}

static int parse_value(parser* P, long* out) {
  skip_ws(P);
  if (P->p >= P->end) return fail(P, "expected a value");
  switch (*P->p) {
    case '{':
      return parse_container(P, out, 1);
    case '[':
      return parse_container(P, out, 0);
    case '"': {
      long i = new_node(P, SP_JSON_STRING), off;
      if (i < 0) return SP_ENOMEM;
      int rc = parse_string(P, &off);
      if (rc) return rc;
      P->d->nodes[i].str = off;
      *out = i;
      return 0;
    }
    case 't':
      return literal(P, "true", SP_JSON_TRUE, out);
    case 'f':
      return literal(P, "false", SP_JSON_FALSE, out);
    case 'n':
      return literal(P, "null", SP_JSON_NULL, out);
    default:
      return parse_number(P, out);
  }
}

int sp_json_parse(sp_json_doc** out, const char* text, size_t len, char* msg, size_t ms) {
  *out = NULL;
  sp_json_doc* d = sp_calloc(1, sizeof *d);
  if (!d) return SP_ENOMEM;
  parser P = {text, text + len, 1, d, msg, ms, 0};
  long root = -1;
  int rc = parse_value(&P, &root);
  if (!rc) {
    skip_ws(&P);
    if (P.p < P.end) rc = fail(&P, "expected the end of the text after the value");
  }
  if (!rc && !(d->out = sp_calloc((size_t)d->nn, sizeof *d->out))) rc = SP_ENOMEM;
  if (rc) {
    if (rc == SP_ENOMEM) sp_errorf(msg, ms, rc, "out of memory");
    sp_json_free(d);
    return rc;
  }
  // indices and offsets become pointers now that nothing moves
  for (long i = 0; i < d->nn; i++) {
    const node* n = &d->nodes[i];
    sp_json* v = &d->out[i];
    *v = n->v;
    v->child = n->child >= 0 ? &d->out[n->child] : NULL;
    v->next = n->next >= 0 ? &d->out[n->next] : NULL;
    v->str = n->str >= 0 ? d->strs + n->str : NULL;
    v->key = n->key >= 0 ? d->strs + n->key : NULL;
  }
  (void)root;  // the root is the first node made
  *out = d;
  return 0;
}

void sp_json_free(sp_json_doc* d) {
  if (!d) return;
  sp_free(d->out);
  sp_free(d->nodes);
  sp_free(d->strs);
  sp_free(d);
}

const sp_json* sp_json_root(const sp_json_doc* d) {
  return d->out;
}

const sp_json* sp_json_get(const sp_json* o, const char* key) {
  if (!o || o->type != SP_JSON_OBJECT) return NULL;
  const sp_json* found = NULL;
  for (const sp_json* c = o->child; c; c = c->next)
    if (!strcmp(c->key, key)) found = c;
  return found;
}

const sp_json* sp_json_at(const sp_json* a, int i) {
  if (!a || a->type != SP_JSON_ARRAY || i < 0 || i >= a->n) return NULL;
  const sp_json* c = a->child;
  while (i-- > 0) c = c->next;
  return c;
}

const char* sp_json_type_name(sp_json_type t) {
  static const char* const names[] = {"null",   "boolean", "boolean", "number",
                                      "string", "array",   "object"};
  return (unsigned)t <= SP_JSON_OBJECT ? names[t] : "?";
}
