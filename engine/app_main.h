// The main() of every app (apps/*.cpp): `return run_app("engine_x", run, argc, argv);`.
// Exit codes: what run returns (0 done; an app may document others, e.g. engine_prep's 1), 2 for a UserError
// ("<app>: <message>" on stderr), 3 for any other exception ("<app>: internal error: <message>").
#pragma once
#include <cstdio>
#include <exception>

#include "engine/check.h"
#include "engine/cpu_dispatch.h"
#include "engine/memory.h"

namespace engine {

inline int run_app(const char* name, int (*run)(int, char**), int argc, char** argv) {
  try {
    flush_denormals();
    keep_freed_host_memory();
    return run(argc, argv);
  } catch (const UserError& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", name, e.what());
    return 3;
  }
}

}  // namespace engine
