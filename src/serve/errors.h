// Status -> HTTP: the one place that decides which HTTP code and OpenAI error type a Status becomes.
#pragma once

#include <string>

#include "flotilla/status.h"

namespace flotilla::serve {

struct HttpError {
  int http_status;
  std::string type;  // OpenAI error type: invalid_request_error, authentication_error, ...
  std::string code;  // OpenAI error code or "" (null)
};

// INVALID_ARGUMENT, OUT_OF_RANGE, UNIMPLEMENTED -> 400; PERMISSION_DENIED -> 401 (the server's only
// permission check is the API key); NOT_FOUND -> 404; RESOURCE_EXHAUSTED -> 429; UNAVAILABLE -> 502
// (an upstream failed); FAILED_PRECONDITION -> 503; DEADLINE_EXCEEDED -> 504; CANCELLED -> 499;
// anything else -> 500.
HttpError HttpErrorFor(const Status& status);

// {"error": {"message": ..., "type": ..., "param": param or null, "code": code or null}}
std::string ErrorJson(const Status& status, const std::string& param = "");

// A Status that carries the request parameter it is about: the message starts with "param: ".
// ErrorJson recovers it. Use for validation errors.
Status ParamError(const std::string& param, const std::string& message);

}  // namespace flotilla::serve
