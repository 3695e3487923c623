// libFuzzer target for the GGUF reader and writer.
//
// Contract checked: File::Parse never crashes, hangs or reads outside `data`; a file that parses has
// in-bounds tensor views and displayable metadata; rewriting it succeeds, the rewrite parses, and
// rewriting the rewrite is byte-identical (the writer is a fixed point after one pass).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gguf/gguf.h"

namespace {

using flotilla::StatusOr;
using flotilla::gguf::File;
using flotilla::gguf::Value;
using flotilla::gguf::Writer;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "gguf_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

uint64_t Touch(const Value& v) {
  uint64_t h = static_cast<uint64_t>(v.type());
  if (auto u = v.AsUint()) h += *u;
  if (auto i = v.AsInt()) h += static_cast<uint64_t>(*i);
  if (auto f = v.AsFloat()) h += static_cast<uint64_t>(*f == *f);
  if (auto b = v.AsBool()) h += *b;
  if (const std::string* s = v.AsString()) {
    for (char c : *s) h = h * 31 + static_cast<unsigned char>(c);
  }
  if (const auto* a = v.AsArray()) {
    for (const Value& item : a->items) {
      if (item.type() != a->elem_type) Fail("array item type", v.ToDisplayString());
      h += Touch(item);
    }
  }
  return h;
}

StatusOr<std::string> Rewrite(const File& f) { return Writer::FromFile(f).WriteToString(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  StatusOr<File> f = File::Parse({data, size});
  if (!f.ok()) {
    if (f.status().message().empty()) Fail("empty error message", "");
    return 0;
  }
  volatile uint64_t sink = 0;
  for (const auto& [key, value] : f->metadata()) {
    sink = sink + Touch(value) + key.size() + value.ToDisplayString().size();
    if (f->Find(key) != &value) Fail("Find", key);
  }
  for (const auto& t : f->tensors()) {
    if (t.n_bytes > 0 && (t.data < data || t.data + t.n_bytes > data + size)) Fail("tensor view", t.name);
    uint8_t x = 0;
    for (uint8_t b : t.bytes()) x ^= b;
    sink = sink + x + static_cast<uint64_t>(t.n_elements());
    if (f->FindTensor(t.name) == nullptr) Fail("FindTensor", t.name);
  }
  (void)f->GetString("general.architecture");
  (void)f->GetStringArray("tokenizer.ggml.tokens");
  (void)f->GetF32Array("tokenizer.ggml.scores");
  (void)f->GetI32Array("tokenizer.ggml.token_type");

  StatusOr<std::string> once = Rewrite(*f);
  if (!once.ok()) Fail("rewrite", once.status().ToString());
  StatusOr<File> again = File::Parse(
      {reinterpret_cast<const uint8_t*>(once->data()), once->size()});
  if (!again.ok()) Fail("re-parse of rewrite", again.status().ToString());
  if (again->metadata().size() != f->metadata().size() || again->tensors().size() != f->tensors().size()) {
    Fail("rewrite changed counts", "");
  }
  StatusOr<std::string> twice = Rewrite(*again);
  if (!twice.ok()) Fail("second rewrite", twice.status().ToString());
  if (*twice != *once) Fail("rewrite is not a fixed point", std::to_string(once->size()));
  return 0;
}
