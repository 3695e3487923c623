// A read-only memory map of a whole file. Weights are read through it without copying.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "flotilla/status.h"

namespace flotilla {

class MappedFile {
 public:
  // Maps `path` read-only. An empty file maps to an empty span.
  static StatusOr<MappedFile> Open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Lets the kernel drop the resident pages wholly inside [begin, begin + n) (a range of this map);
  // reading them again faults them back in from the file, so the contents never change.
  void ReleasePages(const uint8_t* begin, size_t n) const;

  // Maps the pages of [begin, begin + n) (a range of this map) now, so that reading them later takes
  // no page fault. Advice: nothing happens on a kernel without MADV_POPULATE_READ (Linux < 5.14).
  void Prefault(const uint8_t* begin, size_t n) const;

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace flotilla
