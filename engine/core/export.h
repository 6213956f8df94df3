// export.h: which symbols the two spinal libraries export.
//
// Both libraries build with -fvisibility=hidden. A public header (one that `make install` ships)
// brackets its declarations with SP_API_BEGIN / SP_API_END, which makes them default-visible (and
// extern "C" for C++ users); everything else, including internal.h, *_impl.h and the other private
// headers, stays inside the library. SP_API marks a single declaration when a header is private
// but one function in it is not. Internal functions are named sp__<name> and are never exported,
// even when a public header declares them (the libraries' link step drops them: tools/exports.map).
// docs/architecture.md states the rule; CMakeLists.txt checks that every public header uses it.
#ifndef SP_EXPORT_H
#define SP_EXPORT_H

#define SP_API __attribute__((visibility("default")))

#ifdef __cplusplus
#define SP_API_BEGIN _Pragma("GCC visibility push(default)") extern "C" {
#define SP_API_END \
  }                \
  _Pragma("GCC visibility pop")
#else
#define SP_API_BEGIN _Pragma("GCC visibility push(default)")
#define SP_API_END _Pragma("GCC visibility pop")
#endif

#endif  // SP_EXPORT_H
