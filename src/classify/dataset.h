// Labelled text data for classifiers: CSV (RFC 4180, header row), TSV (header row, no quoting) and
// JSONL (one object per line). Errors name the file, line and column ("train.csv:12:5: ...").
//
// Rows that cannot be used (empty label, empty text) are skipped with a warning; bytes that are not
// UTF-8 are replaced by U+FFFD with a warning. An error is returned for what makes the whole file
// unusable: a missing file or column, a malformed row, no usable rows at all.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "flotilla/status.h"

namespace flotilla::classify {

struct Example {
  std::string text;
  std::string label;  // empty when the file has no label column and labels are not required
};

enum class DataFormat { kAuto, kCsv, kTsv, kJsonl };

// "auto", "csv", "tsv", "jsonl" (also "json", "ndjson").
StatusOr<DataFormat> ParseDataFormat(std::string_view name);

struct DataOptions {
  DataFormat format = DataFormat::kAuto;  // kAuto: by extension (.csv, .tsv/.tab, .jsonl/.json/.ndjson)
  std::string text_col = "text";
  std::string label_col = "label";
  bool require_labels = true;  // false: a missing label column leaves labels empty (classify input)
};

struct Dataset {
  std::string name;  // the path it came from, for messages
  std::vector<Example> examples;
  std::vector<std::string> warnings;  // one line each, already prefixed with the file name
};

// Reads and parses `path`.
StatusOr<Dataset> LoadDataset(const std::string& path, const DataOptions& options);
// Parses `bytes`; `name` is used in messages and, with kAuto, to pick the format.
StatusOr<Dataset> ParseDataset(std::string_view bytes, std::string_view name, const DataOptions& options);

// Replaces every byte sequence that is not valid UTF-8 by U+FFFD; returns how many were replaced.
size_t SanitizeUtf8(std::string* text);

}  // namespace flotilla::classify
