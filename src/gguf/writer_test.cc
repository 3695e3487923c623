// Writer tests: round trips through File::Parse for every value type, tensors and versions, and
// byte-identical rewrites of the shared model files (written by llama.cpp's gguf writers).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "base/mapped_file.h"
#include "gguf/gguf.h"
#include "gguf/test_bytes.h"

namespace flotilla::gguf {
namespace {

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::vector<uint8_t> Ramp(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

// A writer holding one key of every type, nested arrays and empty arrays.
Writer EveryType(uint32_t version) {
  Writer w(version);
  w.Set("u8", Value::Uint(ValueType::kUint8, 255));
  w.Set("i8", Value::Int(ValueType::kInt8, -128));
  w.Set("u16", Value::Uint(ValueType::kUint16, 65535));
  w.Set("i16", Value::Int(ValueType::kInt16, -32768));
  w.Set("u32", Value::U32(4000000000u));
  w.Set("i32", Value::I32(-2000000000));
  w.Set("f32", Value::F32(0.1f));
  w.Set("bool", Value::Bool(true));
  w.Set("str", Value::String(std::string("h\xc3\xa9llo\0x", 8)));
  w.Set("u64", Value::U64(std::numeric_limits<uint64_t>::max()));
  w.Set("i64", Value::Int(ValueType::kInt64, std::numeric_limits<int64_t>::min()));
  w.Set("f64", Value::F64(-1e300));
  w.Set("strs", Value::StringArray({"a", "", "ccc"}));
  const float fs[] = {1.5f, -0.0f, std::numeric_limits<float>::infinity()};
  w.Set("f32s", Value::F32Array(fs));
  const int32_t is[] = {1, -2, 3};
  w.Set("i32s", Value::I32Array(is));
  w.Set("empty", Value::MakeArray(Array{ValueType::kUint64, {}}));
  Array inner1{ValueType::kUint8, {Value::Uint(ValueType::kUint8, 1), Value::Uint(ValueType::kUint8, 2)}};
  Array inner2{ValueType::kString, {Value::String("x")}};
  Array nested{ValueType::kArray, {Value::MakeArray(inner1), Value::MakeArray(inner2),
                                   Value::MakeArray(Array{ValueType::kBool, {}})}};
  w.Set("nested", Value::MakeArray(nested));
  return w;
}

TEST(WriterTest, RoundTripsEveryValueType) {
  for (uint32_t version : {2u, 3u}) {
    StatusOr<std::string> bytes = EveryType(version).WriteToString();
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    StatusOr<File> f = File::Parse(AsBytes(*bytes));
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(f->version(), version);
    EXPECT_EQ(f->metadata().size(), 17u);
    EXPECT_EQ(f->metadata()[0].first, "u8");
    EXPECT_EQ(f->Find("u8")->type(), ValueType::kUint8);
    EXPECT_EQ(*f->GetUint("u8"), 255u);
    EXPECT_EQ(*f->GetInt("i8"), -128);
    EXPECT_EQ(*f->GetUint("u16"), 65535u);
    EXPECT_EQ(*f->GetInt("i16"), -32768);
    EXPECT_EQ(*f->GetUint("u32"), 4000000000u);
    EXPECT_EQ(*f->GetInt("i32"), -2000000000);
    EXPECT_EQ(*f->GetFloat("f32"), static_cast<double>(0.1f));
    EXPECT_EQ(*f->GetBool("bool"), true);
    EXPECT_EQ(*f->GetString("str"), std::string("h\xc3\xa9llo\0x", 8));
    EXPECT_EQ(*f->GetUint("u64"), std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(f->GetInt("u64").status().code(), StatusCode::kOutOfRange);
    EXPECT_EQ(*f->GetInt("i64"), std::numeric_limits<int64_t>::min());
    EXPECT_EQ(f->GetUint("i64").status().code(), StatusCode::kOutOfRange);
    EXPECT_EQ(*f->GetFloat("f64"), -1e300);
    EXPECT_EQ(*f->GetStringArray("strs"), (std::vector<std::string>{"a", "", "ccc"}));
    std::vector<float> got = *f->GetF32Array("f32s");
    ASSERT_EQ(got.size(), 3u);
    EXPECT_TRUE(std::signbit(got[1]));
    EXPECT_TRUE(std::isinf(got[2]));
    EXPECT_EQ(*f->GetI32Array("i32s"), (std::vector<int32_t>{1, -2, 3}));
    EXPECT_EQ((*f->GetArray("empty"))->elem_type, ValueType::kUint64);
    const Array* nested = *f->GetArray("nested");
    ASSERT_EQ(nested->items.size(), 3u);
    EXPECT_EQ(nested->items[0].AsArray()->items[1].AsUint(), 2u);
    EXPECT_EQ(*nested->items[1].AsArray()->items[0].AsString(), "x");
    EXPECT_EQ(nested->items[2].AsArray()->elem_type, ValueType::kBool);
    EXPECT_EQ(f->Find("nested")->ToDisplayString(), "[[1, 2], [\"x\"], []]");
    // Rewriting what we read gives the same bytes.
    EXPECT_EQ(*Writer::FromFile(*f).WriteToString(), *bytes);
  }
}

TEST(WriterTest, RoundTripsTensorsOfSeveralDTypes) {
  std::vector<uint8_t> f32 = Ramp(3 * 5 * 4, 1), f16 = Ramp(7 * 2, 2), q8 = Ramp(2 * 34, 3),
                       q4k = Ramp(144, 4), i32 = Ramp(4, 5);
  for (uint64_t alignment : {1u, 8u, 32u, 64u, 4096u}) {
    Writer w;
    w.Set("general.architecture", Value::String("test"));
    if (alignment != 32) w.Set("general.alignment", Value::U32(static_cast<uint32_t>(alignment)));
    ASSERT_TRUE(w.AddTensor("a.f32", DType::kF32, {3, 5}, f32).ok());
    ASSERT_TRUE(w.AddTensor("b.f16", DType::kF16, {7}, f16).ok());
    ASSERT_TRUE(w.AddTensor("c.q8_0", DType::kQ8_0, {32, 2, 1, 1}, q8).ok());
    ASSERT_TRUE(w.AddTensor("d.q4_K", DType::kQ4_K, {256, 1}, q4k).ok());
    ASSERT_TRUE(w.AddTensor("e.scalar", DType::kI32, {}, i32).ok());
    ASSERT_TRUE(w.AddTensor("f.empty", DType::kF32, {0, 4}, {}).ok());
    StatusOr<std::string> bytes = w.WriteToString();
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    EXPECT_EQ(bytes->size() % alignment, 0u);
    StatusOr<File> f = File::Parse(AsBytes(*bytes));
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(f->alignment(), alignment);
    EXPECT_EQ(f->data_offset() % alignment, 0u);
    ASSERT_EQ(f->tensors().size(), 6u);
    const std::vector<uint8_t>* want[] = {&f32, &f16, &q8, &q4k, &i32};
    for (int i = 0; i < 5; ++i) {
      const TensorInfo& t = f->tensors()[i];
      EXPECT_EQ(t.offset % alignment, 0u) << t.name;
      EXPECT_EQ(std::vector<uint8_t>(t.data, t.data + t.n_bytes), *want[i]) << t.name;
    }
    EXPECT_EQ(f->FindTensor("c.q8_0")->dtype, DType::kQ8_0);
    EXPECT_EQ(f->FindTensor("c.q8_0")->shape, (std::vector<int64_t>{32, 2, 1, 1}));
    EXPECT_EQ(f->FindTensor("e.scalar")->n_elements(), 1);
    EXPECT_EQ(f->FindTensor("f.empty")->n_bytes, 0u);
    EXPECT_EQ(*Writer::FromFile(*f).WriteToString(), *bytes);
  }
}

TEST(WriterTest, SetReplacesInPlaceAndRemoveDeletes) {
  Writer w;
  w.Set("a", Value::U32(1));
  w.Set("b", Value::U32(2));
  w.Set("a", Value::String("x"));
  w.Remove("b");
  StatusOr<std::string> bytes = w.WriteToString();
  StatusOr<File> f = File::Parse(AsBytes(*bytes));
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->metadata().size(), 1u);
  EXPECT_EQ(*f->GetString("a"), "x");
}

TEST(WriterTest, RejectsBadInput) {
  Writer w;
  std::vector<uint8_t> data(16);
  EXPECT_FALSE(w.AddTensor("t", DType::kF32, {5}, data).ok());       // size mismatch
  EXPECT_FALSE(w.AddTensor("t", DType::kQ8_0, {4}, data).ok());      // not whole blocks
  EXPECT_FALSE(w.AddTensor("t", DType::kF32, {-4}, data).ok());      // negative dim
  EXPECT_FALSE(w.AddTensor("t", DType::kF32, {1, 1, 1, 1, 4}, data).ok());
  EXPECT_FALSE(w.AddTensor(std::string(64, 'n'), DType::kF32, {4}, data).ok());
  ASSERT_TRUE(w.AddTensor("t", DType::kF32, {4}, data).ok());
  Status dup = w.AddTensor("t", DType::kF32, {4}, data);
  EXPECT_EQ(dup.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dup.message().find("duplicate"), std::string::npos);

  Writer bad_align;
  bad_align.Set("general.alignment", Value::U32(48));
  EXPECT_EQ(bad_align.WriteToString().status().code(), StatusCode::kInvalidArgument);
  Writer too_wide;
  too_wide.Set("x", Value::Uint(ValueType::kUint8, 256));
  EXPECT_FALSE(too_wide.WriteToString().ok());
  Writer mixed;
  mixed.Set("x", Value::MakeArray(Array{ValueType::kInt32, {Value::String("no")}}));
  EXPECT_FALSE(mixed.WriteToString().ok());
  EXPECT_FALSE(Writer(1).WriteToString().ok());
}

TEST(WriterTest, WriteFileStreamsSameBytes) {
  std::vector<uint8_t> data = Ramp(100 * 4, 9);
  Writer w(2);
  w.Set("k", Value::String("v"));
  ASSERT_TRUE(w.AddTensor("t", DType::kF32, {100}, data).ok());
  std::string path = ::testing::TempDir() + "/gguf_writer_test_" + std::to_string(::getpid()) + ".gguf";
  ASSERT_TRUE(w.WriteFile(path).ok());
  StatusOr<File> f = File::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->path(), path);
  EXPECT_EQ(f->version(), 2u);
  StatusOr<MappedFile> map = MappedFile::Open(path);
  ASSERT_TRUE(map.ok());
  std::string on_disk(reinterpret_cast<const char*>(map->data()), map->size());
  EXPECT_EQ(on_disk, *w.WriteToString());
  std::filesystem::remove(path);
}

// Every shared GGUF file rewrites to exactly its own bytes.
TEST(WriterTest, RewritesSharedFilesByteIdentically) {
  std::filesystem::path dir = std::filesystem::path(testutil::SharedDir()) / "models";
  if (testutil::SharedDir().empty() || !std::filesystem::is_directory(dir)) {
    GTEST_SKIP() << "shared models directory not found: " << dir;
  }
  int n_files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".gguf") continue;
    const std::string p = entry.path().string();
    StatusOr<File> f = File::Open(p);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    StatusOr<MappedFile> original = MappedFile::Open(p);
    ASSERT_TRUE(original.ok());
    std::span<const uint8_t> want = original->bytes();
    if (want.size() <= (64u << 20)) {
      StatusOr<std::string> got = Writer::FromFile(*f).WriteToString();
      ASSERT_TRUE(got.ok()) << p << ": " << got.status().ToString();
      ASSERT_EQ(got->size(), want.size()) << p;
      EXPECT_EQ(std::memcmp(got->data(), want.data(), want.size()), 0) << p;
    } else {  // stream through a temporary file instead of building a string
      std::string tmp = ::testing::TempDir() + "/gguf_rewrite_" + std::to_string(::getpid());
      ASSERT_TRUE(Writer::FromFile(*f).WriteFile(tmp).ok()) << p;
      StatusOr<MappedFile> got = MappedFile::Open(tmp);
      ASSERT_TRUE(got.ok());
      ASSERT_EQ(got->size(), want.size()) << p;
      EXPECT_EQ(std::memcmp(got->data(), want.data(), want.size()), 0) << p;
      std::filesystem::remove(tmp);
    }
    ++n_files;
  }
  EXPECT_GT(n_files, 0);
  std::printf("rewrote %d shared GGUF files byte-identically\n", n_files);
}

}  // namespace
}  // namespace flotilla::gguf
