#include "classify/dataset.h"

#include <algorithm>
#include <string>

#include <nlohmann/json.hpp>

#include "base/file_util.h"

namespace flotilla::classify {
namespace {

std::string Where(std::string_view name, size_t line, size_t col = 0) {
  std::string s = std::string(name) + ":" + std::to_string(line);
  if (col > 0) s += ":" + std::to_string(col);
  return s;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    char c = s[s.size() - suffix.size() + i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != suffix[i]) return false;
  }
  return true;
}

StatusOr<DataFormat> FormatFromName(std::string_view name) {
  if (EndsWith(name, ".csv")) return DataFormat::kCsv;
  if (EndsWith(name, ".tsv") || EndsWith(name, ".tab")) return DataFormat::kTsv;
  if (EndsWith(name, ".jsonl") || EndsWith(name, ".json") || EndsWith(name, ".ndjson")) {
    return DataFormat::kJsonl;
  }
  return InvalidArgumentError(std::string(name) +
                              ": cannot tell the format from the file name; pass --format csv|tsv|jsonl");
}

// One parsed row of a delimited file: its fields and the line each starts on (for messages).
struct Row {
  std::vector<std::string> fields;
  size_t line = 0;
};

// RFC 4180 CSV: fields separated by commas, optionally quoted with '"'; "" inside quotes is a quote;
// quoted fields may hold commas and newlines; CRLF or LF line ends. With `quoting` false (TSV) quotes
// are ordinary characters and fields never span lines.
StatusOr<std::vector<Row>> SplitDelimited(std::string_view s, std::string_view name, char sep, bool quoting) {
  std::vector<Row> rows;
  size_t i = 0, line = 1;
  if (s.substr(0, 3) == "\xEF\xBB\xBF") i = 3;  // UTF-8 byte order mark
  while (i < s.size()) {
    Row row;
    row.line = line;
    std::string field;
    size_t line_start = i;
    bool row_done = false;
    while (!row_done) {
      field.clear();
      if (quoting && i < s.size() && s[i] == '"') {
        const size_t open_line = line, open_col = i - line_start + 1;
        ++i;
        while (true) {
          if (i >= s.size()) {
            return DataLossError(Where(name, open_line, open_col) + ": quoted field is never closed");
          }
          if (s[i] == '"') {
            if (i + 1 < s.size() && s[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (s[i] == '\n') {
            ++line;
            line_start = i + 1;
          }
          field += s[i++];
        }
        if (i < s.size() && s[i] != sep && s[i] != '\n' && s[i] != '\r') {
          return DataLossError(Where(name, line, i - line_start + 1) +
                               ": unexpected character after a closing quote (quote the whole field and "
                               "double the quotes inside)");
        }
      } else {
        while (i < s.size() && s[i] != sep && s[i] != '\n') field += s[i++];
        if (!field.empty() && field.back() == '\r' && (i >= s.size() || s[i] == '\n')) field.pop_back();
      }
      row.fields.push_back(std::move(field));
      if (i < s.size() && s[i] == sep) {
        ++i;
        continue;
      }
      if (i < s.size() && s[i] == '\r') ++i;
      if (i < s.size() && s[i] == '\n') {
        ++i;
        ++line;
      }
      row_done = true;
    }
    const bool blank = row.fields.size() == 1 && row.fields[0].empty();
    if (!blank) rows.push_back(std::move(row));
  }
  return rows;
}

size_t FindColumn(const std::vector<std::string>& header, const std::string& col) {
  auto it = std::find(header.begin(), header.end(), col);
  return it == header.end() ? std::string::npos : static_cast<size_t>(it - header.begin());
}

std::string JoinColumns(const std::vector<std::string>& header) {
  std::string s;
  for (const std::string& h : header) s += (s.empty() ? "" : ", ") + h;
  return s;
}

Status MissingColumn(std::string_view name, const std::string& col, const std::string& flag,
                     const std::vector<std::string>& header) {
  return InvalidArgumentError(Where(name, 1) + ": no column \"" + col + "\" (columns: " + JoinColumns(header) +
                              "); choose one with " + flag);
}

// Adds one example, or a warning when it is unusable. `where` locates it for messages.
void AddExample(std::string text, std::string label, const std::string& where, const DataOptions& options,
                Dataset* ds, size_t* n_bad_utf8) {
  *n_bad_utf8 += SanitizeUtf8(&text) + SanitizeUtf8(&label);
  if (options.require_labels && label.empty()) {
    ds->warnings.push_back(where + ": empty label; row skipped");
    return;
  }
  ds->examples.push_back({std::move(text), std::move(label)});
}

Status ParseDelimited(std::string_view bytes, std::string_view name, char sep, const DataOptions& options,
                      Dataset* ds, size_t* n_bad_utf8) {
  ASSIGN_OR_RETURN(std::vector<Row> rows, SplitDelimited(bytes, name, sep, /*quoting=*/sep == ','));
  if (rows.empty()) return InvalidArgumentError(std::string(name) + ": the file is empty (no header row)");
  const std::vector<std::string>& header = rows[0].fields;
  const size_t text_i = FindColumn(header, options.text_col);
  if (text_i == std::string::npos) return MissingColumn(name, options.text_col, "--text-col", header);
  const size_t label_i = FindColumn(header, options.label_col);
  if (label_i == std::string::npos && options.require_labels) {
    return MissingColumn(name, options.label_col, "--label-col", header);
  }
  for (size_t r = 1; r < rows.size(); ++r) {
    Row& row = rows[r];
    if (row.fields.size() != header.size()) {
      return DataLossError(Where(name, row.line) + ": " + std::to_string(row.fields.size()) + " fields, but the " +
                           "header has " + std::to_string(header.size()));
    }
    std::string label = label_i == std::string::npos ? "" : std::move(row.fields[label_i]);
    AddExample(std::move(row.fields[text_i]), std::move(label), Where(name, row.line), options, ds, n_bad_utf8);
  }
  return Status::Ok();
}

// A JSON field as text: strings as they are, numbers and booleans printed; others rejected.
StatusOr<std::string> JsonFieldText(const nlohmann::json& v, const std::string& where, const std::string& key) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return v.dump();
  return InvalidArgumentError(where + ": field \"" + key + "\" is " + v.type_name() + ", not a string");
}

Status ParseJsonl(std::string_view bytes, std::string_view name, const DataOptions& options, Dataset* ds,
                  size_t* n_bad_utf8) {
  size_t line = 0, pos = 0;
  while (pos < bytes.size()) {
    size_t end = bytes.find('\n', pos);
    if (end == std::string_view::npos) end = bytes.size();
    std::string text(bytes.substr(pos, end - pos));
    pos = end + 1;
    ++line;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    *n_bad_utf8 += SanitizeUtf8(&text);  // nlohmann rejects invalid UTF-8 in strings
    const std::string where = Where(name, line);
    nlohmann::json obj = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (obj.is_discarded()) {
      try {
        nlohmann::json unused = nlohmann::json::parse(text);
        (void)unused;
      } catch (const nlohmann::json::parse_error& e) {
        return DataLossError(Where(name, line, e.byte) + ": not valid JSON");
      }
      return DataLossError(where + ": not valid JSON");
    }
    if (!obj.is_object()) return InvalidArgumentError(where + ": expected a JSON object per line");
    auto t = obj.find(options.text_col);
    if (t == obj.end()) {
      return InvalidArgumentError(where + ": no field \"" + options.text_col + "\"; choose one with --text-col");
    }
    ASSIGN_OR_RETURN(std::string text_value, JsonFieldText(*t, where, options.text_col));
    std::string label;
    auto l = obj.find(options.label_col);
    if (l != obj.end() && !l->is_null()) {
      ASSIGN_OR_RETURN(label, JsonFieldText(*l, where, options.label_col));
    } else if (options.require_labels) {
      return InvalidArgumentError(where + ": no field \"" + options.label_col + "\"; choose one with --label-col");
    }
    AddExample(std::move(text_value), std::move(label), where, options, ds, n_bad_utf8);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<DataFormat> ParseDataFormat(std::string_view name) {
  if (name == "auto") return DataFormat::kAuto;
  if (name == "csv") return DataFormat::kCsv;
  if (name == "tsv") return DataFormat::kTsv;
  if (name == "jsonl" || name == "json" || name == "ndjson") return DataFormat::kJsonl;
  return InvalidArgumentError("unknown data format \"" + std::string(name) + "\" (csv, tsv, jsonl)");
}

size_t SanitizeUtf8(std::string* text) {
  const std::string& s = *text;
  size_t n_bad = 0, i = 0;
  std::string out;
  bool changed = false;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len > 1) {  // reject overlong forms, surrogates and code points above U+10FFFF
      uint32_t cp = c & (0x7F >> len);
      for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= min_cp[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (!ok) {
      if (!changed) out.assign(s, 0, i);
      changed = true;
      out += "\xEF\xBF\xBD";
      ++n_bad;
      ++i;
      continue;
    }
    if (changed) out.append(s, i, len);
    i += len;
  }
  if (changed) *text = std::move(out);
  return n_bad;
}

StatusOr<Dataset> ParseDataset(std::string_view bytes, std::string_view name, const DataOptions& options) {
  DataFormat format = options.format;
  if (format == DataFormat::kAuto) {
    ASSIGN_OR_RETURN(format, FormatFromName(name));
  }
  Dataset ds;
  ds.name = std::string(name);
  size_t n_bad_utf8 = 0;
  if (format == DataFormat::kJsonl) {
    RETURN_IF_ERROR(ParseJsonl(bytes, name, options, &ds, &n_bad_utf8));
  } else {
    RETURN_IF_ERROR(ParseDelimited(bytes, name, format == DataFormat::kCsv ? ',' : '\t', options, &ds, &n_bad_utf8));
  }
  if (n_bad_utf8 > 0) {
    ds.warnings.push_back(std::string(name) + ": " + std::to_string(n_bad_utf8) +
                          " byte(s) that are not UTF-8 replaced by U+FFFD");
  }
  if (ds.examples.empty()) {
    return InvalidArgumentError(std::string(name) + ": no usable rows (the file is empty or every row was skipped)");
  }
  return ds;
}

StatusOr<Dataset> LoadDataset(const std::string& path, const DataOptions& options) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  return ParseDataset(bytes, path, options);
}

}  // namespace flotilla::classify
