// Golden tokenizer tests: llama.cpp's models/ggml-vocab-*.gguf with their .inp/.out files, read the way
// llama.cpp's tests/test-tokenizer-0 reads them. Each case is tokenized with add_special = false and
// parse_special = false and must give exactly the ids of its .out line.
//
// .inp: the cases, each followed by "\n__ggml_vocab_test__\n" (a case's own trailing newlines are
// part of it). .out: one line per case, the expected ids separated by spaces (surrounding whitespace
// is stripped; an empty line means no tokens).
//
// The shared directory is $FLOTILLA_SHARED, else the compile-time FLOTILLA_SHARED_DIR; without it the
// tests skip. Shared files are only read, never copied into the repository.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "shared_dir.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSeparator = "\n__ggml_vocab_test__\n";

using ::flotilla::testutil::SharedDir;

fs::path VocabDir() { return fs::path(SharedDir()) / "models" / "vocab"; }

bool ReadFile(const fs::path& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

// A vocab under test: `name` is the file stem after "ggml-vocab-" ("llama-spm").
struct VocabCase {
  std::string name;
  fs::path gguf;      // the vocab to load; empty when there is none
  fs::path inp, out;  // empty for a vocab without golden cases
  std::string note;   // why gguf differs from the case files' own name, or why it is missing
};

std::string NameOf(const fs::path& p) {
  std::string file = p.filename().string();  // ggml-vocab-X.gguf[.inp|.out]
  file = file.substr(std::string("ggml-vocab-").size());
  return file.substr(0, file.find(".gguf"));
}

// Every ggml-vocab-*.gguf and every .inp/.out pair, sorted by name. A pair without its GGUF whose
// files are byte-identical to another vocab's pair runs against that vocab's GGUF (deepseek-r1-qwen
// shares qwen2's).
std::vector<VocabCase> ListVocabs() {
  std::vector<VocabCase> cases;
  std::error_code ec;
  const fs::path dir = VocabDir();
  if (!fs::is_directory(dir, ec)) return cases;
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("ggml-vocab-", 0) != 0) continue;
    if (file.ends_with(".gguf") || file.ends_with(".gguf.inp")) names.push_back(NameOf(entry.path()));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  auto path = [&](const std::string& name, const char* ext) {
    return dir / ("ggml-vocab-" + name + ".gguf" + ext);
  };
  for (const std::string& name : names) {
    VocabCase c{name, {}, {}, {}, {}};
    if (fs::exists(path(name, ""))) c.gguf = path(name, "");
    if (fs::exists(path(name, ".inp")) && fs::exists(path(name, ".out"))) {
      c.inp = path(name, ".inp");
      c.out = path(name, ".out");
    }
    cases.push_back(std::move(c));
  }
  for (VocabCase& c : cases) {
    if (!c.gguf.empty() || c.inp.empty()) continue;
    std::string inp, out;
    ReadFile(c.inp, inp);
    ReadFile(c.out, out);
    for (const VocabCase& other : cases) {
      if (other.gguf.empty() || other.inp.empty()) continue;
      std::string other_inp, other_out;
      if (ReadFile(other.inp, other_inp) && ReadFile(other.out, other_out) && inp == other_inp &&
          out == other_out) {
        c.gguf = other.gguf;
        c.note = "no ggml-vocab-" + c.name + ".gguf; its .inp/.out equal " + other.name + "'s, using that vocab";
        break;
      }
    }
    if (c.gguf.empty()) c.note = "no ggml-vocab-" + c.name + ".gguf for its .inp/.out";
  }
  return cases;
}

struct GoldenCase {
  std::string text;
  std::vector<int32_t> ids;
};

// Parses .inp/.out as test-tokenizer-0 does; false with `error` when the counts disagree.
bool ReadGolden(const VocabCase& c, std::vector<GoldenCase>& cases, std::string& error) {
  std::string raw, out;
  if (!ReadFile(c.inp, raw) || !ReadFile(c.out, out)) {
    error = "cannot read " + c.inp.string() + " or " + c.out.string();
    return false;
  }
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < raw.size();) {
    const size_t next = raw.find(kSeparator, pos);
    if (next == std::string::npos) {
      texts.push_back(raw.substr(pos));
      break;
    }
    texts.push_back(raw.substr(pos, next - pos));
    pos = next + kSeparator.size();
  }
  std::vector<std::vector<int32_t>> expected;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::vector<int32_t> ids;
    for (long id; fields >> id;) ids.push_back(static_cast<int32_t>(id));
    expected.push_back(std::move(ids));
  }
  if (texts.size() != expected.size()) {
    error = std::to_string(texts.size()) + " inputs but " + std::to_string(expected.size()) + " outputs";
    return false;
  }
  for (size_t i = 0; i < texts.size(); ++i) cases.push_back({std::move(texts[i]), std::move(expected[i])});
  return true;
}

std::string Show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return "[" + s + "]";
}

std::string Escape(std::string_view text) {
  std::string s;
  for (char c : text) {
    if (c == '\n') s += "\\n";
    else if (c == '\t') s += "\\t";
    else s += c;
  }
  return s;
}

// Whether decode(encode(x)) == x is part of the contract: SPM (the added space is dropped again) and
// BPE vocabs that do not clean up spaces when decoding. WordPiece lowercases, so it never is.
bool ExpectRoundTrip(const Vocab& v) {
  return v.kind == TokenizerKind::kSpm || (v.kind == TokenizerKind::kBpe && !v.clean_spaces);
}

std::string TestName(const testing::TestParamInfo<VocabCase>& info) {
  std::string name = info.param.name;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

std::vector<VocabCase> AllVocabs() {
  std::vector<VocabCase> v = ListVocabs();
  if (v.empty()) v.push_back(VocabCase{"none", {}, {}, {}, {}});  // reports the skip
  return v;
}

class TokenizerGoldenTest : public testing::TestWithParam<VocabCase> {};

TEST_P(TokenizerGoldenTest, MatchesLlamaCpp) {
  const VocabCase& c = GetParam();
  if (c.name == "none") GTEST_SKIP() << "no vocab directory at " << VocabDir() << " (set FLOTILLA_SHARED)";
  if (c.inp.empty()) GTEST_SKIP() << "vocab " << c.name << " has no .inp/.out (see LoadsAndRoundTrips)";
  if (c.gguf.empty()) GTEST_SKIP() << "vocab " << c.name << ": " << c.note;
  if (!c.note.empty()) std::printf("vocab %s: %s\n", c.name.c_str(), c.note.c_str());

  std::vector<GoldenCase> cases;
  std::string error;
  ASSERT_TRUE(ReadGolden(c, cases, error)) << c.name << ": " << error;
  StatusOr<gguf::File> file = gguf::File::Open(c.gguf.string());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf(*file);
  ASSERT_TRUE(tok.ok()) << c.name << ": " << tok.status().ToString();

  const bool check_round_trip = ExpectRoundTrip((*tok)->vocab());
  int pass = 0, round_trips = 0;
  for (const GoldenCase& g : cases) {
    const std::vector<int32_t> got = (*tok)->Encode(g.text, /*add_special=*/false, /*parse_special=*/false);
    if (got == g.ids) {
      ++pass;
    } else {
      ADD_FAILURE() << "vocab " << c.name << ": '" << Escape(g.text) << "'\n  expected " << Show(g.ids)
                    << "\n  got      " << Show(got);
    }
    const std::string decoded = (*tok)->Decode(got);
    if (decoded == g.text) {
      ++round_trips;
    } else if (check_round_trip) {
      ADD_FAILURE() << "vocab " << c.name << ": decode(encode(x)) != x for '" << Escape(g.text)
                    << "': got '" << Escape(decoded) << "'";
    }
  }
  std::printf("vocab %s: %d/%zu cases pass (decode round-trips %d/%zu%s)\n", c.name.c_str(), pass,
              cases.size(), round_trips, cases.size(), check_round_trip ? "" : ", not required");
  EXPECT_EQ(pass, static_cast<int>(cases.size()));
}

// Vocabs without golden cases (baichuan, gpt-neox): they must load and round-trip plain text.
TEST_P(TokenizerGoldenTest, LoadsAndRoundTrips) {
  const VocabCase& c = GetParam();
  if (c.name == "none") GTEST_SKIP() << "no vocab directory at " << VocabDir() << " (set FLOTILLA_SHARED)";
  if (c.gguf.empty() || !c.note.empty()) GTEST_SKIP() << "vocab " << c.name << " has no GGUF of its own";
  StatusOr<gguf::File> file = gguf::File::Open(c.gguf.string());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf(*file);
  ASSERT_TRUE(tok.ok()) << c.name << ": " << tok.status().ToString();
  EXPECT_GT((*tok)->n_vocab(), 0);
  const char* texts[] = {"Hello world", " Hello World", "int main() {\n\treturn 0;\n}",
                         "naïve café 日本語 🦙", "   multiple   spaces  ", "3333 + 42 = 3375"};
  for (const char* text : texts) {
    const std::vector<int32_t> ids = (*tok)->Encode(text, false, false);
    EXPECT_FALSE(ids.empty()) << c.name << ": " << text;
    for (int32_t id : ids) EXPECT_TRUE(id >= 0 && id < (*tok)->n_vocab()) << c.name << ": id " << id;
    if ((*tok)->vocab().kind != TokenizerKind::kWpm && !(*tok)->vocab().clean_spaces) {
      EXPECT_EQ((*tok)->Decode(ids), text) << c.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, TokenizerGoldenTest, testing::ValuesIn(AllVocabs()), TestName);

// llama-tokenize's defaults (add_special and parse_special on) on the models of ../shared/models:
// ref/tokens/tokenize_cases.csv (edge cases on two SPM vocabs) and the qwen2 model's prompts (byte-level
// BPE with ChatML specials), as ../shared/ref/README.txt and models/qwen2/README.md describe them.
fs::path FindModel(const std::string& name) {
  const fs::path models = fs::path(SharedDir()) / "models";
  std::error_code ec;
  for (const std::string& candidate : {name, name.substr(0, name.rfind("-f32")) + "-f16"}) {
    for (const auto& dir : fs::directory_iterator(models, ec)) {
      const fs::path p = dir.path() / (candidate + ".gguf");
      if (fs::exists(p)) return p;  // synth15M-f32 is not shipped; its -f16 twin has the same vocab
    }
  }
  return {};
}

std::vector<int32_t> ParseIds(std::string_view s) {
  std::vector<int32_t> ids;
  std::string digits;
  for (char c : std::string(s) + ",") {
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
      digits += c;
    } else if (!digits.empty()) {
      ids.push_back(std::stoi(digits));
      digits.clear();
    }
  }
  return ids;
}

std::unique_ptr<Tokenizer> LoadTokenizer(const fs::path& gguf, std::unique_ptr<gguf::File>& keep) {
  StatusOr<gguf::File> file = gguf::File::Open(gguf.string());
  if (!file.ok()) return nullptr;
  keep = std::make_unique<gguf::File>(std::move(*file));
  StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf(*keep);
  return tok.ok() ? std::move(*tok) : nullptr;
}

TEST(TokenizerReferenceTest, LlamaTokenizeEdgeCases) {
  const fs::path dir = fs::path(SharedDir()) / "ref" / "tokens";
  std::string csv;
  if (!ReadFile(dir / "tokenize_cases.csv", csv)) GTEST_SKIP() << "no " << dir / "tokenize_cases.csv";
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);  // header: vocab_model,case,text_json,ids
  int total = 0, pass = 0;
  std::string loaded_name;
  std::unique_ptr<gguf::File> file;
  std::unique_ptr<Tokenizer> tok;
  while (std::getline(lines, line)) {
    const size_t c1 = line.find(','), c2 = line.find(',', c1 + 1), open = line.rfind('[');
    ASSERT_TRUE(c1 != std::string::npos && c2 != std::string::npos && open != std::string::npos) << line;
    const std::string model = line.substr(0, c1);
    const int case_no = std::stoi(line.substr(c1 + 1, c2 - c1 - 1));
    if (model != loaded_name) {
      const fs::path gguf = FindModel(model);
      ASSERT_FALSE(gguf.empty()) << "no GGUF for " << model;
      tok = LoadTokenizer(gguf, file);
      ASSERT_NE(tok, nullptr) << gguf;
      loaded_name = model;
    }
    char name[32];
    std::snprintf(name, sizeof(name), "case%02d.txt", case_no);
    std::string text;
    ASSERT_TRUE(ReadFile(dir / "cases" / name, text)) << name;
    const std::vector<int32_t> expected = ParseIds(line.substr(open));
    const std::vector<int32_t> got = tok->Encode(text, /*add_special=*/true, /*parse_special=*/true);
    ++total;
    if (got == expected) {
      ++pass;
    } else {
      ADD_FAILURE() << model << " " << name << " '" << Escape(text) << "'\n  expected " << Show(expected)
                    << "\n  got      " << Show(got);
    }
  }
  std::printf("llama-tokenize edge cases: %d/%d pass\n", pass, total);
}

TEST(TokenizerReferenceTest, Qwen2Prompts) {
  const fs::path dir = fs::path(SharedDir()) / "models" / "qwen2";
  std::unique_ptr<gguf::File> file;
  if (!fs::exists(dir / "qwen2-tiny-a-f16.gguf")) GTEST_SKIP() << "no " << dir / "qwen2-tiny-a-f16.gguf";
  std::unique_ptr<Tokenizer> tok = LoadTokenizer(dir / "qwen2-tiny-a-f16.gguf", file);
  ASSERT_NE(tok, nullptr);
  for (int p = 1; p <= 4; ++p) {
    std::string text, listing;
    const std::string stem = "p" + std::to_string(p);
    if (!ReadFile(dir / "ref" / (stem + ".txt"), text) ||
        !ReadFile(dir / "ref" / ("qwen2-tiny-a-f16." + stem + ".prompt_tokens.txt"), listing)) {
      continue;
    }
    std::vector<int32_t> expected;
    std::istringstream rows(listing);
    for (std::string row; std::getline(rows, row);) {
      if (!row.empty()) expected.push_back(std::stoi(row.substr(0, row.find('\t'))));
    }
    const std::vector<int32_t> got = tok->Encode(text, /*add_special=*/true, /*parse_special=*/true);
    EXPECT_EQ(Show(got), Show(expected)) << stem;
    EXPECT_EQ(tok->Decode(got), text) << stem;
  }
}

}  // namespace
}  // namespace flotilla
