#include "train/checkpoint.h"

namespace flotilla::train {

Status SaveCheckpoint(ModelParams& params, AdamW& optimizer, const CheckpointMeta& meta, const Vocab& vocab,
                      const std::string& chat_template, const std::string& path) {
  gguf::Writer writer;
  params.config.ToGguf(writer);
  writer.Set("general.file_type", gguf::Value::U32(0));
  vocab.ToGguf(writer);
  if (!chat_template.empty()) writer.Set("tokenizer.chat_template", gguf::Value::String(chat_template));
  writer.Set("flotilla.train.step", gguf::Value::U64(static_cast<uint64_t>(meta.step)));
  writer.Set("flotilla.train.seed", gguf::Value::U64(meta.seed));
  writer.Set("flotilla.train.batch", gguf::Value::U64(static_cast<uint64_t>(meta.batch)));
  writer.Set("flotilla.train.seq", gguf::Value::U64(static_cast<uint64_t>(meta.seq)));
  RETURN_IF_ERROR(AddParamTensors(params, writer));
  RETURN_IF_ERROR(AddParamTensors(optimizer.m(), writer, "optim.m."));
  RETURN_IF_ERROR(AddParamTensors(optimizer.v(), writer, "optim.v."));
  return writer.WriteFile(path);  // atomic
}

StatusOr<LoadedCheckpoint> LoadCheckpoint(const gguf::File& file) {
  if (!file.Find("flotilla.train.step")) {
    return InvalidArgumentError(file.path() + " is not a flotilla training checkpoint (no flotilla.train.step)");
  }
  LoadedCheckpoint c;
  ASSIGN_OR_RETURN(c.params, LoadParams(file));
  c.m = ModelParams::ZerosLike(c.params);
  c.v = ModelParams::ZerosLike(c.params);
  RETURN_IF_ERROR(CopyTensorsFromGguf(file, c.m, "optim.m."));
  RETURN_IF_ERROR(CopyTensorsFromGguf(file, c.v, "optim.v."));
  ASSIGN_OR_RETURN(uint64_t step, file.GetUint("flotilla.train.step"));
  ASSIGN_OR_RETURN(c.meta.seed, file.GetUint("flotilla.train.seed"));
  ASSIGN_OR_RETURN(uint64_t batch, file.GetUint("flotilla.train.batch"));
  ASSIGN_OR_RETURN(uint64_t seq, file.GetUint("flotilla.train.seq"));
  c.meta.step = static_cast<int64_t>(step);
  c.meta.batch = static_cast<int64_t>(batch);
  c.meta.seq = static_cast<int64_t>(seq);
  return c;
}

}  // namespace flotilla::train
