// bind.c: helpers from bind.h that belong to no single binding (one-object handles, classes).
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

void spL_class(lua_State* L, const char* name, const luaL_Reg* methods, lua_CFunction index,
               lua_CFunction gc, lua_CFunction tostring) {
  luaL_newmetatable(L, name);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_pushcclosure(L, index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}
