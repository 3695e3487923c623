// flotilla vocab import IN OUT.gguf: a tiktoken BPE file (Llama 3) or a Hugging Face tokenizer.json
// (byte-level BPE) -> a vocab-only GGUF that `flotilla tokenize -m` and the model loaders read.
// The input kind is recognised by content. The result is checked by building its tokenizer before
// anything is written, so a file that imports but cannot tokenize is never produced.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "gguf/gguf.h"
#include "tokenizer/codec.h"
#include "tokenizer/import.h"
#include "tokenizer/vocab.h"

namespace flotilla::cli {
namespace {

struct VocabImportOptions {
  std::string input;
  std::string output;
  std::string name;
};

Status RunVocabImport(const VocabImportOptions& opts) {
  ASSIGN_OR_RETURN(Vocab vocab, ImportVocabFile(opts.input));
  StatusOr<std::unique_ptr<Codec>> codec = CreateBpeCodec(vocab);
  if (!codec.ok()) return codec.status().WithContext("imported vocab is unusable");
  gguf::Writer writer;
  writer.Set("general.architecture", gguf::Value::String("llama"));
  std::string name = opts.name;
  if (name.empty()) {
    const size_t slash = opts.input.find_last_of('/');
    name = slash == std::string::npos ? opts.input : opts.input.substr(slash + 1);
  }
  writer.Set("general.name", gguf::Value::String(name));
  vocab.ToGguf(writer);
  RETURN_IF_ERROR(writer.WriteFile(opts.output));
  std::printf("wrote %s: %d tokens, %zu merges, pre '%s'\n", opts.output.c_str(), vocab.size(),
              vocab.merges.size(), vocab.pre.c_str());
  return Status::Ok();
}

}  // namespace

void RegisterVocabImport(CLI::App& app) {
  CLI::App* vocab = app.add_subcommand("vocab", "Vocabulary tools");
  vocab->require_subcommand(1);
  auto opts = std::make_shared<VocabImportOptions>();
  CLI::App* cmd = vocab->add_subcommand(
      "import", "Convert a tiktoken BPE file or a Hugging Face tokenizer.json to a vocab-only GGUF");
  cmd->add_option("input", opts->input, "tiktoken .model file or tokenizer.json")->required();
  cmd->add_option("output", opts->output, "GGUF file to write")->required();
  cmd->add_option("--name", opts->name, "general.name (default: the input file name)");
  cmd->callback([opts] { Finish(RunVocabImport(*opts)); });
}

}  // namespace flotilla::cli
