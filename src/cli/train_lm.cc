// flotilla train --preset NAME | -m BASE.gguf --data FILE --steps N --out OUT.gguf: trains a
// llama-family language model on CPU, from scratch, as a full fine-tune, or as LoRA adapters on a
// frozen base (-m BASE.gguf --lora-rank R), with checkpoints and --resume. Options live on the
// `train` parent command (shared with `train classify`), and run when no subcommand is given.
// LoRA writes two files: the merged model (--out) and the adapter in llama.cpp's format
// (--lora-out, default OUT.lora.gguf), which `flotilla run --lora` applies to the base.
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "base/file_util.h"
#include "cli/model_flags.h"
#include "cli/train_run.h"
#include "model/config.h"
#include "tokenizer/vocab_trainer.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/lora.h"
#include "train/trainer.h"

namespace flotilla::cli {
namespace {

constexpr int32_t kNoLora = std::numeric_limits<int32_t>::min();  // --lora-rank not given
constexpr char kDefaultLoraTargets[] = "attn_q,attn_k,attn_v,attn_output";  // train/lora.h LoraOptions

struct TrainLmOptions : TrainRunOptions {
  int32_t vocab_size = 512;  // --preset without --vocab: the size of the vocab learned from --data
  int32_t lora_rank = kNoLora;
  float lora_alpha = 0.0f;
  std::string lora_targets = kDefaultLoraTargets, lora_out;
};

// The model to train: from a checkpoint (--resume), a base GGUF (-m), or --preset with the vocab of
// --vocab or one learned from --data.
StatusOr<TrainStart> LoadStart(const TrainLmOptions& o) {
  ASSIGN_OR_RETURN(std::optional<TrainStart> loaded, ResumeOrLoadBase(o));
  if (loaded) return std::move(*loaded);
  TrainStart s;
  if (!o.vocab_gguf.empty()) {
    ASSIGN_OR_RETURN(gguf::File f, gguf::File::Open(o.vocab_gguf));
    ASSIGN_OR_RETURN(s.vocab, Vocab::FromGguf(f));
  } else {
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(o.data));
    if (text.empty()) return InvalidArgumentError("training data " + o.data + " is empty");
    ASSIGN_OR_RETURN(s.vocab, TrainSpmVocab(text, {.vocab_size = o.vocab_size}));
  }
  ASSIGN_OR_RETURN(s.params, PresetParams(o, s.vocab));
  return s;
}

// Reads --data (text or chat JSONL) with `tok` and splits off the validation share.
Status LoadData(const TrainLmOptions& o, const Tokenizer& tok, train::TokenData* train_data,
                train::TokenData* val_data) {
  ASSIGN_OR_RETURN(bool chat, IsChatData(o, o.data));
  return LoadSplitData(o, o.data, chat, tok, train_data, val_data);
}

// OUT.gguf -> OUT.lora.gguf (any other name: OUT.lora.gguf appended).
std::string DefaultLoraOut(const std::string& out) {
  const std::string stem = out.ends_with(".gguf") ? out.substr(0, out.size() - 5) : out;
  return stem + ".lora.gguf";
}

// The adapters to train: fresh from the flags, or from the LoRA checkpoint (--resume), which must
// have been made with the same rank, alpha and targets.
StatusOr<train::LoraParams> LoraStart(const TrainLmOptions& o, const train::LoraOptions& lo,
                                      const ModelConfig& config, std::unique_ptr<train::LoadedLoraCheckpoint>* ck) {
  ASSIGN_OR_RETURN(train::LoraParams lora, train::InitLora(config, lo, o.t.seed));
  if (!o.resume) return lora;
  if (!std::filesystem::exists(o.checkpoint)) return NotFoundError("--resume: no checkpoint at " + o.checkpoint);
  ASSIGN_OR_RETURN(gguf::File f, gguf::File::Open(o.checkpoint));
  ASSIGN_OR_RETURN(train::LoadedLoraCheckpoint c, train::LoadLoraCheckpoint(f, config));
  if (c.meta.batch != o.t.batch || c.meta.seq != o.t.seq || c.meta.seed != o.t.seed || c.lora.rank != lora.rank ||
      c.lora.alpha != lora.alpha || c.lora.targets() != lora.targets()) {
    return InvalidArgumentError("--resume: the checkpoint was made with --batch " + std::to_string(c.meta.batch) +
                                " --ctx " + std::to_string(c.meta.seq) + " --seed " + std::to_string(c.meta.seed) +
                                " --lora-rank " + std::to_string(c.lora.rank) + " --lora-alpha " +
                                std::to_string(c.lora.alpha) + " --lora-targets " +
                                train::LoraTargetsString(c.lora.targets()) + "; resume with the same options");
  }
  *ck = std::make_unique<train::LoadedLoraCheckpoint>(std::move(c));
  return std::move((*ck)->lora);
}

// LoRA: adapters on the frozen base -m; writes the adapter (llama.cpp format) and the merged model.
Status RunTrainLora(TrainLmOptions& o) {
  if (o.base.empty() || !o.preset.empty()) return InvalidArgumentError("--lora-rank needs -m BASE.gguf (not --preset)");
  ASSIGN_OR_RETURN(std::vector<train::LoraTarget> targets, train::ParseLoraTargets(o.lora_targets));
  const train::LoraOptions lo{.rank = o.lora_rank, .alpha = o.lora_alpha, .targets = targets};
  if (o.lora_out.empty()) o.lora_out = DefaultLoraOut(o.out);
  if (o.lora_out == o.out) return InvalidArgumentError("--lora-out must differ from --out");
  ASSIGN_OR_RETURN(gguf::File base_file, gguf::File::Open(o.base));
  ASSIGN_OR_RETURN(train::ModelParams base, train::LoadParams(base_file));
  ASSIGN_OR_RETURN(Vocab vocab, Vocab::FromGguf(base_file));
  StatusOr<std::string> chat_template = base_file.GetString("tokenizer.chat_template");
  std::unique_ptr<train::LoadedLoraCheckpoint> ck;
  ASSIGN_OR_RETURN(train::LoraParams lora, LoraStart(o, lo, base.config, &ck));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::Create(vocab));
  train::TokenData train_data, val_data;
  RETURN_IF_ERROR(LoadData(o, *tok, &train_data, &val_data));

  const int64_t start = ck ? ck->meta.step : 0;
  SetSchedule(o);
  train::LoraAdamW optimizer(lora, o.t.adam);
  if (ck) {
    optimizer.m() = std::move(ck->m);
    optimizer.v() = std::move(ck->v);
    optimizer.set_t(start);
  }
  std::fprintf(stderr,
               "train: LoRA rank %d alpha %g on %s: %lld trained of %lld base parameters, %lld train / %lld "
               "validation tokens, batch %lld x %lld%s\n",
               lora.rank, lora.alpha, train::LoraTargetsString(lora.targets()).c_str(),
               static_cast<long long>(lora.NumParams()), static_cast<long long>(base.NumParams()),
               static_cast<long long>(train_data.tokens.size()), static_cast<long long>(val_data.tokens.size()),
               static_cast<long long>(o.t.batch), static_cast<long long>(o.t.seq),
               start ? (", resuming after step " + std::to_string(start)).c_str() : "");
  ThreadPool pool(o.n_threads);
  auto save = [&](int64_t step) {
    return train::SaveLoraCheckpoint(lora, optimizer, {step, o.t.seed, o.t.batch, o.t.seq}, o.checkpoint);
  };
  ASSIGN_OR_RETURN(train::TrainResult r,
                   train::TrainLora(base, lora, optimizer, start, train_data, val_data, o.t, pool, save));
  if (r.cancelled) {
    return Status(StatusCode::kCancelled, "interrupted after step " + std::to_string(r.steps_done) +
                                              "; checkpoint " + o.checkpoint + " (continue with --resume)");
  }
  RETURN_IF_ERROR(train::SaveLoraAdapter(lora, o.lora_out));
  train::MergeLora(lora, base);
  RETURN_IF_ERROR(train::SaveModelGguf(base, vocab, chat_template.ok() ? *chat_template : "", o.out));
  std::printf("trained %lld steps in %.1f s: loss %.4f, val loss %.4f, %.0f tokens/s\n",
              static_cast<long long>(r.steps_done - start), r.seconds, r.train_loss, r.val_loss, r.tokens_per_s);
  std::printf("saved adapter %s (%lld parameters, %.1f KiB) and merged model %s\n", o.lora_out.c_str(),
              static_cast<long long>(lora.NumParams()),
              static_cast<double>(std::filesystem::file_size(o.lora_out)) / 1024.0, o.out.c_str());
  return Status::Ok();
}

Status RunTrainLm(TrainLmOptions& o) {
  if (o.data.empty() || o.out.empty() || o.steps <= 0) {
    return InvalidArgumentError("train needs --data FILE, --steps N (> 0) and --out OUT.gguf (or a subcommand)");
  }
  if (o.preset.empty() == o.base.empty() && !o.resume) return InvalidArgumentError("give one of --preset NAME or -m BASE.gguf");
  if (o.checkpoint.empty()) o.checkpoint = o.out + ".ckpt";
  if (o.lora_rank != kNoLora) return RunTrainLora(o);
  if (o.lora_alpha != 0.0f || !o.lora_out.empty() || o.lora_targets != kDefaultLoraTargets) {
    return InvalidArgumentError("--lora-alpha, --lora-targets and --lora-out need --lora-rank");
  }
  ASSIGN_OR_RETURN(TrainStart s, LoadStart(o));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::Create(s.vocab));
  train::TokenData train_data, val_data;
  RETURN_IF_ERROR(LoadData(o, *tok, &train_data, &val_data));
  ThreadPool pool(o.n_threads);
  return TrainAndSave(o, s, train_data, val_data, pool, "train").status();
}

CLI::App* TrainParent(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App* a) { return a->get_name() == "train"; })) return sub;
  return app.add_subcommand("train", "Train a model");
}

}  // namespace

void RegisterTrainLm(CLI::App& app) {
  CLI::App* cmd = TrainParent(app);
  cmd->require_subcommand(0, 1);  // `train` alone trains a language model; `train classify` a classifier
  auto o = std::make_shared<TrainLmOptions>();
  AddTrainRunFlags(cmd, o.get(),
                   {.model = "Fine-tune this GGUF model (all weights, F32 master copy; with --lora-rank, adapters)",
                    .data = "Training data: plain text, or JSONL chat pairs (.jsonl)",
                    .out = "Trained model to write (GGUF, F32)",
                    .vocab = "For --preset: use this GGUF file's vocab (else one is learned from --data)"});
  cmd->add_option("--vocab-size", o->vocab_size, "For --preset: size of the learned vocab")->capture_default_str();
  cmd->add_option("--lora-rank", o->lora_rank,
                  "LoRA: train rank-R adapters on the frozen -m model instead of all weights; writes the merged "
                  "model to --out and the adapter (llama.cpp format, for run --lora) to --lora-out");
  cmd->add_option("--lora-alpha", o->lora_alpha, "LoRA alpha; adapters are scaled by alpha / rank (default 2 x rank)");
  cmd->add_option("--lora-targets", o->lora_targets,
                  "LoRA target matrices, a comma list of attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, "
                  "ffn_down")
      ->capture_default_str();
  cmd->add_option("--lora-out", o->lora_out, "LoRA adapter GGUF to write (default: OUT.lora.gguf for --out OUT.gguf)");
  cmd->callback([cmd, o] {
    if (!cmd->get_subcommands().empty()) return;  // a subcommand (train classify) ran
    Finish(RunTrainLm(*o));
  });
}

}  // namespace flotilla::cli
