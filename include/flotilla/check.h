// CHECK(cond): an invariant that holds whatever the input; always on, aborts with the location.
// Input-driven failures return Status instead (flotilla/status.h).
#pragma once

namespace flotilla::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* expr);
}  // namespace flotilla::internal

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) ::flotilla::internal::CheckFailed(__FILE__, __LINE__, #cond); \
  } while (0)
