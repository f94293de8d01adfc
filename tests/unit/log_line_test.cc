#include "api/log_line.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sockerless::api {
namespace {

// What the monitor writes, for a given text.
std::string line_for(const std::string& text, const std::string& stream = "stdout") {
  nlohmann::json j = {
      {"log", text}, {"stream", stream}, {"time", "2026-11-22T18:00:00.123456789Z"}};
  return j.dump();
}

TEST(LogLine, ReadsWhatTheMonitorWritesExactly) {
  for (std::string text :
       {std::string("hello\n"), std::string("quote \" back \\ slash / tab\t\r\n"),
        std::string("ctrl \x01\x1f bell\b feed\f"), std::string("utf-8 é ü 漢字 🎉\n"),
        std::string(""), std::string(10000, 'x')}) {
    auto e = parse_log_entry(line_for(text, "stderr"));
    ASSERT_TRUE(e) << text;
    EXPECT_EQ(e->text, text);
    EXPECT_EQ(e->stream, "stderr");
    EXPECT_EQ(e->time, "2026-11-22T18:00:00.123456789Z");
  }
}

TEST(LogLine, OtherShapesGoThroughTheFullParser) {
  // Keys in another order, spaces, a surrogate pair: the slow path, same answer.
  auto e = parse_log_entry(R"({ "stream": "stdout", "time": "t", "log": "a\ud83c\udf89b" })");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->text, "a🎉b");
  EXPECT_EQ(e->stream, "stdout");
  EXPECT_EQ(e->time, "t");
  EXPECT_FALSE(parse_log_entry("not json"));
  EXPECT_FALSE(parse_log_entry(R"({"log":"unterminated)"));
  EXPECT_FALSE(parse_log_entry("[1,2]"));
}

}  // namespace
}  // namespace sockerless::api
