#include "cli/train_run.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cli/model_flags.h"

namespace flotilla::cli {

void AddTrainRunFlags(CLI::App* cmd, TrainRunOptions* o, const TrainRunHelp& help) {
  std::string presets;
  for (const std::string& n : PresetNames()) presets += (presets.empty() ? "" : ", ") + n;
  cmd->add_option("--preset", o->preset, "Start from random weights of this shape: " + presets);
  cmd->add_option("--arch", o->arch, "Architecture for --preset: llama or qwen2")->capture_default_str();
  cmd->add_option("-m,--model", o->base, help.model);
  cmd->add_option("--vocab", o->vocab_gguf, help.vocab);
  cmd->add_option("--n-layer", o->n_layer, "For --preset: override the layer count");
  cmd->add_option("--n-embd", o->n_embd, "For --preset: override the embedding width");
  cmd->add_option("--n-head", o->n_head, "For --preset: override the head count (and KV heads)");
  cmd->add_option("--n-head-kv", o->n_head_kv, "For --preset: override the KV head count");
  cmd->add_option("--n-ff", o->n_ff, "For --preset: override the feed-forward width");
  cmd->add_option("--data", o->data, help.data);
  cmd->add_option("--format", o->format, "Data format: auto (by extension), text, chat")->capture_default_str();
  cmd->add_option("--out", o->out, help.out);
  cmd->add_option("--steps", o->steps, "Optimizer steps");
  cmd->add_option("--batch", o->t.batch, "Sequences per micro-batch")->capture_default_str();
  cmd->add_option("-c,--ctx", o->t.seq, "Tokens per sequence")->capture_default_str();
  cmd->add_option("--accum", o->t.grad_accum, "Micro-batches per step (gradient accumulation)")->capture_default_str();
  cmd->add_option("--lr", o->t.schedule.lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--min-lr-ratio", o->t.schedule.min_lr_ratio, "Final lr / peak lr (cosine)")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "Warm-up steps (default: min(100, steps / 10))");
  cmd->add_option("--weight-decay", o->t.adam.weight_decay, "AdamW weight decay (matrices)")->capture_default_str();
  cmd->add_option("--clip", o->t.adam.grad_clip, "Clip the gradient norm (0: off)")->capture_default_str();
  cmd->add_option("--seed", o->t.seed, "Seed for init and batch order")->capture_default_str();
  cmd->add_option("--eval-every", o->t.eval_every, "Evaluate held-out loss every N steps")->capture_default_str();
  cmd->add_option("--eval-batches", o->t.eval_batches, "Validation batches per evaluation")->capture_default_str();
  cmd->add_option("--val-fraction", o->val_fraction, "Share of the data held out")->capture_default_str();
  cmd->add_option("--checkpoint", o->checkpoint, "Checkpoint file (default OUT.ckpt)");
  cmd->add_option("--checkpoint-every", o->checkpoint_every, "Write the checkpoint every N steps (and on Ctrl-C)");
  cmd->add_flag("--resume", o->resume, "Continue from the checkpoint");
  cmd->add_flag("--no-progress", [o](int64_t) { o->t.progress = false; }, "No progress line");
  cmd->add_option("-t,--threads", o->n_threads, "Threads (0: all)");
}

StatusOr<std::optional<TrainStart>> ResumeOrLoadBase(const TrainRunOptions& o) {
  TrainStart s;
  if (o.resume) {
    if (!std::filesystem::exists(o.checkpoint)) return NotFoundError("--resume: no checkpoint at " + o.checkpoint);
    ASSIGN_OR_RETURN(gguf::File f, gguf::File::Open(o.checkpoint));
    ASSIGN_OR_RETURN(train::LoadedCheckpoint c, train::LoadCheckpoint(f));
    if (c.meta.batch != o.t.batch || c.meta.seq != o.t.seq || c.meta.seed != o.t.seed) {
      return InvalidArgumentError("--resume: the checkpoint was made with --batch " + std::to_string(c.meta.batch) +
                                  " --ctx " + std::to_string(c.meta.seq) + " --seed " + std::to_string(c.meta.seed) +
                                  "; resume with the same options");
    }
    ASSIGN_OR_RETURN(s.vocab, Vocab::FromGguf(f));
    s.step = c.meta.step;
    s.params = std::move(c.params);
    s.checkpoint = std::make_unique<train::LoadedCheckpoint>(std::move(c));
    return std::optional<TrainStart>(std::move(s));
  }
  if (o.base.empty()) return std::optional<TrainStart>();
  ASSIGN_OR_RETURN(gguf::File f, gguf::File::Open(o.base));
  ASSIGN_OR_RETURN(s.params, train::LoadParams(f));
  ASSIGN_OR_RETURN(s.vocab, Vocab::FromGguf(f));
  return std::optional<TrainStart>(std::move(s));
}

StatusOr<train::ModelParams> PresetParams(const TrainRunOptions& o, const Vocab& vocab) {
  std::optional<Arch> arch = ArchFromName(o.arch);
  if (!arch) return InvalidArgumentError("unknown --arch '" + o.arch + "'; use llama or qwen2");
  ASSIGN_OR_RETURN(ModelConfig c, GetPreset(o.preset, *arch));
  if (o.n_layer) c.n_layer = o.n_layer;
  if (o.n_embd) c.n_embd = o.n_embd;
  if (o.n_head) c.n_head = c.n_head_kv = o.n_head;
  if (o.n_head_kv) c.n_head_kv = o.n_head_kv;
  if (o.n_ff) c.n_ff = o.n_ff;
  c.n_ctx_train = static_cast<int32_t>(std::max<int64_t>(c.n_ctx_train, o.t.seq));
  c.n_vocab = vocab.size();
  RETURN_IF_ERROR(c.Validate());
  return train::RandomParams(c, o.t.seed);
}

StatusOr<bool> IsChatData(const TrainRunOptions& o, const std::string& path) {
  if (o.format != "auto" && o.format != "chat" && o.format != "text") {
    return InvalidArgumentError("unknown --format '" + o.format + "'; use text, chat or auto");
  }
  return o.format == "chat" || (o.format == "auto" && path.ends_with(".jsonl"));
}

Status LoadSplitData(const TrainRunOptions& o, const std::string& path, bool chat, const Tokenizer& tok,
                     train::TokenData* train_data, train::TokenData* val_data) {
  ASSIGN_OR_RETURN(train::TokenData all, chat ? train::LoadChatData(path, tok, o.t.seq + 1)
                                              : train::LoadTextData(path, tok));
  return train::SplitData(std::move(all), o.val_fraction, o.t.seq, train_data, val_data);
}

void SetSchedule(TrainRunOptions& o) {
  o.t.steps = o.steps;
  o.t.checkpoint_every = o.checkpoint_every;
  o.t.schedule.total_steps = o.steps;
  o.t.schedule.warmup_steps = o.warmup >= 0 ? o.warmup : std::min<int64_t>(100, o.steps / 10);
  o.t.cancel = &InterruptFlag();
}

StatusOr<train::TrainResult> TrainAndSave(TrainRunOptions& o, TrainStart& s, const train::TokenData& train_data,
                                          const train::TokenData& val_data, ThreadPool& pool, const char* who) {
  train::ModelParams& p = s.params;
  SetSchedule(o);
  train::AdamW optimizer(p, o.t.adam);
  if (s.checkpoint) {
    optimizer.m() = std::move(s.checkpoint->m);
    optimizer.v() = std::move(s.checkpoint->v);
    optimizer.set_t(s.step);
  }
  std::fprintf(stderr, "%s: %s, %lld parameters, %lld train / %lld validation tokens, batch %lld x %lld%s\n", who,
               std::string(ArchName(p.config.arch)).c_str(), static_cast<long long>(p.NumParams()),
               static_cast<long long>(train_data.tokens.size()), static_cast<long long>(val_data.tokens.size()),
               static_cast<long long>(o.t.batch), static_cast<long long>(o.t.seq),
               s.step ? (", resuming after step " + std::to_string(s.step)).c_str() : "");
  auto save = [&](int64_t step) {
    const train::CheckpointMeta meta{step, o.t.seed, o.t.batch, o.t.seq};
    return train::SaveCheckpoint(p, optimizer, meta, s.vocab, "", o.checkpoint);
  };
  ASSIGN_OR_RETURN(train::TrainResult r, train::Train(p, optimizer, s.step, train_data, val_data, o.t, pool, save));
  if (r.cancelled) {
    return Status(StatusCode::kCancelled, "interrupted after step " + std::to_string(r.steps_done) +
                                              "; checkpoint " + o.checkpoint + " (continue with --resume)");
  }
  RETURN_IF_ERROR(train::SaveModelGguf(p, s.vocab, "", o.out));
  const double flops = 6.0 * static_cast<double>(p.NumParams()) * r.tokens_per_s;
  std::printf("trained %lld steps in %.1f s: loss %.4f, val loss %.4f, %.0f tokens/s, %.2f GFLOP/s (6 x params x tokens/s)\n",
              static_cast<long long>(r.steps_done - s.step), r.seconds, r.train_loss, r.val_loss, r.tokens_per_s,
              flops / 1e9);
  std::printf("saved %s\n", o.out.c_str());
  return r;
}

}  // namespace flotilla::cli
