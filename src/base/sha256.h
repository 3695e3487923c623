// SHA-256 digests (OpenSSL's EVP underneath), for checking downloads and files.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "flotilla/status.h"

namespace flotilla {

// Incremental SHA-256. Feed bytes with Update(), then HexDigest() once; Reset() starts over.
// Not thread-safe; movable.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(std::string_view bytes);
  // The digest of everything fed since construction or Reset(), as 64 lowercase hex digits. After this
  // call the object must be Reset() before reuse.
  std::string HexDigest();
  void Reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// SHA-256 of `bytes` as 64 lowercase hex digits.
std::string Sha256Hex(std::string_view bytes);

// Feeds the first `max_bytes` bytes of the file at `path` (all of it by default) into `hasher`.
// Errors: NOT_FOUND when the file is missing, DATA_LOSS when it is shorter than `max_bytes`.
Status HashFilePrefix(const std::string& path, Sha256& hasher, uint64_t max_bytes = UINT64_MAX);

// SHA-256 of the whole file at `path` as 64 lowercase hex digits.
StatusOr<std::string> Sha256File(const std::string& path);

// True when `hex` is 64 hex digits (either case).
bool IsSha256Hex(std::string_view hex);

}  // namespace flotilla
