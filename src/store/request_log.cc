#include "store/request_log.h"

#include <sqlite3.h>

#include <algorithm>
#include <vector>

namespace flotilla {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS requests (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_unix_ms INTEGER NOT NULL,
  endpoint TEXT NOT NULL,
  model TEXT NOT NULL,
  answered_by TEXT NOT NULL,
  route TEXT NOT NULL,
  http_status INTEGER NOT NULL,
  request_json TEXT NOT NULL,
  response_json TEXT NOT NULL,
  latency_ms REAL NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cost_usd REAL NOT NULL,
  specialist TEXT NOT NULL DEFAULT '',
  confidence REAL,
  route_reason TEXT NOT NULL DEFAULT '',
  savings_usd REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS requests_by_time ON requests(created_unix_ms);
)sql";

constexpr const char* kInsert =
    "INSERT INTO requests (created_unix_ms, endpoint, model, answered_by, route, http_status, request_json,"
    " response_json, latency_ms, prompt_tokens, completion_tokens, cost_usd, specialist, confidence,"
    " route_reason, savings_usd)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

// Columns added by schema version 2 (routing), for logs written by version 1.
constexpr const char* kAddedInV2[][2] = {
    {"specialist", "TEXT NOT NULL DEFAULT ''"},
    {"confidence", "REAL"},
    {"route_reason", "TEXT NOT NULL DEFAULT ''"},
    {"savings_usd", "REAL NOT NULL DEFAULT 0"},
};

std::string ColumnText(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

void BindText(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

}  // namespace

StatusOr<std::unique_ptr<RequestLog>> RequestLog::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return UnavailableError("cannot open request log " + path + ": " + msg);
  }
  std::unique_ptr<RequestLog> log(new RequestLog(path, db));
  RETURN_IF_ERROR(log->Init());
  return log;
}

RequestLog::~RequestLog() {
  sqlite3_finalize(insert_);
  sqlite3_close(db_);
}

Status RequestLog::Error(const char* what) const {
  return UnavailableError(std::string("request log ") + path_ + ": " + what + ": " + sqlite3_errmsg(db_));
}

Status RequestLog::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return UnavailableError("request log " + path_ + ": " + msg);
  }
  return Status::Ok();
}

Status RequestLog::Init() {
  sqlite3_busy_timeout(db_, 5000);  // another process (an exporter) may hold the lock briefly
  // WAL: readers do not block the writer. synchronous=FULL: every commit fsyncs the WAL, so a
  // committed row survives a crash of the process or the machine.
  RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(Exec("PRAGMA synchronous=FULL"));
  RETURN_IF_ERROR(Migrate());
  if (sqlite3_prepare_v2(db_, kInsert, -1, &insert_, nullptr) != SQLITE_OK) return Error("prepare insert");
  return Status::Ok();
}

// Version 0 is a new file or one written before versions were recorded (version 1's columns).
Status RequestLog::Migrate() {
  sqlite3_stmt* s = nullptr;
  int version = 0;
  if (sqlite3_prepare_v2(db_, "PRAGMA user_version", -1, &s, nullptr) != SQLITE_OK) return Error("read version");
  if (sqlite3_step(s) == SQLITE_ROW) version = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  if (version > kSchemaVersion) {
    return FailedPreconditionError("request log " + path_ + " has schema version " + std::to_string(version) +
                                   ", newer than this flotilla knows (" + std::to_string(kSchemaVersion) +
                                   "); use a newer flotilla or another --db");
  }
  if (version == kSchemaVersion) return Status::Ok();
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status st = Exec(kSchema);  // a new file gets every column; an old table keeps its own
  std::vector<std::string> have;
  if (st.ok() && sqlite3_prepare_v2(db_, "PRAGMA table_info(requests)", -1, &s, nullptr) == SQLITE_OK) {
    while (sqlite3_step(s) == SQLITE_ROW) have.push_back(ColumnText(s, 1));
    sqlite3_finalize(s);
  }
  for (const auto& col : kAddedInV2) {
    if (!st.ok()) break;
    if (std::find(have.begin(), have.end(), col[0]) != have.end()) continue;
    st = Exec(("ALTER TABLE requests ADD COLUMN " + std::string(col[0]) + " " + col[1]).c_str());
  }
  if (st.ok()) st = Exec(("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
  if (!st.ok()) {
    (void)Exec("ROLLBACK");
    return st;
  }
  return Exec("COMMIT");
}

StatusOr<int64_t> RequestLog::Append(const RequestRecord& r) {
  std::lock_guard<std::mutex> lock(mutex_);
  sqlite3_reset(insert_);
  sqlite3_clear_bindings(insert_);
  sqlite3_bind_int64(insert_, 1, r.created_unix_ms);
  BindText(insert_, 2, r.endpoint);
  BindText(insert_, 3, r.model);
  BindText(insert_, 4, r.answered_by);
  BindText(insert_, 5, r.route);
  sqlite3_bind_int(insert_, 6, r.http_status);
  BindText(insert_, 7, r.request_json);
  BindText(insert_, 8, r.response_json);
  sqlite3_bind_double(insert_, 9, r.latency_ms);
  sqlite3_bind_int(insert_, 10, r.prompt_tokens);
  sqlite3_bind_int(insert_, 11, r.completion_tokens);
  sqlite3_bind_double(insert_, 12, r.cost_usd);
  BindText(insert_, 13, r.specialist);
  if (r.confidence >= 0) {
    sqlite3_bind_double(insert_, 14, r.confidence);
  } else {
    sqlite3_bind_null(insert_, 14);
  }
  BindText(insert_, 15, r.route_reason);
  sqlite3_bind_double(insert_, 16, r.savings_usd);
  if (sqlite3_step(insert_) != SQLITE_DONE) {
    Status st = Error("insert");
    sqlite3_reset(insert_);
    return st;
  }
  sqlite3_reset(insert_);
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

StatusOr<int64_t> RequestLog::Count() {
  std::lock_guard<std::mutex> lock(mutex_);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT COUNT(*) FROM requests", -1, &s, nullptr) != SQLITE_OK) {
    return Error("prepare count");
  }
  int64_t n = -1;
  if (sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  if (n < 0) return Error("count");
  return n;
}

Status RequestLog::ForEach(const std::function<Status(const RequestRecord&)>& fn) {
  std::lock_guard<std::mutex> lock(mutex_);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "SELECT id, created_unix_ms, endpoint, model, answered_by, route, http_status,"
                         " request_json, response_json, latency_ms, prompt_tokens, completion_tokens, cost_usd,"
                         " specialist, confidence, route_reason, savings_usd FROM requests ORDER BY id",
                         -1, &s, nullptr) != SQLITE_OK) {
    return Error("prepare select");
  }
  Status st;
  int rc;
  while (st.ok() && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    RequestRecord r;
    r.id = sqlite3_column_int64(s, 0);
    r.created_unix_ms = sqlite3_column_int64(s, 1);
    r.endpoint = ColumnText(s, 2);
    r.model = ColumnText(s, 3);
    r.answered_by = ColumnText(s, 4);
    r.route = ColumnText(s, 5);
    r.http_status = sqlite3_column_int(s, 6);
    r.request_json = ColumnText(s, 7);
    r.response_json = ColumnText(s, 8);
    r.latency_ms = sqlite3_column_double(s, 9);
    r.prompt_tokens = sqlite3_column_int(s, 10);
    r.completion_tokens = sqlite3_column_int(s, 11);
    r.cost_usd = sqlite3_column_double(s, 12);
    r.specialist = ColumnText(s, 13);
    r.confidence = sqlite3_column_type(s, 14) == SQLITE_NULL ? -1.0 : sqlite3_column_double(s, 14);
    r.route_reason = ColumnText(s, 15);
    r.savings_usd = sqlite3_column_double(s, 16);
    st = fn(r);
  }
  if (st.ok() && rc != SQLITE_DONE) st = Error("select");
  sqlite3_finalize(s);
  return st;
}

}  // namespace flotilla
