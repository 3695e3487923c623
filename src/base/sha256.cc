#include "base/sha256.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <openssl/evp.h>

namespace flotilla {

struct Sha256::Impl {
  EVP_MD_CTX* ctx = nullptr;
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  CHECK(impl_->ctx != nullptr);
  Reset();
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Reset() { CHECK(EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) == 1); }

void Sha256::Update(std::string_view bytes) {
  if (bytes.empty()) return;
  CHECK(EVP_DigestUpdate(impl_->ctx, bytes.data(), bytes.size()) == 1);
}

std::string Sha256::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  CHECK(EVP_DigestFinal_ex(impl_->ctx, digest, &n) == 1);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

std::string Sha256Hex(std::string_view bytes) {
  Sha256 h;
  h.Update(bytes);
  return h.HexDigest();
}

Status HashFilePrefix(const std::string& path, Sha256& hasher, uint64_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError("no such file: " + path);
    return UnavailableError("cannot open " + path + ": " + std::strerror(errno));
  }
  std::vector<char> buf(1 << 20);
  uint64_t left = max_bytes;
  Status status;
  while (left > 0) {
    size_t want = left < buf.size() ? static_cast<size_t>(left) : buf.size();
    ssize_t n = ::read(fd, buf.data(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = DataLossError("cannot read " + path + ": " + std::strerror(errno));
      break;
    }
    if (n == 0) {
      if (max_bytes != UINT64_MAX) status = DataLossError(path + " is shorter than expected");
      break;
    }
    hasher.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    left -= static_cast<uint64_t>(n);
  }
  ::close(fd);
  return status;
}

StatusOr<std::string> Sha256File(const std::string& path) {
  Sha256 h;
  RETURN_IF_ERROR(HashFilePrefix(path, h));
  return h.HexDigest();
}

bool IsSha256Hex(std::string_view hex) {
  if (hex.size() != 64) return false;
  for (char c : hex) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!ok) return false;
  }
  return true;
}

}  // namespace flotilla
