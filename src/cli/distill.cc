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
#include "cli/train_run.h"
#include "model/config.h"
#include "route/upstream.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/distill.h"
#include "train/distill_pairs.h"
#include "train/trainer.h"

namespace flotilla::cli {
namespace {

struct DistillCliOptions : TrainRunOptions {
  std::string teacher, teacher_url, teacher_model, prompts, pairs;
  int32_t teacher_max_tokens = 256;
  float teacher_temperature = 0.0f;
  double teacher_timeout = 300;
  train::DistillOptions distill;
};

// The student: from a checkpoint (--resume), a GGUF (-m) or a preset with `vocab`.
StatusOr<TrainStart> LoadStudent(const DistillCliOptions& o, const Vocab* preset_vocab) {
  ASSIGN_OR_RETURN(std::optional<TrainStart> loaded, ResumeOrLoadBase(o));
  if (loaded) return std::move(*loaded);
  if (!preset_vocab) return InvalidArgumentError("--preset needs --vocab V.gguf for sequence-level distillation");
  TrainStart s;
  s.vocab = *preset_vocab;
  ASSIGN_OR_RETURN(s.params, PresetParams(o, s.vocab));
  return s;
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
  ASSIGN_OR_RETURN(TrainStart s, LoadStudent(o, &teacher_vocab));
  RETURN_IF_ERROR(train::CheckSameTokenizer(teacher_vocab, s.vocab));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::Create(s.vocab));
  ASSIGN_OR_RETURN(bool chat, IsChatData(o, o.data));
  train::TokenData train_data, val_data;
  RETURN_IF_ERROR(LoadSplitData(o, o.data, chat, *tok, &train_data, &val_data));
  ThreadPool pool(o.n_threads);
  ASSIGN_OR_RETURN(std::unique_ptr<train::LogitTeacher> teacher, train::LogitTeacher::Open(o.teacher, o.t.seq, pool));
  std::fprintf(stderr, "distill: teacher %s (%s), temperature %.2f, alpha %.2f\n", o.teacher.c_str(),
               std::string(ArchName(teacher->model().config().arch)).c_str(), o.distill.temperature, o.distill.alpha);
  PrintEval("before", train::EvaluateDistill(s.params, *teacher, val_data, o.t.batch, o.t.seq, o.t.eval_batches, pool));
  o.t.loss = train::MakeDistillLoss(*teacher, o.distill, pool);
  RETURN_IF_ERROR(TrainAndSave(o, s, train_data, val_data, pool, "distill: student").status());
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
  ASSIGN_OR_RETURN(TrainStart s, LoadStudent(o, preset_vocab.get()));
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
  RETURN_IF_ERROR(LoadSplitData(o, o.pairs, /*chat=*/true, *tok, &train_data, &val_data));
  ThreadPool pool(o.n_threads);
  std::printf("before: student val loss %.4f on the teacher's answers\n",
              train::Evaluate(s.params, val_data, o.t.batch, o.t.seq, o.t.eval_batches, pool));
  return TrainAndSave(o, s, train_data, val_data, pool, "distill: student").status();
}

Status RunDistill(DistillCliOptions& o) {
  const bool logit = !o.teacher.empty(), sequence = !o.prompts.empty();
  if (logit == sequence) {
    return InvalidArgumentError("give one teacher: --teacher T.gguf (logit distillation) or --prompts P with "
                                "--teacher-url/--teacher-model (sequence-level)");
  }
  if (o.out.empty() || o.steps <= 0) return InvalidArgumentError("distill needs --steps N (> 0) and --out OUT.gguf");
  if (o.preset.empty() == o.base.empty() && !o.resume) return InvalidArgumentError("give one of --preset NAME or -m STUDENT.gguf");
  RETURN_IF_ERROR(IsChatData(o, o.data).status());  // a known --format
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
  AddTrainRunFlags(cmd, o.get(),
                   {.model = "Student to start from (GGUF)",
                    .data = "Logit distillation: text, or JSONL chat pairs (.jsonl)",
                    .out = "Student to write (GGUF, F32)",
                    .vocab = "Sequence-level with --preset: use this GGUF file's vocab"});
  cmd->callback([o] { Finish(RunDistill(*o)); });
}

}  // namespace flotilla::cli
