// Handcrafted corrupt GGUF files: each must fail with a status that names the problem and its byte
// offset, without crashing, hanging or reading out of bounds (run under ASan in CI).
#include <gtest/gtest.h>

#include <string>

#include "gguf/gguf.h"
#include "gguf/test_bytes.h"

namespace flotilla::gguf {
namespace {

using testing::ByteBuilder;

constexpr uint32_t kF32 = 0;
constexpr uint32_t kQ8_0 = 8;

// Parses `b` and expects failure with `code` and every one of `words` in the message.
void ExpectError(const ByteBuilder& b, StatusCode code, std::initializer_list<std::string> words) {
  StatusOr<File> f = File::Parse(b.span());
  ASSERT_FALSE(f.ok()) << "parsed a corrupt file";
  EXPECT_EQ(f.status().code(), code) << f.status().ToString();
  for (const std::string& w : words) {
    EXPECT_NE(f.status().message().find(w), std::string::npos)
        << "missing '" << w << "' in: " << f.status().message();
  }
}
void ExpectDataLoss(const ByteBuilder& b, std::initializer_list<std::string> words) {
  ExpectError(b, StatusCode::kDataLoss, words);
}

// One f32 tensor of `n` floats at offset 0, preceded by `kvs` already added by the caller.
ByteBuilder& AddF32Data(ByteBuilder& b, size_t n) {
  b.PadTo(32);
  for (size_t i = 0; i < n; ++i) b.F32(1.0f);
  return b.PadTo(32);
}

TEST(CorruptTest, EmptyFile) { ExpectDataLoss(ByteBuilder(), {"truncated header", "offset 0"}); }

TEST(CorruptTest, BadMagic) {
  ByteBuilder b;
  b.Raw("GGML", 4).U32(3).U64(0).U64(0);
  ExpectDataLoss(b, {"bad magic", "0x4c4d4747", "offset 0"});
}

TEST(CorruptTest, Version1IsUnimplemented) {
  ByteBuilder b;
  b.Header(0, 0, /*version=*/1);
  ExpectError(b, StatusCode::kUnimplemented, {"version 1", "offset 4"});
}

TEST(CorruptTest, UnsupportedVersion) {
  ByteBuilder b;
  b.Header(0, 0, /*version=*/4);
  ExpectError(b, StatusCode::kUnimplemented, {"unsupported version 4", "offset 4"});
  ByteBuilder big_endian;
  big_endian.Header(0, 0, /*version=*/0x03000000);
  ExpectError(big_endian, StatusCode::kUnimplemented, {"big-endian"});
}

TEST(CorruptTest, TruncatedHeader) {
  ByteBuilder b;
  b.Raw("GGUF", 4).U32(3).U32(0);  // tensor count cut in half
  ExpectDataLoss(b, {"truncated header (tensor count)", "offset 8"});
}

TEST(CorruptTest, TruncatedKeyString) {
  ByteBuilder b;
  b.Header(0, 1).U64(100).Raw("abc", 3).Zeros(10);
  ExpectDataLoss(b, {"truncated key", "offset 24", "key 0 of 1", "length 100"});
}

TEST(CorruptTest, TruncatedStringValue) {
  ByteBuilder b;
  b.Header(0, 2).KvU32("a", 1).Str("b").U32(8).U64(100).Raw("xy", 2);
  // key 1 starts at 24 + 9 + 4 + 4 = 41; its string value at 41 + 9 + 4 = 54.
  ExpectDataLoss(b, {"truncated string", "offset 54", "key 1 of 2 'b'"});
}

TEST(CorruptTest, TruncatedScalarValue) {
  ByteBuilder b;
  b.Header(0, 1).Str("a").U32(10).U32(7);  // uint64 value with only 4 bytes
  ExpectDataLoss(b, {"truncated uint64 value", "offset 37"});
}

TEST(CorruptTest, TruncatedTensorInfo) {
  ByteBuilder b;
  b.Header(1, 0).Str("t").U32(3).I64(4).I64(4);  // third dim missing
  ExpectDataLoss(b, {"truncated tensor dim", "offset 53", "tensor 0 of 1"});
}

TEST(CorruptTest, TruncatedDataSection) {
  ByteBuilder b;
  b.Header(1, 0).TensorInfo("t", {8}, kF32, 0).PadTo(32);
  for (int i = 0; i < 7; ++i) b.F32(0.0f);  // 28 of 32 bytes
  ExpectDataLoss(b, {"tensor 't' data out of bounds", "offset 24", "extend past the end"});
}

TEST(CorruptTest, FileEndsBeforeDataSection) {
  ByteBuilder b;
  b.Header(1, 0).TensorInfo("t", {8}, kF32, 0);  // infos end at 61, data would start at 64
  ExpectDataLoss(b, {"truncated file: data section", "offset 64"});
}

TEST(CorruptTest, TensorOffsetOutsideFile) {
  ByteBuilder b;
  b.Header(1, 0).TensorInfo("t", {8}, kF32, uint64_t{1} << 63);
  AddF32Data(b, 8);
  ExpectDataLoss(b, {"out of bounds", "9223372036854775808"});
  ByteBuilder wrap;  // offset + size wraps around 2^64
  wrap.Header(1, 0).TensorInfo("t", {8}, kF32, ~uint64_t{31});
  AddF32Data(wrap, 8);
  ExpectDataLoss(wrap, {"out of bounds"});
}

TEST(CorruptTest, MisalignedTensor) {
  ByteBuilder b;
  b.Header(1, 0).TensorInfo("t", {8}, kF32, 4);
  AddF32Data(b, 16);
  ExpectDataLoss(b, {"misaligned", "offset 4", "alignment 32"});
}

TEST(CorruptTest, OverlappingTensors) {
  ByteBuilder b;
  b.Header(2, 0).TensorInfo("a", {16}, kF32, 0).TensorInfo("b", {8}, kF32, 32);
  AddF32Data(b, 24);
  ExpectDataLoss(b, {"tensor 'b' overlaps tensor 'a'", "data offset 32 < 64"});
}

TEST(CorruptTest, CountsBeyondFileSize) {
  ByteBuilder b;  // one key needs at least 13 bytes; 11 remain
  b.Header(0, 1).Zeros(11);
  ExpectDataLoss(b, {"too many keys (1)", "offset 16", "11 bytes left"});
}

TEST(CorruptTest, TensorsOutOfOffsetOrderAreValid) {
  ByteBuilder b;  // infos need not follow data order; an empty tensor may share an offset
  b.Header(3, 0).TensorInfo("late", {8}, kF32, 32).TensorInfo("early", {8}, kF32, 0);
  b.TensorInfo("empty", {0}, kF32, 32);
  AddF32Data(b, 16);
  StatusOr<File> f = File::Parse(b.span());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->FindTensor("late")->data, f->FindTensor("early")->data + 32);
}

TEST(CorruptTest, DimsProductOverflows) {
  ByteBuilder b;
  b.Header(1, 0).TensorInfo("t", {int64_t{1} << 32, int64_t{1} << 32}, kF32, 0);
  ExpectDataLoss(b, {"element count overflows", "offset 33"});
  ByteBuilder bytes;  // fits as elements, not as bytes
  bytes.Header(1, 0).TensorInfo("t", {int64_t{1} << 62}, kF32, 0);
  ExpectDataLoss(bytes, {"byte size overflows"});
}

TEST(CorruptTest, PartialDimsProductOverflows) {
  ByteBuilder b;  // the first two dims overflow int64 even though the last one is zero
  b.Header(1, 0).TensorInfo("t", {(int64_t{1} << 33) + 8, int64_t{1} << 30, 0}, kF32, 0).PadTo(32);
  StatusOr<File> f = File::Parse(b.span());
  ASSERT_TRUE(f.ok()) << f.status().ToString();  // empty tensor: fine
  EXPECT_EQ(f->tensors()[0].n_elements(), 0);
  ByteBuilder c;
  c.Header(1, 0).TensorInfo("t", {(int64_t{1} << 33) + 8, int64_t{1} << 30, 1}, kF32, 0).PadTo(32);
  ExpectDataLoss(c, {"element count overflows"});
}

TEST(CorruptTest, TooManyDims) {
  ByteBuilder b;
  b.Header(1, 0).TensorInfo("t", {1, 1, 1, 1, 1}, kF32, 0);
  ExpectDataLoss(b, {"5 dims", "at most 4", "offset 33"});
}

TEST(CorruptTest, NegativeDim) {
  ByteBuilder b;
  b.Header(1, 0).TensorInfo("t", {4, -1}, kF32, 0);
  ExpectDataLoss(b, {"negative dim -1", "offset 45"});
}

TEST(CorruptTest, ZeroDimIsAllowed) {
  ByteBuilder b;
  b.Header(1, 0).TensorInfo("t", {0, 3}, kF32, 0).PadTo(32);
  StatusOr<File> f = File::Parse(b.span());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->tensors()[0].n_bytes, 0u);
}

TEST(CorruptTest, UnknownDType) {
  ByteBuilder b;
  b.Header(1, 0).TensorInfo("t", {32}, 1000, 0);
  AddF32Data(b, 32);
  ExpectDataLoss(b, {"unknown dtype 1000", "offset 45"});
}

TEST(CorruptTest, UnsupportedGgmlDType) {
  ByteBuilder b;
  b.Header(1, 0).TensorInfo("t", {256}, 16, 0);
  AddF32Data(b, 32);
  ExpectError(b, StatusCode::kUnimplemented, {"dtype 16 (iq2_xxs)", "offset 45"});
}

TEST(CorruptTest, RowNotWholeBlocks) {
  ByteBuilder b;
  b.Header(1, 0).TensorInfo("t", {31, 2}, kQ8_0, 0);
  AddF32Data(b, 32);
  ExpectDataLoss(b, {"row length 31", "q8_0 block size 32"});
}

TEST(CorruptTest, DuplicateKey) {
  ByteBuilder b;
  b.Header(0, 2).KvU32("a.b", 1).KvU32("a.b", 2);
  ExpectDataLoss(b, {"duplicate key 'a.b'", "offset 43", "key 1 of 2"});
}

TEST(CorruptTest, DuplicateTensorName) {
  ByteBuilder b;
  b.Header(2, 0).TensorInfo("w", {8}, kF32, 0).TensorInfo("w", {8}, kF32, 32);
  AddF32Data(b, 16);
  ExpectDataLoss(b, {"duplicate tensor name 'w'", "offset 57", "tensor 1 of 2"});
}

TEST(CorruptTest, AbsurdTensorCount) {
  ByteBuilder b;
  b.Header(uint64_t{1} << 60, 0).Zeros(64);
  ExpectDataLoss(b, {"too many tensors (1152921504606846976)", "offset 8"});
}

TEST(CorruptTest, AbsurdKeyCount) {
  ByteBuilder b;
  b.Header(0, ~uint64_t{0}).Zeros(64);
  ExpectDataLoss(b, {"too many keys", "offset 16"});
}

TEST(CorruptTest, AbsurdStringLength) {
  ByteBuilder b;
  b.Header(0, 1).Str("k").U32(8).U64(uint64_t{1} << 63).Zeros(16);
  ExpectDataLoss(b, {"truncated string", "offset 37", "length 9223372036854775808"});
}

TEST(CorruptTest, AbsurdArrayLength) {
  ByteBuilder b;
  b.Header(0, 1).Str("k").U32(9).U32(8).U64(uint64_t{1} << 62).Zeros(64);
  ExpectDataLoss(b, {"array too long", "offset 37", "4611686018427387904 string items"});
  ByteBuilder u8;
  u8.Header(0, 1).Str("k").U32(9).U32(0).U64(65).Zeros(64);  // one byte short
  ExpectDataLoss(u8, {"array too long", "65 uint8 items"});
}

TEST(CorruptTest, DeeplyNestedArrays) {
  ByteBuilder b;
  b.Header(0, 1).Str("k").U32(9);
  for (int i = 0; i < 200; ++i) b.U32(9).U64(1);
  b.U32(0).U64(0);
  ExpectDataLoss(b, {"nested too deeply", "more than 64"});
  ByteBuilder ok;  // 64 levels are fine
  ok.Header(0, 1).Str("k").U32(9);
  for (int i = 0; i < 63; ++i) ok.U32(9).U64(1);
  ok.U32(0).U64(0);
  EXPECT_TRUE(File::Parse(ok.span()).ok());
}

TEST(CorruptTest, UnknownValueType) {
  ByteBuilder b;
  b.Header(0, 1).Str("k").U32(13).U32(0);
  ExpectDataLoss(b, {"unknown value type 13", "offset 33"});
  ByteBuilder elem;
  elem.Header(0, 1).Str("k").U32(9).U32(77).U64(0);
  ExpectDataLoss(elem, {"unknown array element type 77", "offset 37"});
}

TEST(CorruptTest, InvalidBool) {
  ByteBuilder b;
  b.Header(0, 1).Str("k").U32(7).U8(2);
  ExpectDataLoss(b, {"invalid bool", "offset 37"});
}

TEST(CorruptTest, BadAlignment) {
  for (uint32_t a : {0u, 48u, 3u}) {
    ByteBuilder b;
    b.Header(0, 1).KvU32("general.alignment", a);
    ExpectDataLoss(b, {"general.alignment " + std::to_string(a), "not a power of two", "offset 53"});
  }
  ByteBuilder str;
  str.Header(0, 1).KvStr("general.alignment", "32");
  ExpectDataLoss(str, {"general.alignment has type string"});
}

TEST(CorruptTest, AlignmentKeyChangesTensorAlignment) {
  ByteBuilder b;  // offset 16 is fine with alignment 16, misaligned with the default 32
  b.Header(2, 1).KvU32("general.alignment", 16);
  b.TensorInfo("a", {4}, kF32, 0).TensorInfo("b", {4}, kF32, 16).PadTo(16);
  for (int i = 0; i < 8; ++i) b.F32(0.5f);
  StatusOr<File> f = File::Parse(b.span());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->alignment(), 16u);
  EXPECT_EQ(f->data_offset() % 16, 0u);
}

TEST(CorruptTest, OpenPrefixesPath) {
  std::string path = ::testing::TempDir() + "/gguf_corrupt_test.gguf";
  FILE* fp = std::fopen(path.c_str(), "wb");
  ASSERT_NE(fp, nullptr);
  std::fwrite("GGUF\x03", 1, 5, fp);
  std::fclose(fp);
  StatusOr<File> f = File::Open(path);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message().rfind(path + ": gguf: truncated", 0), 0u) << f.status().message();
  std::remove(path.c_str());
}

// A valid file with metadata and tensors, used for the sweeps below.
std::vector<uint8_t> ValidFile() {
  Writer w;
  w.Set("general.architecture", Value::String("llama"));
  w.Set("tokenizer.ggml.tokens", Value::StringArray({"<s>", "a", "bc"}));
  Array inner{ValueType::kInt32, {Value::I32(1), Value::I32(-1)}};
  w.Set("nested", Value::MakeArray(Array{ValueType::kArray, {Value::MakeArray(inner)}}));
  w.Set("flag", Value::Bool(true));
  static const std::vector<uint8_t> data(64, 0x3c);
  CHECK(w.AddTensor("a", DType::kF32, {4, 2}, {data.data(), 32}).ok());
  CHECK(w.AddTensor("b", DType::kQ8_0, {32}, {data.data(), 34}).ok());
  StatusOr<std::string> s = w.WriteToString();
  CHECK(s.ok());
  return {s->begin(), s->end()};
}

// Every strict prefix of a valid file fails cleanly (each prefix is a fresh heap copy, so ASan
// catches any read past its end).
TEST(CorruptTest, EveryTruncationFails) {
  std::vector<uint8_t> full = ValidFile();
  ASSERT_TRUE(File::Parse(full).ok());
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + n);
    StatusOr<File> f = File::Parse(prefix);
    // Cutting only trailing padding after the last tensor's bytes is harmless.
    if (f.ok()) {
      EXPECT_GE(n, full.size() - 30) << "prefix of " << n << " bytes parsed";
      continue;
    }
    EXPECT_EQ(f.status().code(), StatusCode::kDataLoss) << n << ": " << f.status().ToString();
    EXPECT_NE(f.status().message().find("offset"), std::string::npos) << f.status().message();
  }
}

// Flipping any single byte to a few nasty values never crashes; whatever still parses rewrites.
TEST(CorruptTest, ByteFlipsNeverCrash) {
  std::vector<uint8_t> full = ValidFile();
  for (size_t i = 0; i < full.size(); ++i) {
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0x01}, uint8_t{0x7f}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::vector<uint8_t> bytes = full;
      bytes[i] = v;
      StatusOr<File> f = File::Parse(bytes);
      if (!f.ok()) continue;
      StatusOr<std::string> again = Writer::FromFile(*f).WriteToString();
      EXPECT_TRUE(again.ok()) << i << ": " << again.status().ToString();
    }
  }
}

}  // namespace
}  // namespace flotilla::gguf
