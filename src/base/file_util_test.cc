#include "base/file_util.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "base/mapped_file.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;

fs::path TempDir() {
  fs::path dir = fs::temp_directory_path() / ("flotilla_base_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

TEST(FileUtil, AtomicWriteThenReadBack) {
  fs::path p = TempDir() / "a.bin";
  std::string bytes("x\0y\xff", 4);
  ASSERT_TRUE(WriteFileAtomic(p, bytes).ok());
  StatusOr<std::string> back = ReadFileToString(p);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, bytes);
  // Overwrite: the new content replaces the old one whole.
  ASSERT_TRUE(WriteFileAtomic(p, std::string("new")).ok());
  EXPECT_EQ(*ReadFileToString(p), "new");
}

TEST(FileUtil, UncommittedAtomicFileLeavesNothing) {
  fs::path dir = TempDir() / "uncommitted";
  fs::create_directories(dir);
  {
    StatusOr<AtomicFile> f = AtomicFile::Create(dir / "out.gguf");
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->Write(std::string("partial")).ok());
  }
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(FileUtil, MissingFileIsNotFound) {
  StatusOr<std::string> r = ReadFileToString("/nonexistent/flotilla/file");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/flotilla/file"), std::string::npos);
}

TEST(FileUtil, DirectoryIsRejected) {
  EXPECT_FALSE(ReadFileToString(TempDir()).ok());
  EXPECT_FALSE(MappedFile::Open(TempDir()).ok());
}

TEST(MappedFile, MapsBytesAndEmptyFiles) {
  fs::path p = TempDir() / "m.bin";
  ASSERT_TRUE(WriteFileAtomic(p, std::string("hello")).ok());
  StatusOr<MappedFile> m = MappedFile::Open(p);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m->data()), m->size()), "hello");
  MappedFile moved = std::move(*m);
  EXPECT_EQ(moved.size(), 5u);

  fs::path e = TempDir() / "empty.bin";
  std::ofstream(e).close();
  StatusOr<MappedFile> empty = MappedFile::Open(e);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), 0u);
}

TEST(MappedFile, PrefaultAndReleaseKeepTheContents) {
  fs::path p = TempDir() / "pages.bin";
  std::string bytes(3 * 4096 + 123, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7 + i / 4096);
  ASSERT_TRUE(WriteFileAtomic(p, bytes).ok());
  StatusOr<MappedFile> m = MappedFile::Open(p);
  ASSERT_TRUE(m.ok());
  const uint8_t* d = m->data();
  m->Prefault(d + 100, 5000);       // unaligned start and length
  m->Prefault(d, m->size() + 1);    // past the end: ignored
  m->Prefault(d + m->size(), 0);    // empty
  m->ReleasePages(d + 4096, 4096);  // one whole page dropped, read back from the file
  m->Prefault(d, m->size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(d), m->size()), bytes);
}

TEST(Status, CodesMessagesAndContext) {
  Status s = DataLossError("truncated at offset 12");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "DATA_LOSS: truncated at offset 12");
  EXPECT_EQ(s.WithContext("model.gguf").message(), "model.gguf: truncated at offset 12");
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
}

StatusOr<int> Half(int x) {
  if (x % 2) return InvalidArgumentError("odd");
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(Status, AssignOrReturnPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().message(), "odd");
}

}  // namespace
}  // namespace flotilla
