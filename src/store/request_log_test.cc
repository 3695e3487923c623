#include "store/request_log.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sqlite3.h>

namespace flotilla {
namespace {

namespace fs = std::filesystem;

fs::path Scratch(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("flotilla_store_test_" + std::to_string(getpid()));
  fs::create_directories(dir);
  fs::path p = dir / name;
  fs::remove(p);
  fs::remove(p.string() + "-wal");
  fs::remove(p.string() + "-shm");
  return p;
}

RequestRecord ChatRecord(const std::string& user, const std::string& answer) {
  RequestRecord r;
  r.created_unix_ms = 1700000000000;
  r.endpoint = "chat.completions";
  r.model = "tiny";
  r.answered_by = "tiny";
  r.route = "direct";
  r.request_json = R"({"model":"tiny","messages":[{"role":"user","content":")" + user + R"("}]})";
  r.response_json = R"({"choices":[{"index":0,"message":{"role":"assistant","content":")" + answer +
                     R"("},"finish_reason":"stop"}]})";
  r.latency_ms = 12.5;
  r.prompt_tokens = 7;
  r.completion_tokens = 3;
  return r;
}

TEST(RequestLogTest, AppendsAndReadsBack) {
  fs::path p = Scratch("a.sqlite");
  auto log = RequestLog::Open(p.string());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  auto id = (*log)->Append(ChatRecord("hi", "hello"));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 1);
  EXPECT_EQ(*(*log)->Count(), 1);
  std::vector<RequestRecord> rows;
  ASSERT_TRUE((*log)->ForEach([&](const RequestRecord& r) { rows.push_back(r); return Status::Ok(); }).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].model, "tiny");
  EXPECT_EQ(rows[0].prompt_tokens, 7);
  EXPECT_DOUBLE_EQ(rows[0].latency_ms, 12.5);
}

TEST(RequestLogTest, RoutingColumnsRoundTrip) {
  fs::path p = Scratch("route.sqlite");
  auto log = RequestLog::Open(p.string());
  ASSERT_TRUE(log.ok());
  RequestRecord r = ChatRecord("hi", "hello");
  r.route = "escalated";
  r.specialist = "intent";
  r.confidence = 0.25;
  r.route_reason = "confidence 0.250 < threshold 0.700";
  r.cost_usd = 0.002;
  r.savings_usd = 0.0;
  ASSERT_TRUE((*log)->Append(r).ok());
  ASSERT_TRUE((*log)->Append(ChatRecord("a", "b")).ok());  // no confidence: stored as NULL
  std::vector<RequestRecord> rows;
  ASSERT_TRUE((*log)->ForEach([&](const RequestRecord& x) { rows.push_back(x); return Status::Ok(); }).ok());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].route, "escalated");
  EXPECT_EQ(rows[0].specialist, "intent");
  EXPECT_DOUBLE_EQ(rows[0].confidence, 0.25);
  EXPECT_EQ(rows[0].route_reason, r.route_reason);
  EXPECT_DOUBLE_EQ(rows[0].cost_usd, 0.002);
  EXPECT_DOUBLE_EQ(rows[1].confidence, -1.0);
}

// A log written before the routing columns (schema version 1, user_version 0) opens, keeps its rows
// and takes new ones; a log from a newer flotilla is refused with a clear error.
TEST(RequestLogTest, MigratesVersionOneAndRefusesNewer) {
  fs::path p = Scratch("v1.sqlite");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(p.c_str(), &db), SQLITE_OK);
  const char* v1 = "CREATE TABLE requests (id INTEGER PRIMARY KEY AUTOINCREMENT, created_unix_ms INTEGER NOT NULL,"
                   " endpoint TEXT NOT NULL, model TEXT NOT NULL, answered_by TEXT NOT NULL, route TEXT NOT NULL,"
                   " http_status INTEGER NOT NULL, request_json TEXT NOT NULL, response_json TEXT NOT NULL,"
                   " latency_ms REAL NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
                   " cost_usd REAL NOT NULL);"
                   "INSERT INTO requests VALUES (NULL, 1, 'chat.completions', 'tiny', 'tiny', 'direct', 200,"
                   " '{}', '{}', 1.0, 2, 3, 0.0);";
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  {
    auto log = RequestLog::Open(p.string());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    RequestRecord r = ChatRecord("x", "y");
    r.specialist = "gen";
    ASSERT_TRUE((*log)->Append(r).ok());
    std::vector<RequestRecord> rows;
    ASSERT_TRUE((*log)->ForEach([&](const RequestRecord& x) { rows.push_back(x); return Status::Ok(); }).ok());
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].route, "direct");
    EXPECT_EQ(rows[0].specialist, "");
    EXPECT_DOUBLE_EQ(rows[0].confidence, -1.0);
    EXPECT_EQ(rows[1].specialist, "gen");
  }
  EXPECT_TRUE(RequestLog::Open(p.string()).ok());  // opening again is a no-op
  ASSERT_EQ(sqlite3_open(p.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto newer = RequestLog::Open(p.string());
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(newer.status().message().find("schema version 99"), std::string::npos);
}

TEST(RequestLogTest, UsesWal) {
  fs::path p = Scratch("wal.sqlite");
  auto log = RequestLog::Open(p.string());
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(ChatRecord("a", "b")).ok());
  EXPECT_TRUE(fs::exists(p.string() + "-wal"));
}

TEST(RequestLogTest, OpenFailsCleanly) {
  auto log = RequestLog::Open("/nonexistent-dir/x/y.sqlite");
  EXPECT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kUnavailable);
}

TEST(RequestLogTest, ExportsChatPairsAndCompletions) {
  fs::path p = Scratch("export.sqlite");
  auto log = RequestLog::Open(p.string());
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(ChatRecord("hi", "hello")).ok());
  RequestRecord failed = ChatRecord("x", "y");
  failed.http_status = 400;
  ASSERT_TRUE((*log)->Append(failed).ok());
  RequestRecord completion;
  completion.endpoint = "completions";
  completion.request_json = R"({"model":"tiny","prompt":"once"})";
  completion.response_json = R"({"choices":[{"text":" upon","index":0}]})";
  ASSERT_TRUE((*log)->Append(completion).ok());
  RequestRecord broken = ChatRecord("a", "b");
  broken.request_json = "{not json";
  ASSERT_TRUE((*log)->Append(broken).ok());

  std::vector<std::string> lines;
  auto n = ExportTrainingJsonl(**log, [&](std::string_view l) { lines.emplace_back(l); });
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, 2);
  EXPECT_NE(lines[0].find(R"("messages":[{"content":"hi","role":"user"},{"content":"hello","role":"assistant"}])"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find(R"("completion":" upon")"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find(R"("prompt":"once")"), std::string::npos) << lines[1];
}

// A child appends rows and reports each acknowledged id through a pipe; the parent SIGKILLs it in the
// middle of the stream. Every row the child acknowledged must be in the database afterwards.
TEST(RequestLogTest, AcknowledgedRowsSurviveSigkill) {
  fs::path p = Scratch("kill.sqlite");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    auto log = RequestLog::Open(p.string());
    if (!log.ok()) _exit(2);
    for (int i = 0; i < 100000; ++i) {
      auto id = (*log)->Append(ChatRecord("q" + std::to_string(i), "a"));
      if (!id.ok()) _exit(3);
      int64_t v = *id;
      if (write(fds[1], &v, sizeof(v)) != sizeof(v)) _exit(4);
    }
    _exit(0);
  }
  close(fds[1]);
  int64_t last_ack = 0, v = 0;
  while (last_ack < 200 && read(fds[0], &v, sizeof(v)) == sizeof(v)) last_ack = v;
  kill(pid, SIGKILL);
  while (read(fds[0], &v, sizeof(v)) == sizeof(v)) last_ack = v;  // acks written before the kill
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the writer finished before it was killed";
  ASSERT_GE(last_ack, 200);

  auto log = RequestLog::Open(p.string());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  auto count = (*log)->Count();
  ASSERT_TRUE(count.ok());
  EXPECT_GE(*count, last_ack);
  EXPECT_LE(*count, last_ack + 1);  // at most the one row committed but not yet acknowledged
}

}  // namespace
}  // namespace flotilla
