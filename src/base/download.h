// Model downloads over HTTP(S) with libcurl: resume, progress, SHA-256 check and crash-safe placement.
//
// Contract of Download(): bytes go to "<output>.part"; only a complete file (and, when a checksum is
// given, one that matches it) is fsynced and renamed to <output>. So the final name never holds a partial
// or wrong file. A failed or cancelled transfer keeps the .part so that the next call resumes it with a
// Range request; a checksum mismatch deletes the .part. Every failure comes back as a Status.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "flotilla/status.h"

namespace flotilla {

struct DownloadRequest {
  std::string url;          // http:// or https://
  std::string output_path;  // final file name; the transfer writes output_path + ".part"
  std::string sha256;       // expected digest, 64 hex digits in either case; empty: no check
  std::string bearer_token; // sent as "Authorization: Bearer ..." (not forwarded to other hosts)
  // When output_path already exists: false keeps it (OK when it matches `sha256` or none is given,
  // FAILED_PRECONDITION otherwise); true downloads again and replaces it.
  bool force = false;
  // Called with (bytes done, total bytes or 0 when unknown) as data arrives, and with the resume
  // offset before the transfer starts. Runs on the calling thread.
  std::function<void(uint64_t done, uint64_t total)> on_progress;
  // Polled during the transfer (at least once a second); when it turns true, Download returns
  // CANCELLED and keeps the .part.
  const std::atomic<bool>* cancel = nullptr;
  long connect_timeout_s = 30;
  // A transfer slower than `low_speed_bytes_per_s` for `low_speed_time_s` seconds is abandoned
  // (DEADLINE_EXCEEDED; the .part is kept).
  long low_speed_bytes_per_s = 1024;
  long low_speed_time_s = 60;
};

// What a successful Download() did.
struct DownloadResult {
  bool skipped = false;         // output_path already existed and was kept
  uint64_t resumed_from = 0;    // bytes of the .part reused (0: started from the beginning)
  uint64_t bytes = 0;           // size of output_path
  std::string sha256;           // lowercase hex digest of output_path (when skipped: only if checked)
};

// Downloads request.url to request.output_path as described at the top of this file. Follows redirects.
// Errors: INVALID_ARGUMENT (bad URL or checksum syntax), NOT_FOUND (HTTP 404), PERMISSION_DENIED (HTTP
// 401/403), UNAVAILABLE (other HTTP errors, connection refused or lost, truncated body), DEADLINE_EXCEEDED
// (connect timeout, stalled transfer), DATA_LOSS (checksum mismatch), CANCELLED, FAILED_PRECONDITION
// (the existing output differs from `sha256`, or another process is writing the same .part).
StatusOr<DownloadResult> Download(const DownloadRequest& request);

// A resolved model address: the HTTP URL to fetch and whether it points at the Hugging Face hub.
struct ModelUrl {
  std::string url;
  std::string file_name;  // the last path segment, the default local file name
  bool hugging_face = false;
};

// Resolves "http(s)://..." as is, and "hf://ORG/REPO/PATH/FILE" to
// "$HF_ENDPOINT/ORG/REPO/resolve/REV/PATH/FILE" (HF_ENDPOINT defaults to https://huggingface.co,
// REV to "main"). A revision is given as "hf://ORG/REPO@REV/PATH" (huggingface_hub's form) or
// "hf://ORG/REPO/PATH@REV". `hf_endpoint` empty means: read the HF_ENDPOINT environment variable.
StatusOr<ModelUrl> ResolveModelUrl(std::string_view spec, std::string_view hf_endpoint = {});

}  // namespace flotilla
