// The request log: every request the server answers, with its response, the route decision, latency,
// token counts and estimated cost, in an embedded SQLite database (WAL journal).
//
// Durability contract: Append() returns OK only after the row is committed with synchronous=FULL,
// i.e. the WAL frame is fsync'ed. A server that appends before it sends a response therefore never
// loses an acknowledged request, even when killed with SIGKILL (request_log_test.cc checks this).
// Thread-safe: one connection guarded by a mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "flotilla/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace flotilla {

struct RequestRecord {
  int64_t id = 0;                // assigned by Append (rowid)
  int64_t created_unix_ms = 0;   // when the request arrived
  std::string endpoint;          // "chat.completions", "completions", "classify", ...
  std::string model;             // the model the request named
  std::string answered_by;       // the model that produced the answer ("" when none did)
  std::string route;             // route decision: "local", "escalated", "fallback" ("" when none was made)
  std::string specialist;        // the specialist the router chose ("" when none)
  double confidence = -1.0;      // what the threshold compared (route/router.h); -1 when none (NULL)
  std::string route_reason;      // why, one line
  int32_t http_status = 200;
  std::string request_json;      // the request body as received (when it parsed) or ""
  std::string response_json;     // the response body (for a stream: the assembled completion)
  double latency_ms = 0.0;
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  double cost_usd = 0.0;         // estimated cost of the answer (upstream tokens x price)
  double savings_usd = 0.0;      // the same tokens at the upstream's prices minus cost_usd
};

class RequestLog {
 public:
  // Opens (creating if needed) the database at `path` in WAL mode and creates the schema.
  // UNAVAILABLE/INVALID_ARGUMENT with the SQLite message when it cannot. A log of schema version 1
  // (before routing columns) is migrated in place; a newer version than this build knows is
  // FAILED_PRECONDITION. The version is SQLite's user_version (kSchemaVersion).
  static constexpr int kSchemaVersion = 2;
  static StatusOr<std::unique_ptr<RequestLog>> Open(const std::string& path);
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  // Inserts `record` and commits durably (see the contract above); returns the new row id.
  StatusOr<int64_t> Append(const RequestRecord& record);
  StatusOr<int64_t> Count();
  // Calls `fn` for each row in id order; stops at the first non-OK status and returns it.
  Status ForEach(const std::function<Status(const RequestRecord&)>& fn);

  const std::string& path() const { return path_; }

 private:
  RequestLog(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  Status Init();
  Status Migrate();
  Status Exec(const char* sql);
  Status Error(const char* what) const;

  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  std::mutex mutex_;
};

// Writes the successful chat and completion exchanges of `log` as JSONL ready for training, one line
// per exchange: {"messages": [..., {"role": "assistant", "content": ...}]} for chat and
// {"prompt": ..., "completion": ...} for completions. Returns the number of lines written.
StatusOr<int64_t> ExportTrainingJsonl(RequestLog& log, const std::function<void(std::string_view line)>& out);

}  // namespace flotilla
