// Where tests find ../shared (reference models, golden files): $FLOTILLA_SHARED, else the directory
// beside the source tree. Tests call SharedDir() and skip when it is empty.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace flotilla::testutil {

inline std::string SharedDir() {
  const char* env = std::getenv("FLOTILLA_SHARED");
  std::string dir = env && *env ? env : FLOTILLA_SHARED_DIR;
  return std::filesystem::is_directory(dir) ? dir : "";
}

}  // namespace flotilla::testutil

#define SKIP_WITHOUT_SHARED(dir)                                                              \
  const std::string dir = ::flotilla::testutil::SharedDir();                                   \
  if (dir.empty()) GTEST_SKIP() << "../shared not found (set FLOTILLA_SHARED to run this test)"
