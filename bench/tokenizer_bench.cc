// Tokenizer throughput on long English text, bytes/s per core (one thread), and the start-up cost of
// a vocab: Vocab::FromGguf and Tokenizer::Create (the codec: hash maps, BPE merges).
//   build-*/bench/tokenizer_bench [--benchmark_format=json]
// Text: $FLOTILLA_SHARED (or the compile-time shared dir) /data/tinyshakespeare/input.txt and
// /data/debian_docs/debian-reference.en.txt; a generated text when they are missing. Vocabs:
// /models/vocab/ggml-vocab-{gpt-2,llama-bpe,llama-spm}.gguf (a benchmark whose vocab is missing
// reports an error and is skipped).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace flotilla {
namespace {

std::string SharedDir() {
  if (const char* env = std::getenv("FLOTILLA_SHARED"); env != nullptr && *env != '\0') return env;
  return FLOTILLA_SHARED_DIR;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::string& Text(const std::string& corpus) {
  static std::map<std::string, std::string> texts;
  auto it = texts.find(corpus);
  if (it != texts.end()) return it->second;
  std::string text = corpus == "shakespeare" ? Slurp(SharedDir() + "/data/tinyshakespeare/input.txt")
                                             : Slurp(SharedDir() + "/data/debian_docs/debian-reference.en.txt");
  if (text.empty()) {  // a deterministic stand-in of about 1 MB
    const char* words[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog's", "back,",
                           "and", "then", "it", "runs", "42", "miles.\n"};
    for (size_t i = 0; text.size() < (1 << 20); ++i) {
      text += words[(i * 7 + i / 3) % 15];
      text += ' ';
    }
  }
  return texts.emplace(corpus, std::move(text)).first->second;
}

const Tokenizer* Load(const std::string& vocab) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  static std::map<std::string, gguf::File> files;
  auto it = cache.find(vocab);
  if (it != cache.end()) return it->second.get();
  auto file = gguf::File::Open(SharedDir() + "/models/vocab/ggml-vocab-" + vocab + ".gguf");
  if (!file.ok()) return nullptr;
  auto tokenizer = Tokenizer::FromGguf(*file);
  if (!tokenizer.ok()) return nullptr;
  return cache.emplace(vocab, std::move(tokenizer).value()).first->second.get();
}

void BM_Encode(benchmark::State& state, const std::string& vocab, const std::string& corpus) {
  const Tokenizer* tokenizer = Load(vocab);
  if (tokenizer == nullptr) {
    state.SkipWithError(("cannot load vocab " + vocab).c_str());
    return;
  }
  const std::string& text = Text(corpus);
  size_t n_tokens = 0;
  for (auto _ : state) {
    auto ids = tokenizer->Encode(text, /*add_special=*/false, /*parse_special=*/false);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
  state.counters["text_bytes"] = static_cast<double>(text.size());
}

// Encode in 1 KiB pieces, one call each (prompt-sized texts; SPM reuses repeated segments' ids only
// within a call of at least 4 KiB, so this is its speed without that reuse).
void BM_EncodeChunks(benchmark::State& state, const std::string& vocab, const std::string& corpus) {
  const Tokenizer* tokenizer = Load(vocab);
  if (tokenizer == nullptr) {
    state.SkipWithError(("cannot load vocab " + vocab).c_str());
    return;
  }
  const std::string_view text = Text(corpus);
  constexpr size_t kChunk = 1024;
  for (auto _ : state) {
    for (size_t off = 0; off < text.size(); off += kChunk) {
      auto ids = tokenizer->Encode(text.substr(off, kChunk), /*add_special=*/false, /*parse_special=*/false);
      benchmark::DoNotOptimize(ids.data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

// Encode with parse_special = true: special tokens are searched in the text first.
void BM_EncodeSpecial(benchmark::State& state, const std::string& vocab, const std::string& corpus) {
  const Tokenizer* tokenizer = Load(vocab);
  if (tokenizer == nullptr) {
    state.SkipWithError(("cannot load vocab " + vocab).c_str());
    return;
  }
  const std::string& text = Text(corpus);
  for (auto _ : state) {
    auto ids = tokenizer->Encode(text, /*add_special=*/true, /*parse_special=*/true);
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

// Vocab::FromGguf on an open (mmap'd) file.
void BM_VocabFromGguf(benchmark::State& state, const std::string& vocab) {
  auto file = gguf::File::Open(SharedDir() + "/models/vocab/ggml-vocab-" + vocab + ".gguf");
  if (!file.ok()) {
    state.SkipWithError(("cannot open vocab " + vocab).c_str());
    return;
  }
  for (auto _ : state) {
    auto parsed = Vocab::FromGguf(*file);
    benchmark::DoNotOptimize(parsed.ok());
  }
}

// Tokenizer::Create from a parsed vocab (the copy of the vocab is made outside the timing).
void BM_CreateTokenizer(benchmark::State& state, const std::string& vocab) {
  auto file = gguf::File::Open(SharedDir() + "/models/vocab/ggml-vocab-" + vocab + ".gguf");
  if (!file.ok()) {
    state.SkipWithError(("cannot open vocab " + vocab).c_str());
    return;
  }
  auto parsed = Vocab::FromGguf(*file);
  if (!parsed.ok()) {
    state.SkipWithError(("cannot parse vocab " + vocab).c_str());
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();
    Vocab copy = *parsed;
    state.ResumeTiming();
    auto tokenizer = Tokenizer::Create(std::move(copy));
    benchmark::DoNotOptimize(tokenizer.ok());
  }
}

BENCHMARK_CAPTURE(BM_Encode, gpt2_shakespeare, std::string("gpt-2"), std::string("shakespeare"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama_bpe_shakespeare, std::string("llama-bpe"), std::string("shakespeare"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama_spm_shakespeare, std::string("llama-spm"), std::string("shakespeare"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, gpt2_debian, std::string("gpt-2"), std::string("debian"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama_bpe_debian, std::string("llama-bpe"), std::string("debian"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama_spm_debian, std::string("llama-spm"), std::string("debian"))
    ->Unit(benchmark::kMillisecond);

BENCHMARK_CAPTURE(BM_EncodeChunks, llama_bpe_shakespeare, std::string("llama-bpe"),
                  std::string("shakespeare"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeChunks, llama_spm_shakespeare, std::string("llama-spm"),
                  std::string("shakespeare"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeChunks, llama_spm_debian, std::string("llama-spm"),
                  std::string("debian"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeSpecial, llama_bpe_shakespeare, std::string("llama-bpe"),
                  std::string("shakespeare"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeSpecial, llama_spm_shakespeare, std::string("llama-spm"),
                  std::string("shakespeare"))->Unit(benchmark::kMillisecond);

BENCHMARK_CAPTURE(BM_VocabFromGguf, llama_bpe, std::string("llama-bpe"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_VocabFromGguf, llama_spm, std::string("llama-spm"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CreateTokenizer, gpt2, std::string("gpt-2"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CreateTokenizer, llama_bpe, std::string("llama-bpe"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CreateTokenizer, llama_spm, std::string("llama-spm"))->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace flotilla

BENCHMARK_MAIN();
