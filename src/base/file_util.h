// Whole-file reads and crash-safe writes.
#pragma once

#include <span>
#include <string>

#include "flotilla/status.h"

namespace flotilla {

// Reads the file at `path` byte for byte.
StatusOr<std::string> ReadFileToString(const std::string& path);

// A file written atomically: bytes go to a temporary file beside `path`; Commit() fsyncs and renames it
// over `path`, so a reader (or a crash) sees either the old file or the whole new one, never half a
// file. Destroying an uncommitted AtomicFile removes the temporary file.
class AtomicFile {
 public:
  static StatusOr<AtomicFile> Create(const std::string& path);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  ~AtomicFile();

  Status Write(std::span<const char> bytes);
  Status WriteZeros(size_t n);
  Status Commit();

 private:
  AtomicFile(std::string path, std::string tmp_path, int fd)
      : path_(std::move(path)), tmp_path_(std::move(tmp_path)), fd_(fd) {}
  std::string path_;
  std::string tmp_path_;
  int fd_ = -1;
};

// Writes `bytes` to `path` with AtomicFile.
Status WriteFileAtomic(const std::string& path, std::span<const char> bytes);

}  // namespace flotilla
