// flotilla tokenize -m FILE.gguf (-p TEXT | -f FILE | --stdin) [--json]: ids and pieces.
// Like llama.cpp's llama-tokenize, it adds BOS/EOS as the vocab says and parses special tokens
// written in the text unless told not to.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "cli/commands.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace flotilla::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string prompt;
  std::string file;
  bool from_stdin = false;
  bool no_add_special = false;
  bool no_parse_special = false;
  bool ids_only = false;
  bool json = false;
};

// Printable form of a piece for the text listing: control bytes and invalid UTF-8 escaped.
std::string EscapePiece(const std::string& piece) {
  std::string out;
  for (unsigned char c : piece) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

StatusOr<std::string> ReadInput(const TokenizeOptions& o) {
  int sources = !o.prompt.empty() + !o.file.empty() + o.from_stdin;
  if (sources > 1) return InvalidArgumentError("give only one of -p, -f and --stdin");
  if (!o.file.empty()) return ReadFileToString(o.file);
  if (o.from_stdin) return std::string(std::istreambuf_iterator<char>(std::cin), {});
  return o.prompt;
}

Status Run(const TokenizeOptions& o) {
  ASSIGN_OR_RETURN(gguf::File file, gguf::File::Open(o.model));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::FromGguf(file));
  ASSIGN_OR_RETURN(std::string text, ReadInput(o));
  std::vector<int32_t> ids = tokenizer->Encode(text, !o.no_add_special, !o.no_parse_special);
  if (o.json) {
    nlohmann::json pieces = nlohmann::json::array();
    for (int32_t id : ids) pieces.push_back(tokenizer->TokenToPiece(id));
    nlohmann::json out = {{"ids", ids}, {"pieces", pieces}, {"n_tokens", ids.size()}};
    // Pieces of byte-level vocabs may hold partial UTF-8: replace what is not valid.
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else if (o.ids_only) {
    std::string line = "[";
    for (size_t i = 0; i < ids.size(); ++i) line += (i ? ", " : "") + std::to_string(ids[i]);
    std::printf("%s]\n", line.c_str());
  } else {
    for (int32_t id : ids) {
      std::printf("%6d -> '%s'\n", id, EscapePiece(tokenizer->TokenToPiece(id)).c_str());
    }
    std::printf("%zu tokens\n", ids.size());
  }
  return Status::Ok();
}

}  // namespace

void RegisterTokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Turn text into token ids with a model's tokenizer");
  cmd->add_option("-m,--model", o->model, "GGUF file holding the vocab")->required();
  cmd->add_option("-p,--prompt", o->prompt, "Text to tokenize");
  cmd->add_option("-f,--file", o->file, "Read the text from this file, byte for byte");
  cmd->add_flag("--stdin", o->from_stdin, "Read the text from standard input");
  cmd->add_flag("--no-bos", o->no_add_special, "Do not add BOS/EOS tokens");
  cmd->add_flag("--no-parse-special", o->no_parse_special,
                "Treat special-token text such as <s> as plain text");
  cmd->add_flag("--ids", o->ids_only, "Print only the ids, as a list");
  cmd->add_flag("--json", o->json, "Print {\"ids\": [...], \"pieces\": [...], \"n_tokens\": N}");
  cmd->callback([o] { Finish(Run(*o)); });
}

}  // namespace flotilla::cli
