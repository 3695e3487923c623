#include "serve/openai_schema.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "serve/errors.h"

namespace flotilla::serve {
namespace {

TEST(ChatRequestTest, ParsesAFullRequest) {
  auto r = ParseChatRequest(R"({"model":"m","messages":[{"role":"system","content":"be brief"},
    {"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]}],
    "max_tokens":12,"temperature":0.5,"top_p":0.9,"seed":7,"stop":["\n","END"],"stream":true,
    "stream_options":{"include_usage":true},"response_format":{"type":"json_object"},"user":"x","n":1})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->model, "m");
  ASSERT_EQ(r->messages.size(), 2u);
  EXPECT_EQ(r->messages[1].content, "hi there");
  EXPECT_EQ(*r->params.max_tokens, 12);
  EXPECT_FLOAT_EQ(*r->params.temperature, 0.5f);
  EXPECT_EQ(*r->params.seed, 7u);
  EXPECT_EQ(r->params.stop.size(), 2u);
  EXPECT_TRUE(r->params.stream);
  EXPECT_TRUE(r->params.include_usage);
  EXPECT_TRUE(r->params.json_object);
}

TEST(ChatRequestTest, NullsMeanUnset) {
  auto r = ParseChatRequest(R"({"model":"m","messages":[{"role":"user","content":"a"}],"max_tokens":null,
    "temperature":null,"stop":null,"seed":null})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->params.max_tokens);
  EXPECT_FALSE(r->params.temperature);
}

struct BadCase {
  const char* body;
  StatusCode code;
  const char* param;  // expected "param" in the error JSON, "" for null
};

TEST(ChatRequestTest, RejectsMalformedBodies) {
  const BadCase cases[] = {
      {"", StatusCode::kInvalidArgument, ""},
      {"{", StatusCode::kInvalidArgument, ""},
      {"[]", StatusCode::kInvalidArgument, ""},
      {"null", StatusCode::kInvalidArgument, ""},
      {R"({"messages":[{"role":"user","content":"a"}]})", StatusCode::kInvalidArgument, "model"},
      {R"({"model":3,"messages":[{"role":"user","content":"a"}]})", StatusCode::kInvalidArgument, "model"},
      {R"({"model":"m"})", StatusCode::kInvalidArgument, "messages"},
      {R"({"model":"m","messages":[]})", StatusCode::kInvalidArgument, "messages"},
      {R"({"model":"m","messages":{}})", StatusCode::kInvalidArgument, "messages"},
      {R"({"model":"m","messages":[1]})", StatusCode::kInvalidArgument, "messages[0]"},
      {R"({"model":"m","messages":[{"content":"a"}]})", StatusCode::kInvalidArgument, "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"wizard","content":"a"}]})", StatusCode::kInvalidArgument,
       "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"user","content":5}]})", StatusCode::kInvalidArgument,
       "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"max_tokens":0})",
       StatusCode::kInvalidArgument, "max_tokens"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"max_tokens":1.5})",
       StatusCode::kInvalidArgument, "max_tokens"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"temperature":3})",
       StatusCode::kInvalidArgument, "temperature"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"temperature":"hot"})",
       StatusCode::kInvalidArgument, "temperature"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"top_p":0})", StatusCode::kInvalidArgument,
       "top_p"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"stop":["a","b","c","d","e"]})",
       StatusCode::kInvalidArgument, "stop"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"stop":[""]})", StatusCode::kInvalidArgument,
       "stop"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"stream":"yes"})",
       StatusCode::kInvalidArgument, "stream"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"seed":"1"})", StatusCode::kInvalidArgument,
       "seed"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"response_format":"json"})",
       StatusCode::kInvalidArgument, "response_format"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_schema"}})",
       StatusCode::kUnimplemented, ""},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"n":2})", StatusCode::kUnimplemented, ""},
  };
  for (const BadCase& c : cases) {
    auto r = ParseChatRequest(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), c.code) << c.body << " -> " << r.status().ToString();
    nlohmann::json e = nlohmann::json::parse(ErrorJson(r.status()));
    if (*c.param) {
      EXPECT_EQ(e["error"]["param"], c.param) << c.body;
    } else {
      EXPECT_TRUE(e["error"]["param"].is_null()) << c.body;
    }
    EXPECT_EQ(e["error"]["message"].get<std::string>().find('\x1f'), std::string::npos);
  }
}

TEST(CompletionRequestTest, DefaultsAndPromptForms) {
  auto r = ParseCompletionRequest(R"({"model":"m","prompt":["once"]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->prompt, "once");
  EXPECT_EQ(*r->params.max_tokens, 16);
  EXPECT_FALSE(ParseCompletionRequest(R"({"model":"m","prompt":[1,2]})").ok());
  EXPECT_FALSE(ParseCompletionRequest(R"({"model":"m"})").ok());
  EXPECT_FALSE(ParseCompletionRequest(R"({"model":"m","prompt":"a","echo":true})").ok());
}

TEST(ErrorMappingTest, StatusToHttp) {
  EXPECT_EQ(HttpErrorFor(InvalidArgumentError("x")).http_status, 400);
  EXPECT_EQ(HttpErrorFor(OutOfRangeError("x")).http_status, 400);
  EXPECT_EQ(HttpErrorFor(OutOfRangeError("x")).code, "context_length_exceeded");
  EXPECT_EQ(HttpErrorFor(Status(StatusCode::kPermissionDenied, "x")).http_status, 401);
  EXPECT_EQ(HttpErrorFor(NotFoundError("x")).http_status, 404);
  EXPECT_EQ(HttpErrorFor(ResourceExhaustedError("x")).http_status, 429);
  EXPECT_EQ(HttpErrorFor(UnavailableError("x")).http_status, 502);
  EXPECT_EQ(HttpErrorFor(FailedPreconditionError("x")).http_status, 503);
  EXPECT_EQ(HttpErrorFor(Status(StatusCode::kDeadlineExceeded, "x")).http_status, 504);
  EXPECT_EQ(HttpErrorFor(InternalError("x")).http_status, 500);
  nlohmann::json e = nlohmann::json::parse(ErrorJson(ResourceExhaustedError("busy")));
  EXPECT_EQ(e["error"]["message"], "busy");
  EXPECT_EQ(e["error"]["type"], "rate_limit_error");
  EXPECT_EQ(e["error"]["code"], "queue_full");
  EXPECT_TRUE(e["error"]["param"].is_null());
}

TEST(ModelOfBodyTest, NeverThrows) {
  EXPECT_EQ(ModelOfBody(R"({"model":"a"})"), "a");
  EXPECT_EQ(ModelOfBody(R"({"model":1})"), "");
  EXPECT_EQ(ModelOfBody("\xff\xfe"), "");
}

}  // namespace
}  // namespace flotilla::serve
