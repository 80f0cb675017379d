// Error handling. Two kinds of failure:
//   UserError     - bad input from the user (file, flag, shape); message only, no location.
//   InternalError - a broken invariant inside the engine; the message names file:line.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace engine {

struct UserError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct InternalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
template <class... Args>
[[noreturn]] void fail_internal(const char* file, int line, const char* cond, const Args&... args) {
  std::ostringstream os;
  os << file << ":" << line << ": check failed: " << cond;
  if constexpr (sizeof...(args) > 0) {
    os << ": ";
    append(os, args...);
  }
  throw InternalError(os.str());
}
}  // namespace detail

template <class... Args>
[[noreturn]] void user_error(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  throw UserError(os.str());
}

}  // namespace engine

// ENGINE_CHECK(cond, "message", values...): internal invariant; throws InternalError naming file:line.
#define ENGINE_CHECK(cond, ...)                                                          \
  do {                                                                            \
    if (!(cond)) ::engine::detail::fail_internal(__FILE__, __LINE__, #cond, ##__VA_ARGS__); \
  } while (0)

// USER_CHECK(cond, message...): user mistake; one-line message, no location.
#define USER_CHECK(cond, ...)                              \
  do {                                                     \
    if (!(cond)) ::engine::user_error(__VA_ARGS__);        \
  } while (0)
