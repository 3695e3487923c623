// Latency of the n-gram classifier: Featurize and Predict on one text, on a model trained here on
// generated intents (no data needed), and on a model file given by FLOTILLA_CLASSIFY_MODEL.
//
//   build-cls/bench/classify_bench
//   FLOTILLA_CLASSIFY_MODEL=clinc.gguf build-cls/bench/classify_bench
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "classify/featurizer.h"
#include "classify/trainer.h"

namespace {

using flotilla::classify::Classifier;

const std::vector<std::string>& Texts() {
  static const std::vector<std::string> texts = {
      "what is the balance on my checking account",
      "i need to report my card as stolen, someone took it yesterday",
      "can you tell me how to say thank you in italian",
      "why was my transfer declined when i have enough money",
      "set an alarm for 6 am tomorrow morning please",
      "how long does it take for a new card to arrive"};
  return texts;
}

// 150 intents of 100 generated texts each (CLINC150's shape), trained with the default settings.
std::unique_ptr<Classifier> GeneratedModel() {
  std::mt19937_64 rng(1);
  flotilla::classify::Dataset ds;
  ds.name = "generated";
  for (int c = 0; c < 150; ++c) {
    for (int i = 0; i < 100; ++i) {
      std::string text;
      for (int k = 0; k < 8; ++k) text += "w" + std::to_string(rng() % 2 ? c * 7 + rng() % 7 : rng() % 3000) + " ";
      ds.examples.push_back({text, "intent" + std::to_string(c)});
    }
  }
  auto report = flotilla::classify::TrainClassifier(ds, nullptr, {});
  return report.ok() ? std::move(report->model) : nullptr;
}

const Classifier* Model() {
  static std::unique_ptr<Classifier> model = [] {
    const char* path = std::getenv("FLOTILLA_CLASSIFY_MODEL");
    if (path && *path) {
      auto m = flotilla::classify::LoadClassifier(path);
      return m.ok() ? std::move(*m) : nullptr;
    }
    return GeneratedModel();
  }();
  return model.get();
}

void BM_Featurize(benchmark::State& state) {
  flotilla::classify::Featurizer f({});
  std::vector<uint32_t> out;
  size_t i = 0;
  for (auto _ : state) {
    f.Features(Texts()[i++ % Texts().size()], &out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_Featurize);

void BM_Predict(benchmark::State& state) {
  const Classifier* m = Model();
  if (!m) {
    state.SkipWithError("no model");
    return;
  }
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(m->Predict(Texts()[i++ % Texts().size()]));
  state.counters["labels"] = m->n_labels();
}
BENCHMARK(BM_Predict);

}  // namespace

BENCHMARK_MAIN();
