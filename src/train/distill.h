// Logit distillation: a student learns a teacher's next-token distributions. The teacher is a GGUF
// model run by the inference engine (any dtype, mapped, never dequantized); the student is trained
// through TrainGraph's body (ForwardHidden / BackwardHidden) and a head of its own here.
//
// Loss per counted position (target >= 0), with z_s, z_t the student's and teacher's logits:
//   alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - alpha) * CE(softmax(z_s), target)
// (Hinton et al. 2015; the T^2 keeps the gradient's scale independent of T).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "flotilla/status.h"
#include "model/context.h"
#include "model/model.h"
#include "tokenizer/vocab.h"
#include "train/data.h"
#include "train/params.h"
#include "train/trainer.h"

namespace flotilla::train {

struct DistillOptions {
  float temperature = 2.0f;  // T > 0
  float alpha = 0.5f;        // weight of the distillation term in [0, 1]; 1 - alpha on the hard labels
};

// Sums over the counted positions of a batch.
struct DistillSums {
  double loss = 0.0;  // the mixed loss above
  double kl = 0.0;    // KL(teacher || student) at temperature T (nats)
  double ce = 0.0;    // the student's cross-entropy on the targets (T = 1)
  int64_t count = 0;
};

// OK when teacher and student tokenize alike (same kind, tokens, types, SPM scores, BPE merges and
// pre-tokenizer, special ids and BOS/space handling); else INVALID_ARGUMENT naming the first difference.
Status CheckSameTokenizer(const Vocab& teacher, const Vocab& student);

// The distillation loss of `rows` logit rows. student, teacher: [rows, n_vocab]; targets: [rows]
// (-1: not counted). When dlogits is not null, writes scale * d(loss)/d(student logits) there (it
// may alias student), zero rows for uncounted positions.
DistillSums DistillRows(ThreadPool& pool, const float* student, const float* teacher, const int32_t* targets,
                        int64_t rows, int64_t n_vocab, const DistillOptions& options, float scale, float* dlogits);

// Buffers of DistillHead, reused across calls.
struct DistillScratch {
  std::vector<float> logits, dhidden, transpose;
};

// The student's head on final-normed hidden states ([n, n_embd]): logits = hidden · W_outᵀ (W_out =
// output, or token_embd when tied), then DistillRows against teacher ([n, n_vocab]). With grads:
// grads' W_out += scale * d(loss)/d(W_out), and scratch.dhidden ([n, n_embd]) = scale * d(loss)/d(hidden).
DistillSums DistillHead(ThreadPool& pool, const ModelParams& p, const float* hidden, const float* teacher,
                        const int32_t* targets, int64_t n, const DistillOptions& options, float scale,
                        ModelParams* grads, DistillScratch& scratch);

// A GGUF teacher evaluated on whole rows of a batch (each row from position 0).
class LogitTeacher {
 public:
  // Loads the model and a context of `seq` positions. INVALID_ARGUMENT when seq exceeds the
  // teacher's training context.
  static StatusOr<std::unique_ptr<LogitTeacher>> Open(const std::string& path, int64_t seq, ThreadPool& pool);

  const Model& model() const { return *model_; }
  // The teacher's logits for tokens ([batch, seq], ids in the vocab): [batch * seq, n_vocab], valid
  // until the next call.
  StatusOr<const float*> Logits(const int32_t* tokens, int64_t batch, int64_t seq);

 private:
  LogitTeacher() = default;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Context> context_;
  std::vector<float> logits_;
};

// The training loss for Train (TrainerOptions::loss): the student's body, DistillHead against the
// teacher's logits on the same batch, and the backward pass. The teacher must outlive it.
LossFn MakeDistillLoss(LogitTeacher& teacher, const DistillOptions& options, ThreadPool& pool);

// Held-out comparison of student and teacher: means per counted token.
struct DistillEval {
  double student_ce = 0.0, teacher_ce = 0.0;  // nats; perplexity = exp
  double kl = 0.0;                            // KL(teacher || student) at T = 1
  int64_t count = 0;
};
DistillEval EvaluateDistill(const ModelParams& student, LogitTeacher& teacher, const TokenData& val, int64_t batch,
                            int64_t seq, int64_t max_batches, ThreadPool& pool);

}  // namespace flotilla::train
