#include "base/download.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include <curl/curl.h>

#include "base/sha256.h"

namespace flotilla {
namespace {

std::string ErrnoText() { return std::strerror(errno); }

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  return s;
}

// Parses a decimal number that fills all of `s`.
bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// "bytes 100-199/1000" -> start 100, total 1000; "bytes */1000" -> start -1, total 1000.
// A total of "*" gives 0.
bool ParseContentRange(std::string_view v, int64_t* start, uint64_t* total) {
  if (!StartsWithNoCase(v, "bytes ")) return false;
  v.remove_prefix(6);
  size_t slash = v.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view range = v.substr(0, slash), tot = Trim(v.substr(slash + 1));
  *total = 0;
  if (tot != "*" && !ParseU64(tot, total)) return false;
  if (range == "*") {
    *start = -1;
    return true;
  }
  size_t dash = range.find('-');
  uint64_t s = 0;
  if (dash == std::string_view::npos || !ParseU64(range.substr(0, dash), &s)) return false;
  *start = static_cast<int64_t>(s);
  return true;
}

void CurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK); });
}

// State shared with the libcurl callbacks during one HTTP request.
struct Transfer {
  const DownloadRequest* request = nullptr;
  int fd = -1;
  uint64_t offset = 0;   // bytes of the .part kept before this request (the Range start)
  uint64_t written = 0;  // body bytes written by this request
  uint64_t total = 0;    // full size of the file, 0 when unknown
  Sha256* hasher = nullptr;
  // From the headers of the latest response (a redirect chain resets them).
  long http_code = 0;
  std::string reason;
  std::string content_range;
  int64_t content_length = -1;
  bool body_started = false;
  bool discard_body = false;  // a 416 body: not file content
  bool bad_resume = false;    // a 206 that does not start at t.offset
  Status error;               // set by a callback that stopped the transfer
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (StartsWithNoCase(line, "http/")) {  // a new response (after a redirect, say)
    t->http_code = 0;
    t->reason.clear();
    t->content_range.clear();
    t->content_length = -1;
    size_t sp = line.find(' ');
    if (sp != std::string_view::npos) {
      std::string_view rest = Trim(line.substr(sp + 1));
      uint64_t code = 0;
      ParseU64(rest.substr(0, rest.find(' ')), &code);
      t->http_code = static_cast<long>(code);
      if (rest.find(' ') != std::string_view::npos) t->reason = Trim(rest.substr(rest.find(' ') + 1));
    }
  } else if (StartsWithNoCase(line, "content-range:")) {
    t->content_range = Trim(line.substr(14));
  } else if (StartsWithNoCase(line, "content-length:")) {
    uint64_t len = 0;
    if (ParseU64(Trim(line.substr(15)), &len)) t->content_length = static_cast<int64_t>(len);
  }
  return size * n;
}

Status HttpError(const Transfer& t) {
  std::string what = "HTTP " + std::to_string(t.http_code) + (t.reason.empty() ? "" : " " + t.reason) +
                     " from " + t.request->url;
  if (t.http_code == 404) return NotFoundError("download failed: " + what);
  if (t.http_code == 401 || t.http_code == 403) {
    std::string hint = t.request->bearer_token.empty() ? " (a gated or private model needs a token: set HF_TOKEN)"
                                                       : " (check that the token grants access)";
    return {StatusCode::kPermissionDenied, "download failed: " + what + hint};
  }
  return UnavailableError("download failed: " + what);
}

// Decides what the response body means, once, before its first byte is written: appends it to the .part
// (206 at our offset), starts the file over (200: the server ignored the Range) or stops the transfer.
Status BeginBody(Transfer& t) {
  t.body_started = true;
  if (t.http_code == 416) {
    t.discard_body = true;
    return Status::Ok();
  }
  if (t.http_code >= 400) return HttpError(t);
  // Some servers answer a Range request with 200 but a partial body and a Content-Range; believe the
  // Content-Range then.
  bool partial = t.http_code == 206 || (t.http_code == 200 && t.offset > 0 && !t.content_range.empty());
  if (partial) {
    int64_t start = 0;
    if (!ParseContentRange(t.content_range, &start, &t.total) || start != static_cast<int64_t>(t.offset)) {
      t.bad_resume = true;
      return UnavailableError("server answered the resume request for " + t.request->url +
                              " with an unexpected Content-Range: '" + t.content_range + "'");
    }
  } else if (t.http_code >= 200 && t.http_code < 300) {
    if (t.offset > 0) {  // Range ignored: the body is the whole file
      if (::ftruncate(t.fd, 0) != 0) return UnavailableError("cannot truncate the .part file: " + ErrnoText());
      t.offset = 0;
      t.hasher->Reset();
    }
    t.total = t.content_length >= 0 ? static_cast<uint64_t>(t.content_length) : 0;
  } else {
    return UnavailableError("download failed: unexpected HTTP " + std::to_string(t.http_code) + " from " +
                            t.request->url);
  }
  if (::lseek(t.fd, static_cast<off_t>(t.offset), SEEK_SET) < 0) {
    return UnavailableError("cannot seek in the .part file: " + ErrnoText());
  }
  if (t.request->on_progress) t.request->on_progress(t.offset, t.total);
  return Status::Ok();
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  if (t->request->cancel != nullptr && t->request->cancel->load()) return 0;  // see Perform()
  if (!t->body_started) {
    t->error = BeginBody(*t);
    if (!t->error.ok()) return 0;  // != len: libcurl stops with CURLE_WRITE_ERROR
  }
  if (t->discard_body) return len;
  for (size_t done = 0; done < len;) {
    ssize_t w = ::write(t->fd, data + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      t->error = ResourceExhaustedError("cannot write the .part file: " + ErrnoText());
      return 0;
    }
    done += static_cast<size_t>(w);
  }
  t->hasher->Update(std::string_view(data, len));
  t->written += len;
  if (t->request->on_progress) t->request->on_progress(t->offset + t->written, t->total);
  return len;
}

int OnXferInfo(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->request->cancel != nullptr && t->request->cancel->load() ? 1 : 0;
}

// Maps a failed curl_easy_perform to a Status that says whether (and where) bytes were kept.
Status CurlFailure(CURLcode rc, const char* errbuf, const Transfer& t, const std::string& part_path) {
  const DownloadRequest& req = *t.request;
  std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
  std::string kept;  // a .part left empty is deleted by Download()
  if (t.offset + t.written > 0) {
    kept = "; " + std::to_string(t.offset + t.written) + " bytes kept in " + part_path +
           ", run the download again to resume";
  }
  std::string of_total = t.total > 0 ? " of " + std::to_string(t.total) : "";
  switch (rc) {
    case CURLE_ABORTED_BY_CALLBACK:
      return {StatusCode::kCancelled, "download interrupted" + kept};
    case CURLE_OPERATION_TIMEDOUT:
      if (!t.body_started) return {StatusCode::kDeadlineExceeded, "download of " + req.url + " timed out: " + detail};
      return {StatusCode::kDeadlineExceeded,
              "download of " + req.url + " stalled (under " + std::to_string(req.low_speed_bytes_per_s) +
                  " bytes/s for " + std::to_string(req.low_speed_time_s) + " s)" + kept};
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return UnavailableError("cannot connect to " + req.url + ": " + detail);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return InvalidArgumentError("cannot download " + req.url + ": " + detail);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
      return UnavailableError("connection lost while downloading " + req.url + " after " +
                              std::to_string(t.offset + t.written) + of_total + " bytes: " + detail + kept);
    default:
      return UnavailableError("download of " + req.url + " failed: " + detail + (t.body_started ? kept : ""));
  }
}

// Runs one HTTP request for `t`, resuming at t.offset when it is not 0. OK means the body (or a 416
// answer, see t.http_code) arrived in full.
Status Perform(Transfer& t, const std::string& part_path) {
  const DownloadRequest& req = *t.request;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (curl == nullptr) return InternalError("curl_easy_init failed");
  CURL* c = curl.get();
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::string range = std::to_string(t.offset) + "-";
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_USERAGENT, "flotilla/0.1");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, req.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, req.low_speed_bytes_per_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, req.low_speed_time_s);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnXferInfo);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  if (t.offset > 0) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
  if (!req.bearer_token.empty()) {
    // libcurl drops this credential when a redirect leads to another host.
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
    curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, req.bearer_token.c_str());
  }
  CURLcode rc = curl_easy_perform(c);
  if (!t.error.ok()) return t.error;
  if (req.cancel != nullptr && req.cancel->load() && rc != CURLE_OK) rc = CURLE_ABORTED_BY_CALLBACK;
  if (rc != CURLE_OK) return CurlFailure(rc, errbuf, t, part_path);
  if (!t.body_started) RETURN_IF_ERROR(BeginBody(t));  // an empty body
  if (!t.discard_body && t.total > 0 && t.offset + t.written != t.total) {
    return UnavailableError("download of " + req.url + " ended after " + std::to_string(t.offset + t.written) +
                            " of " + std::to_string(t.total) + " bytes");
  }
  return Status::Ok();
}

// Closes a descriptor on scope exit.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

std::string ToLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The answer when the final file exists and the request does not force a new download.
StatusOr<DownloadResult> KeepExisting(const DownloadRequest& req, const std::string& expected,
                                      const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return InvalidArgumentError(req.output_path + " exists and is not a regular file");
  DownloadResult result;
  result.skipped = true;
  result.bytes = static_cast<uint64_t>(st.st_size);
  if (expected.empty()) return result;
  ASSIGN_OR_RETURN(result.sha256, Sha256File(req.output_path));
  if (result.sha256 != expected) {
    return FailedPreconditionError(req.output_path + " already exists but its sha256 is " + result.sha256 +
                                   ", not " + expected + "; delete it or download again with --force");
  }
  return result;
}

Status SyncDirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return UnavailableError("cannot open directory " + dir + ": " + ErrnoText());
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return UnavailableError("cannot sync directory " + dir + ": " + ErrnoText());
  return Status::Ok();
}

// Fetches into the locked, open .part `fd` whose first `offset` bytes are already fed to `hasher`.
// Restarts from byte 0 once when the server cannot serve the resume (416, or a wrong Content-Range).
Status FetchIntoPart(const DownloadRequest& req, const std::string& part, int fd, uint64_t offset,
                     Sha256& hasher, DownloadResult* result) {
  for (int attempt = 0;; ++attempt) {
    Transfer t;
    t.request = &req;
    t.fd = fd;
    t.offset = offset;
    t.hasher = &hasher;
    Status st = Perform(t, part);
    int64_t start = 0;
    uint64_t total = 0;
    bool resume_refused = (st.ok() && t.http_code == 416) || t.bad_resume;
    if (!resume_refused) {
      result->resumed_from = t.offset;
      result->bytes = t.offset + t.written;
      return st;
    }
    // 416 with "bytes */N" where N is what we hold: the .part is already complete.
    if (t.http_code == 416 && ParseContentRange(t.content_range, &start, &total) && total > 0 &&
        total == offset) {
      result->resumed_from = offset;
      result->bytes = offset;
      return Status::Ok();
    }
    if (attempt > 0 || offset == 0) return t.http_code == 416 ? HttpError(t) : st;
    if (::ftruncate(fd, 0) != 0) return UnavailableError("cannot truncate " + part + ": " + ErrnoText());
    hasher.Reset();
    offset = 0;
  }
}

}  // namespace

StatusOr<DownloadResult> Download(const DownloadRequest& req) {
  if (req.url.empty()) return InvalidArgumentError("no URL to download");
  if (req.output_path.empty()) return InvalidArgumentError("no output path for " + req.url);
  if (!req.sha256.empty() && !IsSha256Hex(req.sha256)) {
    return InvalidArgumentError("--sha256 wants 64 hex digits, got '" + req.sha256 + "'");
  }
  const std::string expected = ToLower(req.sha256);
  struct stat st;
  if (!req.force && ::stat(req.output_path.c_str(), &st) == 0) return KeepExisting(req, expected, st);

  CurlGlobalInit();
  const std::string part = req.output_path + ".part";
  if (req.force) ::unlink(part.c_str());  // --force starts over
  FdCloser fd{::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)};
  if (fd.fd < 0) return UnavailableError("cannot create " + part + ": " + ErrnoText());
  if (::flock(fd.fd, LOCK_EX | LOCK_NB) != 0) {
    return FailedPreconditionError("another download is writing " + part);
  }
  if (::fstat(fd.fd, &st) != 0) return UnavailableError("cannot stat " + part + ": " + ErrnoText());
  const auto offset = static_cast<uint64_t>(st.st_size);
  Sha256 hasher;
  if (offset > 0) RETURN_IF_ERROR(HashFilePrefix(part, hasher, offset));

  DownloadResult result;
  Status status = FetchIntoPart(req, part, fd.fd, offset, hasher, &result);
  if (!status.ok()) {
    if (::fstat(fd.fd, &st) == 0 && st.st_size == 0) ::unlink(part.c_str());  // nothing worth resuming
    return status;
  }
  if (::fsync(fd.fd) != 0) return UnavailableError("cannot sync " + part + ": " + ErrnoText());
  result.sha256 = hasher.HexDigest();
  if (!expected.empty() && result.sha256 != expected) {
    ::unlink(part.c_str());
    return DataLossError("sha256 mismatch for " + req.url + ": expected " + expected + ", got " + result.sha256 +
                         "; the download was deleted");
  }
  if (::rename(part.c_str(), req.output_path.c_str()) != 0) {
    return UnavailableError("cannot rename " + part + " to " + req.output_path + ": " + ErrnoText());
  }
  RETURN_IF_ERROR(SyncDirectoryOf(req.output_path));
  return result;
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The last path segment of an http(s) URL, decoded; empty when there is none fit for a file name.
std::string FileNameOfUrl(std::string_view url) {
  size_t scheme = url.find("://");
  std::string_view rest = url.substr(scheme == std::string_view::npos ? 0 : scheme + 3);
  rest = rest.substr(0, rest.find_first_of("?#"));
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return "";  // only a host
  std::string name = PercentDecode(rest.substr(rest.rfind('/') + 1));
  if (name == "." || name == ".." || name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
    return "";
  }
  return name;
}

std::vector<std::string_view> SplitPath(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    parts.push_back(s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) return parts;
    start = slash + 1;
  }
}

}  // namespace

StatusOr<ModelUrl> ResolveModelUrl(std::string_view spec, std::string_view hf_endpoint) {
  ModelUrl out;
  if (StartsWithNoCase(spec, "http://") || StartsWithNoCase(spec, "https://")) {
    out.url = std::string(spec);
    out.file_name = FileNameOfUrl(spec);
    return out;
  }
  const std::string usage = "expected an http(s):// URL or hf://ORG/REPO/FILE, got '" + std::string(spec) + "'";
  if (!StartsWithNoCase(spec, "hf://")) return InvalidArgumentError(usage);
  std::vector<std::string_view> parts = SplitPath(spec.substr(5));
  if (parts.size() < 3) return InvalidArgumentError(usage);
  std::string revision = "main";
  std::string repo(parts[1]);
  std::string last(parts.back());
  if (size_t at = repo.find('@'); at != std::string::npos) {  // hf://org/repo@rev/file
    revision = repo.substr(at + 1);
    repo.resize(at);
  } else if (size_t at = last.rfind('@'); at != std::string::npos) {  // hf://org/repo/file@rev
    revision = last.substr(at + 1);
    last.resize(at);
  }
  parts[1] = repo;
  parts.back() = last;
  for (std::string_view p : parts) {
    if (p.empty() || p == "." || p == "..") return InvalidArgumentError(usage);
  }
  if (revision.empty()) return InvalidArgumentError("empty revision in '" + std::string(spec) + "'");
  std::string endpoint(hf_endpoint);
  if (endpoint.empty()) {
    const char* env = std::getenv("HF_ENDPOINT");
    endpoint = env != nullptr && env[0] != '\0' ? env : "https://huggingface.co";
  }
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  std::string rev_escaped;  // "refs/pr/1" -> "refs%2Fpr%2F1", as the hub expects
  for (char c : revision) rev_escaped += c == '/' ? std::string("%2F") : std::string(1, c);
  out.url = endpoint + "/" + std::string(parts[0]) + "/" + repo + "/resolve/" + rev_escaped;
  for (size_t i = 2; i < parts.size(); ++i) out.url += "/" + std::string(parts[i]);
  out.file_name = last;
  out.hugging_face = true;
  return out;
}

}  // namespace flotilla
