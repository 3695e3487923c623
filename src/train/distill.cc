#include "train/distill.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <span>

#include "flotilla/check.h"
#include "train/gemm.h"
#include "train/graph.h"
#include "train/ops.h"

namespace flotilla::train {
namespace {

constexpr int64_t kHeadChunk = 256;  // rows of logits alive at once

// A token's text for an error message: quoted, control bytes escaped, at most 40 bytes.
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < 40; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + (s.size() > 40 ? "...\"" : "\"");
}

const char* KindName(TokenizerKind k) {
  switch (k) {
    case TokenizerKind::kSpm: return "SentencePiece (llama)";
    case TokenizerKind::kBpe: return "BPE (gpt2)";
    case TokenizerKind::kWpm: return "WordPiece (bert)";
  }
  return "?";
}

Status Differ(const std::string& what) {
  return InvalidArgumentError("the teacher and the student have different tokenizers (" + what +
                              "); logit distillation needs the same tokenizer");
}

// The first differing special id or flag, or "".
std::string SpecialDifference(const Vocab& t, const Vocab& s) {
  const struct {
    const char* name;
    int32_t a, b;
  } ids[] = {{"bos", t.bos, s.bos}, {"eos", t.eos, s.eos}, {"unk", t.unk, s.unk}, {"pad", t.pad, s.pad},
             {"eot", t.eot, s.eot}, {"add_bos", t.add_bos, s.add_bos}, {"add_eos", t.add_eos, s.add_eos},
             {"add_space_prefix", t.add_space_prefix, s.add_space_prefix}};
  for (const auto& id : ids) {
    if (id.a != id.b) {
      return std::string(id.name) + " is " + std::to_string(id.a) + " in the teacher, " + std::to_string(id.b) +
             " in the student";
    }
  }
  return "";
}

}  // namespace

Status CheckSameTokenizer(const Vocab& t, const Vocab& s) {
  if (t.kind != s.kind) return Differ(std::string("teacher ") + KindName(t.kind) + ", student " + KindName(s.kind));
  if (t.size() != s.size()) {
    return Differ("teacher vocab " + std::to_string(t.size()) + " tokens, student " + std::to_string(s.size()));
  }
  for (int32_t i = 0; i < t.size(); ++i) {
    if (t.tokens[i] != s.tokens[i]) {
      return Differ("token " + std::to_string(i) + " is " + Quote(t.tokens[i]) + " in the teacher, " +
                    Quote(s.tokens[i]) + " in the student");
    }
    if (t.types[i] != s.types[i]) {
      return Differ("token " + std::to_string(i) + " " + Quote(t.tokens[i]) + " has type " +
                    std::to_string(static_cast<int>(t.types[i])) + " in the teacher, " +
                    std::to_string(static_cast<int>(s.types[i])) + " in the student");
    }
  }
  if (t.kind == TokenizerKind::kSpm && t.scores != s.scores) {  // SPM merges by score
    for (size_t i = 0; i < std::max(t.scores.size(), s.scores.size()); ++i) {
      const float a = i < t.scores.size() ? t.scores[i] : 0.0f, b = i < s.scores.size() ? s.scores[i] : 0.0f;
      if (a != b) {
        return Differ("token " + std::to_string(i) + " " + Quote(t.tokens[i]) + " has score " + std::to_string(a) +
                      " in the teacher, " + std::to_string(b) + " in the student");
      }
    }
  }
  if (t.kind == TokenizerKind::kBpe) {
    if (t.pre != s.pre) return Differ("pre-tokenizer " + Quote(t.pre) + " in the teacher, " + Quote(s.pre) + " in the student");
    if (t.merges.size() != s.merges.size()) {
      return Differ("teacher " + std::to_string(t.merges.size()) + " merges, student " + std::to_string(s.merges.size()));
    }
    for (size_t i = 0; i < t.merges.size(); ++i) {
      if (t.merges[i] != s.merges[i]) {
        return Differ("merge " + std::to_string(i) + " is " + Quote(t.merges[i]) + " in the teacher, " +
                      Quote(s.merges[i]) + " in the student");
      }
    }
  }
  if (std::string d = SpecialDifference(t, s); !d.empty()) return Differ(d);
  return Status::Ok();
}

DistillSums DistillRows(ThreadPool& pool, const float* student, const float* teacher, const int32_t* targets,
                        int64_t rows, int64_t nv, const DistillOptions& o, float scale, float* dlogits) {
  std::vector<double> loss(static_cast<size_t>(rows), 0.0), kl(loss.size(), 0.0), ce(loss.size(), 0.0);
  const double inv_t = 1.0 / o.temperature;
  pool.ParallelFor(rows, [&](int64_t begin, int64_t end) {
    // Per row: ps, pt = softmax(z / T) of student and teacher, p1 = softmax(z_s).
    std::vector<double> ps(static_cast<size_t>(nv)), pt(ps.size()), p1(ps.size());
    for (int64_t i = begin; i < end; ++i) {
      const float* zs = student + i * nv;
      const float* zt = teacher + i * nv;
      if (targets[i] < 0) {
        if (dlogits) std::fill(dlogits + i * nv, dlogits + (i + 1) * nv, 0.0f);
        continue;
      }
      const double ms = *std::max_element(zs, zs + nv), mt = *std::max_element(zt, zt + nv);
      double ss = 0.0, st = 0.0, s1 = 0.0;
      for (int64_t j = 0; j < nv; ++j) {
        ss += (ps[j] = std::exp((zs[j] - ms) * inv_t));
        st += (pt[j] = std::exp((zt[j] - mt) * inv_t));
        s1 += (p1[j] = std::exp(zs[j] - ms));
      }
      const double log_ss = std::log(ss), log_st = std::log(st);
      double row_kl = 0.0;
      for (int64_t j = 0; j < nv; ++j) {
        pt[j] /= st;
        ps[j] /= ss;
        p1[j] /= s1;
        // log pt - log ps = ((zt - mt) - (zs - ms)) / T - log st + log ss
        if (pt[j] > 0.0) row_kl += pt[j] * (((zt[j] - mt) - (zs[j] - ms)) * inv_t - log_st + log_ss);
      }
      const double row_ce = std::log(s1) + ms - zs[targets[i]];
      const double t2 = static_cast<double>(o.temperature) * o.temperature;
      kl[i] = row_kl, ce[i] = row_ce;
      loss[i] = o.alpha * t2 * row_kl + (1.0 - o.alpha) * row_ce;
      if (!dlogits) continue;
      // d/dz_s: alpha * T * (ps - pt) + (1 - alpha) * (p1 - onehot(target)).
      float* dz = dlogits + i * nv;
      const double a = o.alpha * o.temperature, b = 1.0 - o.alpha;
      for (int64_t j = 0; j < nv; ++j) dz[j] = static_cast<float>(scale * (a * (ps[j] - pt[j]) + b * p1[j]));
      dz[targets[i]] -= static_cast<float>(scale * b);
    }
  });
  DistillSums sums;
  for (int64_t i = 0; i < rows; ++i) {
    if (targets[i] < 0) continue;
    sums.loss += loss[i], sums.kl += kl[i], sums.ce += ce[i];
    ++sums.count;
  }
  return sums;
}

DistillSums DistillHead(ThreadPool& pool, const ModelParams& p, const float* hidden, const float* teacher,
                        const int32_t* targets, int64_t n, const DistillOptions& o, float scale, ModelParams* grads,
                        DistillScratch& s) {
  const int64_t d = p.config.n_embd, nv = p.config.n_vocab;
  const std::vector<float>& w_out = p.config.tied_output ? p.token_embd : p.output;  // [nv, d]
  s.logits.resize(static_cast<size_t>(std::min(n, kHeadChunk) * nv));
  if (grads) s.dhidden.resize(static_cast<size_t>(n * d));
  DistillSums sums;
  for (int64_t r0 = 0; r0 < n; r0 += kHeadChunk) {
    const int64_t rows = std::min(kHeadChunk, n - r0);
    const float* x = hidden + r0 * d;
    LinearForward(pool, x, w_out.data(), rows, d, nv, s.logits.data(), s.transpose);  // [rows, nv]
    float* dlogits = grads ? s.logits.data() : nullptr;  // in place
    const DistillSums c = DistillRows(pool, s.logits.data(), teacher + r0 * nv, targets + r0, rows, nv, o, scale,
                                      dlogits);
    sums.loss += c.loss, sums.kl += c.kl, sums.ce += c.ce, sums.count += c.count;
    if (!grads) continue;
    std::vector<float>& dw = p.config.tied_output ? grads->token_embd : grads->output;
    LinearBackwardX(pool, dlogits, w_out.data(), rows, d, nv, s.dhidden.data() + r0 * d, false);
    LinearBackwardW(pool, dlogits, x, rows, d, nv, dw.data(), s.transpose);
  }
  return sums;
}

StatusOr<std::unique_ptr<LogitTeacher>> LogitTeacher::Open(const std::string& path, int64_t seq, ThreadPool& pool) {
  std::unique_ptr<LogitTeacher> t(new LogitTeacher());
  ASSIGN_OR_RETURN(t->model_, Model::Load(path));
  const int64_t n_ctx = t->model_->config().n_ctx_train;
  if (n_ctx > 0 && seq > n_ctx) {
    return InvalidArgumentError("--ctx " + std::to_string(seq) + " is longer than the teacher's context (" +
                                std::to_string(n_ctx) + " tokens in " + path + ")");
  }
  const int32_t n = static_cast<int32_t>(seq);
  ASSIGN_OR_RETURN(t->context_, Context::Create(*t->model_, pool, {.n_ctx = n, .kv_type = DType::kF32, .n_batch = n}));
  return t;
}

StatusOr<const float*> LogitTeacher::Logits(const int32_t* tokens, int64_t batch, int64_t seq) {
  const int64_t nv = model_->config().n_vocab;
  logits_.resize(static_cast<size_t>(batch * seq * nv));
  for (int64_t r = 0; r < batch; ++r) {
    context_->Truncate(0);
    ASSIGN_OR_RETURN(std::span<const float> z,
                     context_->Eval(std::span<const int32_t>(tokens + r * seq, static_cast<size_t>(seq)), true));
    std::memcpy(logits_.data() + r * seq * nv, z.data(), z.size_bytes());
  }
  return logits_.data();
}

LossFn MakeDistillLoss(LogitTeacher& teacher, const DistillOptions& options, ThreadPool& pool) {
  auto scratch = std::make_shared<DistillScratch>();
  return [&teacher, options, &pool, scratch](TrainGraph& graph, const ModelParams& p, const Batch& b, float scale,
                                             ModelParams& grads) {
    const float* hidden = graph.ForwardHidden(p, b.tokens.data());
    StatusOr<const float*> zt = teacher.Logits(b.tokens.data(), b.batch, b.seq);
    // Ids come from the shared vocab and rows fit the context (Open checked), so this cannot fail.
    CHECK(zt.ok());
    const DistillSums s =
        DistillHead(pool, p, hidden, *zt, b.targets.data(), b.batch * b.seq, options, scale, &grads, *scratch);
    graph.BackwardHidden(p, b.tokens.data(), scratch->dhidden.data(), grads);
    return LossSum{s.loss, s.count};
  };
}

DistillEval EvaluateDistill(const ModelParams& student, LogitTeacher& teacher, const TokenData& val, int64_t batch,
                            int64_t seq, int64_t max_batches, ThreadPool& pool) {
  TrainGraph graph(student.config, batch, seq, pool, student.rope_freqs);
  DistillScratch scratch;
  DistillEval e;
  double kl = 0.0, ce = 0.0, teacher_ce = 0.0;
  Batch b;
  for (int64_t i = 0; i < max_batches && EvalBatch(val, batch, seq, i, &b); ++i) {
    const float* hidden = graph.ForwardHidden(student, b.tokens.data());
    StatusOr<const float*> zt = teacher.Logits(b.tokens.data(), batch, seq);
    CHECK(zt.ok());
    const DistillSums s = DistillHead(pool, student, hidden, *zt, b.targets.data(), batch * seq,
                                      {.temperature = 1.0f, .alpha = 1.0f}, 0.0f, nullptr, scratch);
    kl += s.kl, ce += s.ce, e.count += s.count;
    teacher_ce += CrossEntropy(pool, *zt, b.targets.data(), batch * seq, student.config.n_vocab, 0.0f, nullptr);
  }
  if (e.count > 0) {
    const double n = static_cast<double>(e.count);
    e.kl = kl / n, e.student_ce = ce / n, e.teacher_ce = teacher_ce / n;
  }
  return e;
}

}  // namespace flotilla::train
