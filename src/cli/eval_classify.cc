// flotilla eval classify -m MODEL --test F [--json]: accuracy, macro-F1, calibration, risk-coverage,
// out-of-scope recall, latency and training time of a classifier.
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "classify/evaluate.h"
#include "cli/classify_flags.h"
#include "cli/commands.h"

namespace flotilla::cli {
namespace {

struct EvalClassifyOptions {
  std::string model_path, test_path;
  DataFlags data;
  AbstainFlags abstain;
  classify::EvalOptions eval;
  bool json = false;
};

nlohmann::json ReportJson(const classify::Classifier& m, const classify::EvalReport& r) {
  nlohmann::json cov = nlohmann::json::object();
  for (const classify::CoveragePoint& p : r.coverage_at) cov[std::to_string(static_cast<int>(p.precision * 100 + 0.5))] = p.coverage;
  nlohmann::json j = {{"examples", r.n},
                      {"accuracy", r.accuracy},
                      {"macro_f1", r.macro_f1},
                      {"ece", r.ece},
                      {"nll", r.nll},
                      {"coverage_at_precision", cov},
                      {"abstain", {{"target", classify::AbstainTargetName(r.policy.target)},
                                   {"value", r.policy.value},
                                   {"threshold", r.policy.threshold},
                                   {"coverage", r.coverage},
                                   {"selective_accuracy", r.selective_accuracy}}},
                      {"latency_ms", {{"p50", r.latency_p50_ms}, {"p99", r.latency_p99_ms}}},
                      {"train_seconds", m.train_info().seconds},
                      {"temperature", m.temperature()},
                      {"labels", m.n_labels()}};
  if (r.has_oos) {
    j["out_of_scope"] = {{"in_scope_examples", r.n_in_scope},
                         {"oos_examples", r.n_oos},
                         {"in_scope_accuracy", r.in_scope_accuracy},
                         {"oos_recall", r.oos_recall},
                         {"in_scope_accuracy_with_abstain", r.in_scope_accuracy_abstain},
                         {"oos_recall_with_abstain", r.oos_recall_abstain}};
  }
  return j;
}

void PrintText(const classify::Classifier& m, const classify::EvalReport& r, const std::string& oos_label) {
  std::printf("examples            %lld\n", static_cast<long long>(r.n));
  std::printf("accuracy            %.4f\n", r.accuracy);
  std::printf("macro-F1            %.4f\n", r.macro_f1);
  std::printf("ECE (15 bins)       %.4f   (temperature %.3f, NLL %.4f)\n", r.ece, m.temperature(), r.nll);
  std::printf("risk-coverage       precision  coverage\n");
  for (const classify::CoveragePoint& p : r.coverage_at) {
    std::printf("                    %8.0f%%  %7.1f%%\n", p.precision * 100, p.coverage * 100);
  }
  std::printf("abstain             target %s %.3f, threshold %.4f: answers %.1f%%, accuracy on answered %.4f\n",
              std::string(classify::AbstainTargetName(r.policy.target)).c_str(), r.policy.value, r.policy.threshold,
              r.coverage * 100, r.selective_accuracy);
  if (r.has_oos) {
    std::printf("out-of-scope (\"%s\") %lld in scope, %lld out of scope\n", oos_label.c_str(),
                static_cast<long long>(r.n_in_scope), static_cast<long long>(r.n_oos));
    std::printf("  as a label        in-scope accuracy %.4f, oos recall %.4f\n", r.in_scope_accuracy, r.oos_recall);
    std::printf("  label or abstain  in-scope accuracy %.4f, oos recall %.4f\n", r.in_scope_accuracy_abstain,
                r.oos_recall_abstain);
  }
  std::printf("latency per text    p50 %.4f ms, p99 %.4f ms\n", r.latency_p50_ms, r.latency_p99_ms);
  std::printf("training time       %.2f s\n", m.train_info().seconds);
}

Status RunEvalClassify(const EvalClassifyOptions& o) {
  ASSIGN_OR_RETURN(std::unique_ptr<classify::Classifier> model, classify::LoadClassifier(o.model_path));
  RETURN_IF_ERROR(o.abstain.Apply(model.get()));
  ASSIGN_OR_RETURN(classify::DataOptions data_options, o.data.Options(/*require_labels=*/true));
  ASSIGN_OR_RETURN(classify::Dataset test, classify::LoadDataset(o.test_path, data_options));
  PrintWarnings(test.warnings);
  ASSIGN_OR_RETURN(classify::EvalReport report, classify::Evaluate(*model, test, o.eval));
  PrintWarnings(report.warnings);
  if (o.json) {
    std::printf("%s\n", ReportJson(*model, report).dump(2).c_str());
  } else {
    PrintText(*model, report, o.eval.oos_label);
  }
  return Status::Ok();
}

}  // namespace

void RegisterEvalClassify(CLI::App& app) {
  CLI::App* eval = ParentCommand(app, "eval", "Evaluate a model");
  auto o = std::make_shared<EvalClassifyOptions>();
  CLI::App* cmd = eval->add_subcommand("classify", "Evaluate a text classifier on labelled data");
  cmd->add_option("-m,--model", o->model_path, "Classifier model (GGUF)")->required();
  cmd->add_option("--test", o->test_path, "Test data (CSV, TSV or JSONL)")->required();
  o->data.Add(cmd);
  o->abstain.Add(cmd, " (default: the model's)");
  cmd->add_option("--oos-label", o->eval.oos_label, "Label of out-of-scope examples")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print JSON for programs");
  cmd->callback([o] { Finish(RunEvalClassify(*o)); });
}

}  // namespace flotilla::cli
