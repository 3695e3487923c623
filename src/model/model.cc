#include "model/model.h"

namespace flotilla {

StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& path) { return Load(path, {}); }

StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& path, const std::vector<LoraAdapterSpec>& adapters) {
  ASSIGN_OR_RETURN(gguf::File file, gguf::File::Open(path));
  std::unique_ptr<Model> model(new Model(std::move(file)));
  auto loaded = [&]() -> Status {
    ASSIGN_OR_RETURN(model->config_, ModelConfigFromGguf(model->file_));
    ASSIGN_OR_RETURN(model->weights_, LoadWeights(model->file_, model->config_));
    ASSIGN_OR_RETURN(model->tokenizer_, Tokenizer::FromGguf(model->file_));
    if (model->tokenizer_->n_vocab() != model->config_.n_vocab) {
      return InvalidArgumentError("tokenizer has " + std::to_string(model->tokenizer_->n_vocab()) +
                                  " tokens, the model " + std::to_string(model->config_.n_vocab));
    }
    return Status::Ok();
  }();
  if (!loaded.ok()) return loaded.WithContext(path);
  RETURN_IF_ERROR(ApplyLoraAdapters(adapters, model->config_, model->weights_, model->lora_merged_));
  Status interleaved = InterleaveWeights(model->file_, model->weights_, model->interleaved_);
  if (!interleaved.ok()) return interleaved.WithContext(path);
  MoveEmbeddingsToHugePages(model->file_, model->weights_, model->token_embd_);
  return model;
}

}  // namespace flotilla
