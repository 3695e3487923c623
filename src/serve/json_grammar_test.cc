#include "serve/json_grammar.h"

#include <gtest/gtest.h>

namespace flotilla::serve {
namespace {

bool Valid(std::string_view s, bool* done = nullptr) {
  JsonPrefixValidator v;
  bool ok = v.Feed(s);
  if (done) *done = v.done();
  return ok;
}

TEST(JsonPrefixValidatorTest, AcceptsObjectsAndTheirPrefixes) {
  const char* full[] = {R"({})", R"({"a":1})", R"({"a": [1, -2.5e+3, true, false, null, "x\"\u00e9"], "b": {}})",
                        R"({"k":{"n":[[],[{}]]}})", "{\"s\":\"caf\xc3\xa9\"}", R"({"a":0.5,"b":-0})"};
  for (const char* s : full) {
    bool done = false;
    EXPECT_TRUE(Valid(s, &done)) << s;
    EXPECT_TRUE(done) << s;
    std::string_view sv(s);
    for (size_t n = 0; n < sv.size(); ++n) {
      EXPECT_TRUE(Valid(sv.substr(0, n), &done)) << sv.substr(0, n);
      EXPECT_FALSE(done) << sv.substr(0, n);
    }
  }
}

TEST(JsonPrefixValidatorTest, RejectsInvalidText) {
  const char* bad[] = {"[1]", "\"a\"", "1", "x", "{a", "{\"a\" 1", "{\"a\":}", "{\"a\":1,}", "{\"a\":01",
                       "{\"a\":1.}", "{\"a\":tru }", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}", "{\"a\":[1,]}",
                       "{} x", "{\"a\":1]", "{\"a\":\"\\u12G4\"}", "{\"a\":-}", "{\"a\":1e}"};
  for (const char* s : bad) EXPECT_FALSE(Valid(s)) << s;
}

TEST(JsonPrefixValidatorTest, LimitsWhitespaceAndDepth) {
  EXPECT_TRUE(Valid(" {"));
  EXPECT_FALSE(Valid("{\"a\":      1}"));
  std::string deep = "{\"a\":";
  for (int i = 0; i < JsonPrefixValidator::kMaxDepth; ++i) deep += "[";
  EXPECT_FALSE(Valid(deep));
}

}  // namespace
}  // namespace flotilla::serve
