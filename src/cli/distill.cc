// flotilla distill: trains a student language model from a teacher.
//   Logit distillation: --teacher T.gguf (same tokenizer), student -m S.gguf or --preset NAME, --data F;
//     loss alpha * T^2 * KL(teacher || student) at temperature T + (1 - alpha) * cross-entropy.
//   Sequence-level distillation: --prompts P.jsonl|txt and an OpenAI-compatible teacher
//     (--teacher-url / OPENAI_BASE_URL, --teacher-model, key OPENAI_API_KEY): the teacher's answers are
//     saved as chat JSONL (--pairs, resumable), then the student is fine-tuned on them (answer-only loss).
// Both share `flotilla train`'s flags (batch, ctx, lr, eval, checkpoints, --resume, seed, threads).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/model_flags.h"
#include "model/config.h"
#include "route/upstream.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/distill.h"
#include "train/distill_pairs.h"
#include "train/trainer.h"

namespace flotilla::cli {
namespace {

struct DistillCliOptions {
  std::string teacher, teacher_url, teacher_model, prompts, pairs;
  int32_t teacher_max_tokens = 256;
  float teacher_temperature = 0.0f;
  double teacher_timeout = 300;
  std::string preset, arch = "llama", base, vocab_gguf, data, format = "auto", out, checkpoint;
  int32_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, n_ff = 0;  // preset overrides
  int64_t steps = 0, checkpoint_every = 0, warmup = -1;
  double val_fraction = 0.1;
  bool resume = false;
  int n_threads = 0;
  train::DistillOptions distill;
  train::TrainerOptions t;
};

// The student: from a checkpoint (--resume), a GGUF (-m) or a preset with `vocab`.
struct Student {
  train::ModelParams params;
  Vocab vocab;
  int64_t step = 0;
  std::unique_ptr<train::LoadedCheckpoint> checkpoint;
};

StatusOr<Student> LoadStudent(const DistillCliOptions& o, const Vocab* preset_vocab) {
  Student s;
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
    return s;
  }
  if (!o.base.empty()) {
    ASSIGN_OR_RETURN(gguf::File f, gguf::File::Open(o.base));
    ASSIGN_OR_RETURN(s.params, train::LoadParams(f));
    ASSIGN_OR_RETURN(s.vocab, Vocab::FromGguf(f));
    return s;
  }
  if (!preset_vocab) return InvalidArgumentError("--preset needs --vocab V.gguf for sequence-level distillation");
  std::optional<Arch> arch = ArchFromName(o.arch);
  if (!arch) return InvalidArgumentError("unknown --arch '" + o.arch + "'; use llama or qwen2");
  ASSIGN_OR_RETURN(ModelConfig c, GetPreset(o.preset, *arch));
  if (o.n_layer) c.n_layer = o.n_layer;
  if (o.n_embd) c.n_embd = o.n_embd;
  if (o.n_head) c.n_head = c.n_head_kv = o.n_head;
  if (o.n_head_kv) c.n_head_kv = o.n_head_kv;
  if (o.n_ff) c.n_ff = o.n_ff;
  c.n_ctx_train = static_cast<int32_t>(std::max<int64_t>(c.n_ctx_train, o.t.seq));
  s.vocab = *preset_vocab;
  c.n_vocab = s.vocab.size();
  RETURN_IF_ERROR(c.Validate());
  s.params = train::RandomParams(c, o.t.seed);
  return s;
}

Status LoadSplit(const DistillCliOptions& o, const std::string& path, bool chat, const Tokenizer& tok,
                 train::TokenData* train_data, train::TokenData* val_data) {
  ASSIGN_OR_RETURN(train::TokenData all, chat ? train::LoadChatData(path, tok, o.t.seq + 1)
                                              : train::LoadTextData(path, tok));
  return train::SplitData(std::move(all), o.val_fraction, o.t.seq, train_data, val_data);
}

// Trains the student (Train with o.t, which may carry the distillation loss), then writes --out.
Status TrainAndSave(DistillCliOptions& o, Student& s, const train::TokenData& train_data,
                    const train::TokenData& val_data, ThreadPool& pool) {
  train::ModelParams& p = s.params;
  o.t.steps = o.steps;
  o.t.checkpoint_every = o.checkpoint_every;
  o.t.schedule.total_steps = o.steps;
  o.t.schedule.warmup_steps = o.warmup >= 0 ? o.warmup : std::min<int64_t>(100, o.steps / 10);
  o.t.cancel = &InterruptFlag();
  train::AdamW optimizer(p, o.t.adam);
  if (s.checkpoint) {
    optimizer.m() = std::move(s.checkpoint->m);
    optimizer.v() = std::move(s.checkpoint->v);
    optimizer.set_t(s.step);
  }
  std::fprintf(stderr, "distill: student %s, %lld parameters, %lld train / %lld validation tokens, batch %lld x %lld%s\n",
               std::string(ArchName(p.config.arch)).c_str(), static_cast<long long>(p.NumParams()),
               static_cast<long long>(train_data.tokens.size()), static_cast<long long>(val_data.tokens.size()),
               static_cast<long long>(o.t.batch), static_cast<long long>(o.t.seq),
               s.step ? (", resuming after step " + std::to_string(s.step)).c_str() : "");
  const train::CheckpointMeta meta{0, o.t.seed, o.t.batch, o.t.seq};
  auto save = [&](int64_t step) {
    train::CheckpointMeta m = meta;
    m.step = step;
    return train::SaveCheckpoint(p, optimizer, m, s.vocab, "", o.checkpoint);
  };
  ASSIGN_OR_RETURN(train::TrainResult r, train::Train(p, optimizer, s.step, train_data, val_data, o.t, pool, save));
  if (r.cancelled) {
    return Status(StatusCode::kCancelled, "interrupted after step " + std::to_string(r.steps_done) +
                                              "; checkpoint " + o.checkpoint + " (continue with --resume)");
  }
  RETURN_IF_ERROR(train::SaveModelGguf(p, s.vocab, "", o.out));
  std::printf("trained %lld steps in %.1f s: loss %.4f, val loss %.4f, %.0f tokens/s\n",
              static_cast<long long>(r.steps_done - s.step), r.seconds, r.train_loss, r.val_loss, r.tokens_per_s);
  std::printf("saved %s\n", o.out.c_str());
  return Status::Ok();
}

void PrintEval(const char* when, const train::DistillEval& e) {
  std::printf("%s: student val loss %.4f ppl %.2f, teacher val loss %.4f ppl %.2f, KL(teacher||student) %.4f "
              "over %lld tokens\n",
              when, e.student_ce, std::exp(e.student_ce), e.teacher_ce, std::exp(e.teacher_ce), e.kl,
              static_cast<long long>(e.count));
  std::fflush(stdout);
}

Status RunLogitDistill(DistillCliOptions& o) {
  if (o.data.empty()) return InvalidArgumentError("logit distillation needs --data FILE (text or chat JSONL)");
  if (!(o.distill.temperature > 0.0f) || !(o.distill.alpha >= 0.0f && o.distill.alpha <= 1.0f)) {
    return InvalidArgumentError("--temperature must be > 0 and --alpha in [0, 1]");
  }
  // The tokenizers are compared before any model is loaded or trained.
  ASSIGN_OR_RETURN(gguf::File teacher_file, gguf::File::Open(o.teacher));
  ASSIGN_OR_RETURN(Vocab teacher_vocab, Vocab::FromGguf(teacher_file));
  ASSIGN_OR_RETURN(Student s, LoadStudent(o, &teacher_vocab));
  RETURN_IF_ERROR(train::CheckSameTokenizer(teacher_vocab, s.vocab));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::Create(s.vocab));
  const bool chat = o.format == "chat" || (o.format == "auto" && o.data.ends_with(".jsonl"));
  train::TokenData train_data, val_data;
  RETURN_IF_ERROR(LoadSplit(o, o.data, chat, *tok, &train_data, &val_data));
  ThreadPool pool(o.n_threads);
  ASSIGN_OR_RETURN(std::unique_ptr<train::LogitTeacher> teacher, train::LogitTeacher::Open(o.teacher, o.t.seq, pool));
  std::fprintf(stderr, "distill: teacher %s (%s), temperature %.2f, alpha %.2f\n", o.teacher.c_str(),
               std::string(ArchName(teacher->model().config().arch)).c_str(), o.distill.temperature, o.distill.alpha);
  PrintEval("before", train::EvaluateDistill(s.params, *teacher, val_data, o.t.batch, o.t.seq, o.t.eval_batches, pool));
  o.t.loss = train::MakeDistillLoss(*teacher, o.distill, pool);
  RETURN_IF_ERROR(TrainAndSave(o, s, train_data, val_data, pool));
  PrintEval("after", train::EvaluateDistill(s.params, *teacher, val_data, o.t.batch, o.t.seq, o.t.eval_batches, pool));
  return Status::Ok();
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Status RunSequenceDistill(DistillCliOptions& o) {
  route::UpstreamConfig up;
  up.base_url = !o.teacher_url.empty() ? o.teacher_url : Env("OPENAI_BASE_URL");
  up.model = o.teacher_model;
  up.api_key = Env("OPENAI_API_KEY");
  up.timeout_seconds = o.teacher_timeout;
  if (up.base_url.empty()) return InvalidArgumentError("--prompts needs a teacher: --teacher-url URL or OPENAI_BASE_URL");
  if (up.model.empty()) return InvalidArgumentError("--prompts needs --teacher-model NAME (the teacher's model id)");
  if (!o.data.empty()) return InvalidArgumentError("--data is for logit distillation; with --prompts the data are the teacher's answers");
  if (o.pairs.empty()) o.pairs = o.out + ".pairs.jsonl";
  // Everything that can be checked locally is, before the teacher is asked anything.
  ASSIGN_OR_RETURN(std::vector<train::Prompt> prompts, train::LoadPrompts(o.prompts));
  std::unique_ptr<Vocab> preset_vocab;
  if (!o.vocab_gguf.empty()) {
    ASSIGN_OR_RETURN(gguf::File f, gguf::File::Open(o.vocab_gguf));
    ASSIGN_OR_RETURN(Vocab v, Vocab::FromGguf(f));
    preset_vocab = std::make_unique<Vocab>(std::move(v));
  }
  ASSIGN_OR_RETURN(Student s, LoadStudent(o, preset_vocab.get()));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::Create(s.vocab));
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSIGN_OR_RETURN(std::string text, ApplyChatTemplate(s.vocab, prompts[i], true));
    const size_t n = tok->Encode(text, true, true).size();
    if (static_cast<int64_t>(n) >= o.t.seq) {
      return InvalidArgumentError("prompt " + std::to_string(i + 1) + " of " + o.prompts + " is " + std::to_string(n) +
                                  " tokens with the chat template; the context holds " + std::to_string(o.t.seq) +
                                  " with the answer (raise --ctx or shorten it)");
    }
  }
  route::UpstreamClient client(up);
  route::ChatParams params;
  params.max_tokens = o.teacher_max_tokens;
  params.temperature = o.teacher_temperature;
  auto ask = [&](const train::Prompt& p) -> StatusOr<std::string> {
    std::vector<route::ChatMessage> messages;
    for (const ChatMessage& m : p) messages.push_back({m.role, m.content});
    ASSIGN_OR_RETURN(route::ChatReply reply, client.Chat(messages, params));
    return reply.text;
  };
  auto answered = [&](int64_t done, int64_t total) {
    std::fprintf(stderr, "distill: teacher answered %lld / %lld prompts\n", static_cast<long long>(done),
                 static_cast<long long>(total));
  };
  ASSIGN_OR_RETURN(train::CollectResult c, train::CollectAnswers(prompts, o.pairs, ask, answered));
  std::printf("teacher %s at %s: %lld answers asked, %lld already in %s\n", up.model.c_str(), up.base_url.c_str(),
              static_cast<long long>(c.asked), static_cast<long long>(c.reused), o.pairs.c_str());
  std::fflush(stdout);
  train::TokenData train_data, val_data;
  RETURN_IF_ERROR(LoadSplit(o, o.pairs, /*chat=*/true, *tok, &train_data, &val_data));
  ThreadPool pool(o.n_threads);
  std::printf("before: student val loss %.4f on the teacher's answers\n",
              train::Evaluate(s.params, val_data, o.t.batch, o.t.seq, o.t.eval_batches, pool));
  return TrainAndSave(o, s, train_data, val_data, pool);
}

Status RunDistill(DistillCliOptions& o) {
  const bool logit = !o.teacher.empty(), sequence = !o.prompts.empty();
  if (logit == sequence) {
    return InvalidArgumentError("give one teacher: --teacher T.gguf (logit distillation) or --prompts P with "
                                "--teacher-url/--teacher-model (sequence-level)");
  }
  if (o.out.empty() || o.steps <= 0) return InvalidArgumentError("distill needs --steps N (> 0) and --out OUT.gguf");
  if (o.preset.empty() == o.base.empty() && !o.resume) return InvalidArgumentError("give one of --preset NAME or -m STUDENT.gguf");
  if (o.format != "auto" && o.format != "chat" && o.format != "text") {
    return InvalidArgumentError("unknown --format '" + o.format + "'; use text, chat or auto");
  }
  if (o.checkpoint.empty()) o.checkpoint = o.out + ".ckpt";
  return logit ? RunLogitDistill(o) : RunSequenceDistill(o);
}

}  // namespace

void RegisterDistill(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("distill", "Train a student model from a teacher (logits or answers)");
  auto o = std::make_shared<DistillCliOptions>();
  cmd->add_option("--teacher", o->teacher, "Logit distillation: teacher GGUF with the student's tokenizer");
  cmd->add_option("--temperature", o->distill.temperature, "Softening temperature T of the KL term")->capture_default_str();
  cmd->add_option("--alpha", o->distill.alpha, "Weight of the KL term (1 - alpha on the data's own tokens)")->capture_default_str();
  cmd->add_option("--prompts", o->prompts, "Sequence-level: unlabeled prompts (.jsonl objects, or text, one a line)");
  cmd->add_option("--teacher-url", o->teacher_url, "OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 (default $OPENAI_BASE_URL; key $OPENAI_API_KEY)");
  cmd->add_option("--teacher-model", o->teacher_model, "The teacher's model id at that URL");
  cmd->add_option("--teacher-max-tokens", o->teacher_max_tokens, "Longest answer asked for")->capture_default_str();
  cmd->add_option("--teacher-temperature", o->teacher_temperature, "Teacher sampling temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--teacher-timeout", o->teacher_timeout, "Seconds per teacher request")->capture_default_str();
  cmd->add_option("--pairs", o->pairs, "Where the teacher's answers are kept, chat JSONL (default OUT.pairs.jsonl; resumable)");
  cmd->add_option("--preset", o->preset, "Student from scratch with this shape (the teacher's vocab, or --vocab)");
  cmd->add_option("--arch", o->arch, "Architecture for --preset: llama or qwen2")->capture_default_str();
  cmd->add_option("-m,--model", o->base, "Student to start from (GGUF)");
  cmd->add_option("--vocab", o->vocab_gguf, "Sequence-level with --preset: use this GGUF file's vocab");
  cmd->add_option("--n-layer", o->n_layer, "For --preset: override the layer count");
  cmd->add_option("--n-embd", o->n_embd, "For --preset: override the embedding width");
  cmd->add_option("--n-head", o->n_head, "For --preset: override the head count (and KV heads)");
  cmd->add_option("--n-head-kv", o->n_head_kv, "For --preset: override the KV head count");
  cmd->add_option("--n-ff", o->n_ff, "For --preset: override the feed-forward width");
  cmd->add_option("--data", o->data, "Logit distillation: text, or JSONL chat pairs (.jsonl)");
  cmd->add_option("--format", o->format, "Data format: auto (by extension), text, chat")->capture_default_str();
  cmd->add_option("--out", o->out, "Student to write (GGUF, F32)");
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
  cmd->callback([o] { Finish(RunDistill(*o)); });
}

}  // namespace flotilla::cli
