// bind.c: helpers from bind.h that belong to no single binding (one-object handles).
#include "bind.h"

spL_handle* spL_newhandle(lua_State* L, const char* mt) {
  spL_handle* h = lua_newuserdatauv(L, sizeof *h, 0);
  h->obj = NULL;
  luaL_setmetatable(L, mt);
  return h;
}

spL_handle* spL_tohandle(lua_State* L, int idx, const char* mt) {
  return luaL_testudata(L, idx, mt);
}
