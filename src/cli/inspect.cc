// flotilla inspect FILE.gguf [--json]: metadata and a tensor table.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "gguf/gguf.h"

namespace flotilla::cli {
namespace {

struct InspectOptions {
  std::string path;
  bool json = false;
  size_t max_items = 8;
};

nlohmann::json ValueToJson(const gguf::Value& v, size_t max_items) {
  if (auto* s = v.AsString()) return *s;
  if (auto* a = v.AsArray()) {
    nlohmann::json items = nlohmann::json::array();
    for (size_t i = 0; i < a->items.size() && i < max_items; ++i) items.push_back(ValueToJson(a->items[i], max_items));
    return {{"type", "array"}, {"elem_type", gguf::ValueTypeName(a->elem_type)},
            {"n_items", a->items.size()}, {"items", items}};
  }
  if (auto b = v.AsBool()) return *b;
  if (auto f = v.AsFloat()) return *f;
  if (v.type() == gguf::ValueType::kUint64 || v.type() == gguf::ValueType::kUint32 ||
      v.type() == gguf::ValueType::kUint16 || v.type() == gguf::ValueType::kUint8) {
    return *v.AsUint();
  }
  return *v.AsInt();
}

void PrintJson(const gguf::File& file, size_t max_items) {
  nlohmann::json out;
  out["path"] = file.path();
  out["version"] = file.version();
  out["alignment"] = file.alignment();
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [key, value] : file.metadata()) meta[key] = ValueToJson(value, max_items);
  out["metadata"] = meta;
  nlohmann::json tensors = nlohmann::json::array();
  uint64_t total = 0;
  for (const gguf::TensorInfo& t : file.tensors()) {
    tensors.push_back({{"name", t.name}, {"dtype", DTypeName(t.dtype)}, {"shape", t.shape},
                       {"n_elements", t.n_elements()}, {"bytes", t.n_bytes}, {"offset", t.offset}});
    total += t.n_bytes;
  }
  out["tensors"] = tensors;
  out["tensor_bytes"] = total;
  std::printf("%s\n", out.dump(2).c_str());
}

void PrintText(const gguf::File& file, size_t max_items) {
  std::printf("%s: GGUF v%u, alignment %llu, %zu metadata keys, %zu tensors\n", file.path().c_str(),
              file.version(), static_cast<unsigned long long>(file.alignment()), file.metadata().size(),
              file.tensors().size());
  std::printf("\nmetadata:\n");
  for (const auto& [key, value] : file.metadata()) {
    std::printf("  %-40s %-8s %s\n", key.c_str(), std::string(gguf::ValueTypeName(value.type())).c_str(),
                value.ToDisplayString(max_items).c_str());
  }
  std::printf("\ntensors:\n  %-40s %-6s %-24s %14s\n", "name", "dtype", "shape", "bytes");
  uint64_t total = 0;
  int64_t n_params = 0;
  for (const gguf::TensorInfo& t : file.tensors()) {
    std::printf("  %-40s %-6s %-24s %14llu\n", t.name.c_str(), std::string(DTypeName(t.dtype)).c_str(),
                gguf::ShapeString(t.shape).c_str(), static_cast<unsigned long long>(t.n_bytes));
    total += t.n_bytes;
    n_params += t.n_elements();
  }
  std::printf("\n%zu tensors, %lld elements, %.2f MiB of tensor data\n", file.tensors().size(),
              static_cast<long long>(n_params), total / (1024.0 * 1024.0));
}

}  // namespace

void RegisterInspect(CLI::App& app) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Print a GGUF file's metadata and tensor table");
  cmd->add_option("file", opts->path, "GGUF file")->required();
  cmd->add_flag("--json", opts->json, "Print JSON for programs");
  cmd->add_option("--max-items", opts->max_items, "Array items shown per metadata value")->capture_default_str();
  cmd->callback([opts] {
    StatusOr<gguf::File> file = gguf::File::Open(opts->path);
    if (!file.ok()) return Finish(file.status());
    if (opts->json) {
      PrintJson(*file, opts->max_items);
    } else {
      PrintText(*file, opts->max_items);
    }
    Finish(Status::Ok());
  });
}

}  // namespace flotilla::cli
