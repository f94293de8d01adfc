// CloudWatch Logs' plain-term filter patterns.
#include <gtest/gtest.h>

#include "sims/aws/logs_pattern.h"
#include "sims/common/aws_protocol.h"

namespace sockerless::sims::aws {
namespace {

bool match(const std::string& pattern, const std::string& message) {
  return parse_filter_pattern(pattern).matches(message);
}

TEST(LogsFilterPattern, EveryTermMustAppear) {
  EXPECT_TRUE(match("", "anything"));
  EXPECT_TRUE(match("   ", "anything"));
  EXPECT_TRUE(match("ERROR", "an ERROR here"));
  EXPECT_FALSE(match("ERROR", "an error here"));  // case-sensitive
  EXPECT_TRUE(match("ERROR db", "ERROR talking to db"));
  EXPECT_FALSE(match("ERROR db", "ERROR talking to cache"));
  // terms are substrings, in any order
  EXPECT_TRUE(match("db ERR", "ERROR talking to dbs"));
}

TEST(LogsFilterPattern, QuotedPhrases) {
  EXPECT_TRUE(match("\"disk full\"", "ERROR disk full on /var"));
  EXPECT_FALSE(match("\"full disk\"", "ERROR disk full on /var"));
  EXPECT_TRUE(match("\"a \\\"quoted\\\" word\"", "here is a \"quoted\" word"));
  EXPECT_TRUE(match("\"[brackets]\" ok", "[brackets] are ok"));
}

TEST(LogsFilterPattern, OptionalAndExcludedTerms) {
  EXPECT_TRUE(match("?WARN ?ERROR", "WARN slow"));
  EXPECT_TRUE(match("?WARN ?ERROR", "ERROR down"));
  EXPECT_FALSE(match("?WARN ?ERROR", "INFO fine"));
  EXPECT_TRUE(match("ERROR -Exiting", "ERROR timeout"));
  EXPECT_FALSE(match("ERROR -Exiting", "ERROR Exiting now"));
  EXPECT_FALSE(match("-\"health check\"", "GET /health check 200"));
  auto p = parse_filter_pattern("a ?b -c \"d e\"");
  EXPECT_EQ(p.all, (std::vector<std::string>{"a", "d e"}));
  EXPECT_EQ(p.any, (std::vector<std::string>{"b"}));
  EXPECT_EQ(p.none, (std::vector<std::string>{"c"}));
}

TEST(LogsFilterPattern, RefusesWhatItCannotRead) {
  for (const char* bad :
       {"{ $.level = \"error\" }", "[ip, user, status]", "%ERR.*%", "\"open", "ERROR -", "?"}) {
    try {
      parse_filter_pattern(bad);
      ADD_FAILURE() << bad;
    } catch (const AwsError& e) {
      EXPECT_EQ(e.code(), "InvalidParameterException") << bad;
    }
  }
}

}  // namespace
}  // namespace sockerless::sims::aws
