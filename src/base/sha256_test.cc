#include "base/sha256.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace flotilla {
namespace {

// FIPS 180-2 / NIST test vectors.
TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 h;
  std::string thousand(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.Update(thousand);  // one million 'a'
  EXPECT_EQ(h.HexDigest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, IncrementalEqualsOneShotAndResetStartsOver) {
  Sha256 h;
  h.Update("hello ");
  h.Update("world");
  EXPECT_EQ(h.HexDigest(), Sha256Hex("hello world"));
  h.Reset();
  h.Update("abc");
  EXPECT_EQ(h.HexDigest(), Sha256Hex("abc"));
}

TEST(Sha256Test, FilesAndPrefixes) {
  namespace fs = std::filesystem;
  fs::path p = fs::temp_directory_path() / ("flotilla_sha256_test_" + std::to_string(::getpid()));
  std::string data(3 << 20, 'x');  // larger than the read buffer
  data[12345] = 'y';
  std::ofstream(p, std::ios::binary) << data;
  EXPECT_EQ(*Sha256File(p.string()), Sha256Hex(data));
  Sha256 h;
  ASSERT_TRUE(HashFilePrefix(p.string(), h, 20000).ok());
  EXPECT_EQ(h.HexDigest(), Sha256Hex(std::string_view(data).substr(0, 20000)));
  Sha256 h2;
  EXPECT_EQ(HashFilePrefix(p.string(), h2, data.size() + 1).code(), StatusCode::kDataLoss);
  fs::remove(p);
  EXPECT_EQ(Sha256File(p.string()).status().code(), StatusCode::kNotFound);
}

TEST(Sha256Test, HexSyntax) {
  EXPECT_TRUE(IsSha256Hex(std::string(64, 'a')));
  EXPECT_TRUE(IsSha256Hex(std::string(64, 'F')));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'g')));
  EXPECT_FALSE(IsSha256Hex(""));
}

}  // namespace
}  // namespace flotilla
