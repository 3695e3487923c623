#include "serve/errors.h"

#include <nlohmann/json.hpp>

namespace flotilla::serve {
namespace {
constexpr std::string_view kParamMarker = "\x1fparam=";  // invisible separator for ParamError
}  // namespace

HttpError HttpErrorFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return {200, "", ""};
    case StatusCode::kInvalidArgument: return {400, "invalid_request_error", ""};
    case StatusCode::kOutOfRange: return {400, "invalid_request_error", "context_length_exceeded"};
    case StatusCode::kUnimplemented: return {400, "invalid_request_error", "unsupported_parameter"};
    case StatusCode::kPermissionDenied: return {401, "authentication_error", "invalid_api_key"};
    case StatusCode::kNotFound: return {404, "invalid_request_error", "model_not_found"};
    case StatusCode::kResourceExhausted: return {429, "rate_limit_error", "queue_full"};
    case StatusCode::kUnavailable: return {502, "upstream_error", ""};
    case StatusCode::kFailedPrecondition: return {503, "server_error", ""};
    case StatusCode::kDeadlineExceeded: return {504, "timeout_error", "request_timeout"};
    case StatusCode::kCancelled: return {499, "cancelled", ""};
    default: return {500, "server_error", ""};
  }
}

Status ParamError(const std::string& param, const std::string& message) {
  return InvalidArgumentError(message + std::string(kParamMarker) + param);
}

std::string ErrorJson(const Status& status, const std::string& param) {
  HttpError e = HttpErrorFor(status);
  std::string message = status.message();
  std::string p = param;
  if (size_t at = message.find(kParamMarker); at != std::string::npos) {
    p = message.substr(at + kParamMarker.size());
    message.resize(at);
  }
  nlohmann::json j = {{"error",
                       {{"message", message},
                        {"type", e.type},
                        {"param", p.empty() ? nlohmann::json(nullptr) : nlohmann::json(p)},
                        {"code", e.code.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.code)}}}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace flotilla::serve
