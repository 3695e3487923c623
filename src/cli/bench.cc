// flotilla bench -m M -p 128 -n 128 -t 1,2 [-r 5] [--json]: prompt (pp) and generation (tg) speed in
// llama-bench's spirit, plus this machine's measured limits: decode as GB/s of weights streamed per
// token against the read bandwidth, prefill as GFLOP/s against peak FMA (2 per weight of the layers
// per token; the output head's once per prompt, as only the last token's logits are computed).
// The limit (the best of the test's thread count and of one thread) is measured right before each
// timed run and averaged over the test's runs, so on a shared machine whose bandwidth changes by the
// minute a row compares like with like.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_flags.h"
#include "kernels/matmul.h"
#include "kernels/roofline.h"
#include "model/context.h"
#include "model/model.h"

namespace flotilla::cli {
namespace {

struct BenchOptions {
  std::string model;
  std::vector<int32_t> n_prompt{128};
  std::vector<int32_t> n_gen{128};
  std::vector<int32_t> n_threads{2};
  int32_t reps = 5;
  std::string kv_type = "f16";
  bool json = false;
  bool no_limits = false;
};

struct Row {
  int32_t n_prompt, n_gen, n_threads;
  std::vector<double> samples_ts = {};
  double avg_ts = 0, stddev_ts = 0;
  // This machine's limit at up to n_threads during the test's runs (0 when not measured, MeasureLimit):
  // read bandwidth for tg tests; for pp tests the peak of the arithmetic the matmuls use (f32 FMA for
  // float weights, int8 dot products for quantized ones).
  double bw_gbs = 0, peak_gops = 0;
};

// Bytes of weights a decode step reads, and the multiply-adds (2 flops each) per token of the layers'
// matrices and of the output head.
struct ModelCost {
  uint64_t stream_bytes = 0;
  uint64_t layer_params = 0;
  uint64_t output_params = 0;
  uint64_t file_params = 0;
};

// Matmul GFLOP per token of an n_prompt-token prompt: every token goes through the layers, but only
// the last one's logits are computed, so the output head counts once per prompt.
double PromptGflopPerToken(const ModelCost& c, int32_t n_prompt) {
  return 2.0 * (static_cast<double>(c.layer_params) + static_cast<double>(c.output_params) / n_prompt) / 1e9;
}

ModelCost CostOf(const Model& m) {
  ModelCost c;
  auto add = [&](const TensorView& t, uint64_t& params) {
    c.stream_bytes += t.row_bytes() * static_cast<uint64_t>(t.n_rows());
    params += static_cast<uint64_t>(t.n_elements());
  };
  const ModelWeights& w = m.weights();
  for (const LayerWeights& l : w.layers) {
    for (const TensorView* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) {
      add(*t, c.layer_params);
    }
  }
  add(w.output, c.output_params);
  c.file_params = c.layer_params + c.output_params +
                  (w.output.data == w.token_embd.data ? 0 : w.token_embd.n_elements());
  return c;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// One timed run on a context emptied first (as llama-bench reuses its context and clears the KV
// cache): a prompt of n_prompt random tokens in one batch, or n_gen tokens one at a time.
StatusOr<double> RunOnce(Context& ctx, int32_t n_vocab, int32_t n_prompt, int32_t n_gen, std::mt19937& rng) {
  ctx.Truncate(0);
  std::uniform_int_distribution<int32_t> tok(0, n_vocab - 1);
  std::vector<int32_t> prompt(static_cast<size_t>(n_prompt));
  for (int32_t& t : prompt) t = tok(rng);
  const double t0 = Now();
  if (n_prompt > 0) RETURN_IF_ERROR(ctx.Eval(prompt).status());
  for (int32_t i = 0; i < n_gen; ++i) {
    const int32_t id = tok(rng);
    RETURN_IF_ERROR(ctx.Eval(std::span<const int32_t>(&id, 1)).status());
  }
  return Now() - t0;
}

void Summarize(Row& r) {
  double sum = 0, sq = 0;
  for (double s : r.samples_ts) sum += s;
  r.avg_ts = sum / r.samples_ts.size();
  for (double s : r.samples_ts) sq += (s - r.avg_ts) * (s - r.avg_ts);
  r.stddev_ts = r.samples_ts.size() > 1 ? std::sqrt(sq / (r.samples_ts.size() - 1)) : 0.0;
}

// This machine's limit for a test at pool.n_threads() threads: the read bandwidth (decode) or the peak
// of the matmuls' arithmetic (prefill), the best of the measure at that many threads and at one, since a
// process with n threads can always stream or compute as one, and on one core's two hyperthreads two
// streams read less than one (bench/RESULTS.md, sixth session: 28-31 against 34-36 GB/s).
double MeasureLimit(ThreadPool& pool, ThreadPool& one_thread, bool decode, bool int8) {
  const auto measure = [&](ThreadPool& p) {
    return decode ? MeasureReadBandwidth(p, int64_t{512} << 20, 3) : int8 ? MeasurePeakInt8Gops(p) : MeasurePeakGflops(p);
  };
  return pool.n_threads() > 1 ? std::max(measure(pool), measure(one_thread)) : measure(pool);
}

std::string TestName(const Row& r) {
  return r.n_prompt > 0 ? "pp" + std::to_string(r.n_prompt) : "tg" + std::to_string(r.n_gen);
}

Status Bench(const BenchOptions& o) {
  std::optional<DType> kv = DTypeFromName(o.kv_type);
  if (!kv) return InvalidArgumentError("unknown --kv-type '" + o.kv_type + "'");
  if (o.reps < 1) return InvalidArgumentError("-r must be at least 1");
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Load(o.model));
  const ModelCost cost = CostOf(*model);
  const std::string weight_type(DTypeName(model->weights().layers[0].wq.dtype));
  const DType dot_type = VecDotType(model->weights().layers[0].wq.dtype);
  const bool int8 = dot_type == DType::kQ8_0 || dot_type == DType::kQ8_1 || dot_type == DType::kQ8_K;
  const char* peak_unit = int8 ? "int8 GOP/s" : "GFLOP/s";
  std::vector<Row> rows;
  std::mt19937 rng(42);
  ThreadPool one_thread(1);
  for (int32_t nt : o.n_threads) {
    if (nt < 1) return InvalidArgumentError("-t values must be positive");
    ThreadPool pool(nt);
    std::vector<std::pair<int32_t, int32_t>> tests;
    for (int32_t p : o.n_prompt) if (p > 0) tests.push_back({p, 0});
    for (int32_t g : o.n_gen) if (g > 0) tests.push_back({0, g});
    for (auto [p, g] : tests) {
      Row r{p, g, nt};
      ASSIGN_OR_RETURN(std::unique_ptr<Context> ctx,
                       Context::Create(*model, pool, {.n_ctx = p + g + 1, .kv_type = *kv, .n_batch = std::max(p, 1)}));
      const int32_t n_vocab = model->config().n_vocab;
      ASSIGN_OR_RETURN(double warm, RunOnce(*ctx, n_vocab, p, g, rng));  // touches every buffer once
      (void)warm;
      double limit_sum = 0;
      for (int32_t i = 0; i < o.reps; ++i) {
        if (!o.no_limits) limit_sum += MeasureLimit(pool, one_thread, g > 0, int8);
        ASSIGN_OR_RETURN(double s, RunOnce(*ctx, n_vocab, p, g, rng));
        r.samples_ts.push_back((p + g) / s);
      }
      (g > 0 ? r.bw_gbs : r.peak_gops) = limit_sum / o.reps;
      Summarize(r);
      rows.push_back(r);
      if (!o.json) std::fprintf(stderr, "flotilla bench: %s t=%d done\n", TestName(r).c_str(), nt);
    }
  }
  const double gb_per_tok = cost.stream_bytes / 1e9;
  if (o.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const Row& r : rows) {
      const bool tg = r.n_gen > 0;
      nlohmann::json j = {{"model_filename", o.model}, {"model_type", weight_type},
                          {"model_size", cost.stream_bytes}, {"model_n_params", cost.file_params},
                          {"simd", MatMulSimdTargetName()}, {"n_prompt", r.n_prompt}, {"n_gen", r.n_gen},
                          {"n_threads", r.n_threads}, {"type_kv", o.kv_type}, {"avg_ts", r.avg_ts},
                          {"stddev_ts", r.stddev_ts}, {"samples_ts", r.samples_ts},
                          {"machine_read_gbs", r.bw_gbs}, {"machine_peak_gops", r.peak_gops},
                          {"machine_peak_kind", int8 ? "int8 dot" : "f32 fma"}};
      if (tg) {
        j["gbs"] = r.avg_ts * gb_per_tok;
        j["bw_fraction"] = r.bw_gbs > 0 ? r.avg_ts * gb_per_tok / r.bw_gbs : 0.0;
      } else {
        const double gops = r.avg_ts * PromptGflopPerToken(cost, r.n_prompt);
        j["gops"] = gops;
        j["peak_fraction"] = r.peak_gops > 0 ? gops / r.peak_gops : 0.0;
      }
      out.push_back(j);
    }
    std::printf("%s\n", out.dump(2).c_str());
    return Status::Ok();
  }
  // ms: one run's time (for pp128, the time to the first token's logits).
  std::printf("| model | type | size | params | simd | threads | test | t/s | ms | roofline |\n");
  std::printf("| --- | --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: |\n");
  for (const Row& r : rows) {
    char roof[128];
    if (r.n_gen > 0) {
      const double gbs = r.avg_ts * gb_per_tok;
      if (r.bw_gbs > 0) {
        std::snprintf(roof, sizeof roof, "%.1f GB/s = %.0f%% of %.1f", gbs, 100 * gbs / r.bw_gbs, r.bw_gbs);
      } else {
        std::snprintf(roof, sizeof roof, "%.1f GB/s", gbs);
      }
    } else {
      const double gf = r.avg_ts * PromptGflopPerToken(cost, r.n_prompt);
      if (r.peak_gops > 0) {
        std::snprintf(roof, sizeof roof, "%.0f %s = %.0f%% of %.0f", gf, peak_unit, 100 * gf / r.peak_gops,
                      r.peak_gops);
      } else {
        std::snprintf(roof, sizeof roof, "%.0f %s", gf, peak_unit);
      }
    }
    std::printf("| %s | %s | %.1f MiB | %.1f M | %s | %d | %s | %.2f ± %.2f | %.1f | %s |\n", o.model.c_str(),
                weight_type.c_str(), cost.stream_bytes / 1048576.0, cost.file_params / 1e6, MatMulSimdTargetName(),
                r.n_threads, TestName(r).c_str(), r.avg_ts, r.stddev_ts, 1e3 * (r.n_prompt + r.n_gen) / r.avg_ts,
                roof);
  }
  return Status::Ok();
}

}  // namespace

void RegisterBench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Prompt and generation speed (llama-bench style)");
  cmd->add_option("-m,--model", o->model, "GGUF model file")->required();
  cmd->add_option("-p,--n-prompt", o->n_prompt, "Prompt sizes (comma list; 0 skips)")->delimiter(',')->capture_default_str();
  cmd->add_option("-n,--n-gen", o->n_gen, "Generation sizes (comma list; 0 skips)")->delimiter(',')->capture_default_str();
  cmd->add_option("-t,--threads", o->n_threads, "Thread counts (comma list)")->delimiter(',')->capture_default_str();
  cmd->add_option("-r,--repetitions", o->reps, "Timed runs per test")->capture_default_str();
  cmd->add_option("--kv-type", o->kv_type, "KV cache type: f16 or f32")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print a JSON array of rows (llama-bench's fields plus roofline)");
  cmd->add_flag("--no-limits", o->no_limits, "Skip measuring memory bandwidth and peak FMA");
  cmd->callback([o] { Finish(Bench(*o)); });
}

}  // namespace flotilla::cli
