// Flags shared by `train classify`, `eval classify` and `classify`: data columns and format, abstain
// targets; and the parent commands (`train`, `eval`) that other model kinds add subcommands to.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "classify/calibration.h"
#include "classify/classifier.h"
#include "classify/dataset.h"

namespace flotilla::cli {

// The subcommand `name` of `app`, created (requiring a subcommand of its own) when absent.
inline CLI::App* ParentCommand(CLI::App& app, const std::string& name, const std::string& description) {
  for (CLI::App* sub : app.get_subcommands([&](CLI::App* a) { return a->get_name() == name; })) return sub;
  CLI::App* cmd = app.add_subcommand(name, description);
  cmd->require_subcommand(1);
  return cmd;
}

struct DataFlags {
  std::string format = "auto";
  std::string text_col = "text";
  std::string label_col = "label";

  void Add(CLI::App* cmd) {
    cmd->add_option("--format", format, "Data format: auto (from the extension), csv, tsv, jsonl")
        ->capture_default_str();
    cmd->add_option("--text-col", text_col, "Column (CSV/TSV header) or field (JSONL) holding the text")
        ->capture_default_str();
    cmd->add_option("--label-col", label_col, "Column or field holding the label")->capture_default_str();
  }
  StatusOr<classify::DataOptions> Options(bool require_labels) const {
    classify::DataOptions o;
    ASSIGN_OR_RETURN(o.format, classify::ParseDataFormat(format));
    o.text_col = text_col;
    o.label_col = label_col;
    o.require_labels = require_labels;
    return o;
  }
};

// --target-precision P | --target-coverage C | --no-abstain.
struct AbstainFlags {
  double precision = -1;
  double coverage = -1;
  bool none = false;

  void Add(CLI::App* cmd, const std::string& when) {
    CLI::Option* p = cmd->add_option("--target-precision", precision,
                                     "Abstain below the confidence that reaches this precision on the "
                                     "calibration split (a fraction, e.g. 0.95)" + when);
    CLI::Option* c = cmd->add_option("--target-coverage", coverage,
                                     "Abstain on the least confident so that this fraction is answered" + when);
    CLI::Option* n = cmd->add_flag("--no-abstain", none, "Never abstain");
    p->excludes(c)->excludes(n);
    c->excludes(n);
  }
  bool set() const { return precision >= 0 || coverage >= 0 || none; }
  classify::AbstainTarget target() const {
    if (none) return classify::AbstainTarget::kNone;
    return precision >= 0 ? classify::AbstainTarget::kPrecision : classify::AbstainTarget::kCoverage;
  }
  double value() const { return precision >= 0 ? precision : coverage; }
  // Applies the flags (when given) to a loaded model, warning when a precision is out of reach.
  Status Apply(classify::Classifier* model) const {
    if (!set()) return Status::Ok();
    bool reached = true;
    RETURN_IF_ERROR(model->SetAbstainTarget(target(), none ? 0 : value(), &reached));
    if (!reached) {
      std::fprintf(stderr, "flotilla: warning: precision %.3f is not reached on the model's calibration split; "
                           "abstaining on all but the most confident\n", precision);
    }
    return Status::Ok();
  }
};

// Registered by RegisterClassifyCommands (commands.h): `train classify`, `eval classify`, `classify`.
void RegisterTrainClassify(CLI::App& app);
void RegisterEvalClassify(CLI::App& app);

inline void PrintWarnings(const std::vector<std::string>& warnings) {
  for (const std::string& w : warnings) std::fprintf(stderr, "flotilla: warning: %s\n", w.c_str());
}

}  // namespace flotilla::cli
