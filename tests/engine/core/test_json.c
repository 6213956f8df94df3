// test_json.c: engine/core/json.c: values, nesting, escapes, line numbers and error messages.
#include <string.h>

#include "engine/core/error.h"
#include "engine/core/json.h"
#include "test.h"

static sp_json_doc* parse(const char* s, char* msg, int* rc) {
  sp_json_doc* d = NULL;
  *rc = sp_json_parse(&d, s, strlen(s), msg, 200);
  return d;
}

TEST(reads_nested_values_with_their_lines) {
  char msg[200];
  int rc;
  sp_json_doc* d = parse(
      "{\"a\": [1, -2.5e1, true],\n \"b\": {\"c\": null},\n \"s\": \"x\\u00e9\\n\"}", msg, &rc);
  CHECK_INT(rc, 0);
  const sp_json* root = sp_json_root(d);
  CHECK_INT(root->type, SP_JSON_OBJECT);
  CHECK_INT(root->n, 3);
  const sp_json* a = sp_json_get(root, "a");
  CHECK_INT(a->n, 3);
  CHECK_CLOSE(sp_json_at(a, 1)->num, -25, 0, 0);
  CHECK_INT(sp_json_at(a, 2)->type, SP_JSON_TRUE);
  CHECK(sp_json_at(a, 3) == NULL);
  const sp_json* b = sp_json_get(root, "b");
  CHECK_INT(b->line, 2);
  CHECK_INT(sp_json_get(b, "c")->type, SP_JSON_NULL);
  CHECK_STR(sp_json_get(root, "s")->str, "x\xc3\xa9\n");
  CHECK_INT(sp_json_get(root, "s")->line, 3);
  CHECK(sp_json_get(root, "missing") == NULL);
  sp_json_free(d);
}

TEST(errors_name_the_line_and_what_was_expected) {
  char msg[200];
  int rc;
  CHECK(parse("{\"a\": [1, 2,\n 3 4]}", msg, &rc) == NULL);
  CHECK_INT(rc, SP_EFORMAT);
  CHECK_STR(msg, "line 2: expected ',' or ']', got '4'");
  parse("{\"a\" 1}", msg, &rc);
  CHECK_STR(msg, "line 1: expected ':' after a member name, got '1'");
  parse("[1, 2", msg, &rc);
  CHECK_STR(msg, "line 1: expected ',' or ']', got the end of the text");
  parse("[1] x", msg, &rc);
  CHECK_STR(msg, "line 1: expected the end of the text after the value, got 'x'");
  parse("[01]", msg, &rc);
  CHECK_STR(msg, "line 1: expected ',' or ']', got '1'");
  parse("\"abc", msg, &rc);
  CHECK_STR(msg, "line 1: unterminated string: expected '\"', got the end of the text");
}

TEST_MAIN()
