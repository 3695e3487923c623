// flotilla train classify --train F [--dev F] [--family ngram|transformer] -o MODEL.gguf: trains a
// classifier (n-gram linear model by default, or a transformer with a classification head), calibrates it
// and saves it as one GGUF file.
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "classify/trainer.h"
#include "cli/classify_flags.h"
#include "cli/commands.h"
#include "train/classifier_trainer.h"

namespace flotilla::cli {
namespace {

struct TrainClassifyOptions {
  std::string train_path, dev_path, out_path;
  DataFlags data;
  AbstainFlags abstain;
  classify::TrainConfig config;
  std::string family = "ngram";
  int epochs = 0;    // 0: the family's default
  float lr = 0.0f;   // 0: the family's default
  train::TransformerClassifierOptions transformer;
  std::string pooling = "mean";
  bool json = false;
};

// Points the config at the family chosen with --family, with the shared flags applied.
Status SetFamily(TrainClassifyOptions& o) {
  if (o.family == "ngram") {
    if (o.epochs > 0) o.config.ngram.epochs = o.epochs;
    if (o.lr > 0) o.config.ngram.learning_rate = o.lr;
    return Status::Ok();
  }
  if (o.family != "transformer") {
    return InvalidArgumentError("--family is \"" + o.family + "\" (ngram, transformer)");
  }
  train::TransformerClassifierOptions& t = o.transformer;
  ASSIGN_OR_RETURN(t.pooling, classify::ParsePooling(o.pooling));
  t.epochs = o.epochs;
  t.lr = o.lr;
  t.verbose = o.config.verbose;
  RETURN_IF_ERROR(t.Validate());
  o.config.architecture = std::string(classify::kTransformerArchitecture);
  o.config.retrain_on_all = false;  // training twice would double the longest step
  o.config.family = [t](const std::vector<std::string_view>& texts, const std::vector<int32_t>& labels,
                        const std::vector<std::string>& names, uint64_t seed) {
    return train::TrainTransformerClassifier(texts, labels, names, t, seed);
  };
  return Status::Ok();
}

Status RunTrainClassify(TrainClassifyOptions& o) {
  RETURN_IF_ERROR(SetFamily(o));
  ASSIGN_OR_RETURN(classify::DataOptions data_options, o.data.Options(/*require_labels=*/true));
  ASSIGN_OR_RETURN(classify::Dataset train, classify::LoadDataset(o.train_path, data_options));
  PrintWarnings(train.warnings);
  std::unique_ptr<classify::Dataset> dev;
  if (!o.dev_path.empty()) {
    ASSIGN_OR_RETURN(classify::Dataset d, classify::LoadDataset(o.dev_path, data_options));
    PrintWarnings(d.warnings);
    dev = std::make_unique<classify::Dataset>(std::move(d));
  }
  if (o.abstain.set()) {
    o.config.target = o.abstain.target();
    o.config.target_value = o.abstain.none ? 0 : o.abstain.value();
  }
  ASSIGN_OR_RETURN(classify::TrainReport report, classify::TrainClassifier(train, dev.get(), o.config));
  PrintWarnings(report.warnings);
  RETURN_IF_ERROR(report.model->Save(o.out_path));
  const classify::Classifier& m = *report.model;
  if (o.json) {
    nlohmann::json j = {{"model", o.out_path},
                        {"architecture", m.architecture()},
                        {"labels", m.n_labels()},
                        {"train_examples", report.n_train},
                        {"calibration_examples", report.n_calibration},
                        {"calibration_accuracy", report.calibration_accuracy},
                        {"temperature", m.temperature()},
                        {"abstain_target", classify::AbstainTargetName(m.policy().target)},
                        {"abstain_value", m.policy().value},
                        {"abstain_threshold", m.policy().threshold},
                        {"train_seconds", report.seconds}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("trained %s on %lld examples, %d labels, in %.2f s\n", std::string(m.architecture()).c_str(),
                static_cast<long long>(report.n_train), m.n_labels(), report.seconds);
    std::printf("calibration: %lld examples (%s), accuracy %.4f, temperature %.3f\n",
                static_cast<long long>(report.n_calibration), dev ? "dev" : "held out from train",
                report.calibration_accuracy, m.temperature());
    std::printf("abstain: target %s %.3f -> confidence threshold %.4f\n",
                std::string(classify::AbstainTargetName(m.policy().target)).c_str(), m.policy().value,
                m.policy().threshold);
    std::printf("saved %s\n", o.out_path.c_str());
  }
  return Status::Ok();
}

}  // namespace

void RegisterTrainClassify(CLI::App& app) {
  CLI::App* train = ParentCommand(app, "train", "Train a model");
  auto o = std::make_shared<TrainClassifyOptions>();
  CLI::App* cmd = train->add_subcommand("classify", "Train a text classifier (n-gram linear or transformer) that knows when it is unsure");
  cmd->add_option("--train", o->train_path, "Training data (CSV, TSV or JSONL)")->required();
  cmd->add_option("--dev", o->dev_path, "Dev data for calibration (else a part of train is held out)");
  cmd->add_option("-o,--output", o->out_path, "Model file to write (GGUF)")->required();
  o->data.Add(cmd);
  o->abstain.Add(cmd, " (default: coverage 0.95)");
  classify::TrainConfig& c = o->config;
  classify::NgramConfig& n = c.ngram;
  cmd->add_option("--seed", c.seed, "Random seed")->capture_default_str();
  cmd->add_option("--family", o->family, "Model family: ngram (linear, seconds) or transformer")
      ->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "Passes over the training data (default: ngram 30, transformer 10, "
                                         "4 on a --backbone)");
  cmd->add_option("--lr", o->lr, "Learning rate: ngram's at the start (decays linearly to 0, default 1); "
                                 "transformer's peak (default 1e-3; 1e-4 fine-tuning a --backbone fully)");
  cmd->add_option("--l2", n.l2, "L2 weight decay")->capture_default_str();
  cmd->add_option("--word-ngrams", n.features.word_ngrams, "Longest word n-gram")->capture_default_str();
  cmd->add_option("--char-min", n.features.char_min, "Shortest character n-gram")->capture_default_str();
  cmd->add_option("--char-max", n.features.char_max, "Longest character n-gram (0: none)")->capture_default_str();
  cmd->add_option("--hash-bits", n.features.hash_bits, "Hash features into 2^bits buckets")->capture_default_str();
  cmd->add_option("--min-count", n.min_count, "Drop features seen in fewer training texts")->capture_default_str();
  cmd->add_flag("--f16", n.f16_weights, "Store weights as f16 (half the size)");
  cmd->add_option("--holdout", c.holdout, "Fraction of train held out for calibration when there is no --dev")
      ->capture_default_str();
  train::TransformerClassifierOptions& t = o->transformer;
  cmd->add_option("--backbone", t.backbone, "transformer: start from this llama-family GGUF (its vocab and "
                                            "weights, all fine-tuned; e.g. one pretrained with `flotilla train`)");
  cmd->add_option("--lora-rank", t.lora_rank, "transformer on a --backbone: keep it frozen and train LoRA "
                                              "adapters of this rank (merged into the saved model); 0: full fine-tune")
      ->capture_default_str();
  cmd->add_option("--n-embd", t.n_embd, "transformer from scratch: width")->capture_default_str();
  cmd->add_option("--n-layer", t.n_layer, "transformer from scratch: layers")->capture_default_str();
  cmd->add_option("--n-head", t.n_head, "transformer from scratch: attention heads")->capture_default_str();
  cmd->add_option("--n-ff", t.n_ff, "transformer from scratch: feed-forward width")->capture_default_str();
  cmd->add_option("--vocab-size", t.vocab_size, "transformer from scratch: vocab learned from the training texts")
      ->capture_default_str();
  cmd->add_option("--max-tokens", t.max_tokens, "transformer: tokens per text (longer texts are cut)")
      ->capture_default_str();
  cmd->add_option("--pooling", o->pooling, "transformer: mean or last hidden state")->capture_default_str();
  cmd->add_option("--batch", t.batch, "transformer: texts per update")->capture_default_str();
  cmd->add_option("-t,--threads", t.n_threads, "transformer: threads (0: one per core)")->capture_default_str();
  cmd->add_flag("-v,--verbose", c.verbose, "Print the loss after each epoch");
  cmd->add_flag("--json", o->json, "Print a JSON summary for programs");
  cmd->callback([o] { Finish(RunTrainClassify(*o)); });
}

}  // namespace flotilla::cli
