// flotilla classify -m MODEL [TEXT...] [--json]: labels texts (from the arguments, else one per line
// on stdin) with a calibrated confidence and an abstain decision.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/classify_flags.h"
#include "cli/commands.h"

namespace flotilla::cli {
namespace {

struct ClassifyOptions {
  std::string model_path;
  std::vector<std::string> texts;
  AbstainFlags abstain;
  int top_k = 1;
  bool json = false;
};

void PrintOne(const classify::Classifier& m, const std::string& text, const ClassifyOptions& o,
              std::vector<float>& probs) {
  const classify::Prediction p = m.Predict(text, probs);
  if (!o.json) {
    std::printf("%s\t%.4f%s\n", m.labels()[p.label].c_str(), p.confidence, p.abstain ? "\tabstain" : "");
    return;
  }
  nlohmann::json j = {{"label", m.labels()[p.label]}, {"confidence", p.confidence}, {"abstain", p.abstain}};
  if (o.top_k > 1) {
    std::vector<int> idx(probs.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int>(i);
    const size_t k = std::min(idx.size(), static_cast<size_t>(o.top_k));
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) { return probs[a] > probs[b]; });
    nlohmann::json top = nlohmann::json::array();
    for (size_t i = 0; i < k; ++i) top.push_back({{"label", m.labels()[idx[i]]}, {"p", probs[idx[i]]}});
    j["top"] = top;
  }
  std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

Status RunClassify(const ClassifyOptions& o) {
  ASSIGN_OR_RETURN(std::unique_ptr<classify::Classifier> model, classify::LoadClassifier(o.model_path));
  RETURN_IF_ERROR(o.abstain.Apply(model.get()));
  std::vector<float> probs(model->n_labels());
  if (!o.texts.empty()) {
    for (const std::string& t : o.texts) PrintOne(*model, t, o, probs);
    return Status::Ok();
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    PrintOne(*model, line, o, probs);
    std::fflush(stdout);
  }
  return Status::Ok();
}

}  // namespace

void RegisterClassifyCommands(CLI::App& app) {
  RegisterTrainClassify(app);
  RegisterEvalClassify(app);
  auto o = std::make_shared<ClassifyOptions>();
  CLI::App* cmd = app.add_subcommand("classify", "Label texts with a classifier; abstains when unsure");
  cmd->add_option("-m,--model", o->model_path, "Classifier model (GGUF)")->required();
  cmd->add_option("text", o->texts, "Texts to label (default: one per line from stdin)");
  o->abstain.Add(cmd, " (default: the model's)");
  cmd->add_option("--top-k", o->top_k, "With --json, also list the k most probable labels")->capture_default_str();
  cmd->add_flag("--json", o->json, "One JSON object per text");
  cmd->callback([o] { Finish(RunClassify(*o)); });
}

}  // namespace flotilla::cli
