#include "common/time.h"

#include <gtest/gtest.h>

namespace sockerless {
namespace {

TEST(Time, Rfc3339NanoTrimsZeros) {
  EXPECT_EQ(format_rfc3339_nano(from_unix_nanos(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339_nano(from_unix_nanos(1'500'000'000)), "1970-01-01T00:00:01.5Z");
  EXPECT_EQ(format_rfc3339_nano(from_unix_nanos(1'700'000'000'123'456'789)),
            "2023-11-14T22:13:20.123456789Z");
}

TEST(Time, ParsesCliTimestamps) {
  EXPECT_EQ(unix_nanos(*parse_api_timestamp("1700000000")), 1'700'000'000'000'000'000);
  EXPECT_EQ(unix_nanos(*parse_api_timestamp("1700000000.5")), 1'700'000'000'500'000'000);
  EXPECT_EQ(unix_nanos(*parse_api_timestamp("1700000000.000000001")), 1'700'000'000'000'000'001);
  EXPECT_EQ(unix_nanos(*parse_api_timestamp("2023-11-14T22:13:20Z")), 1'700'000'000'000'000'000);
  EXPECT_EQ(unix_nanos(*parse_api_timestamp("2023-11-14T23:13:20.25+01:00")),
            1'700'000'000'250'000'000);
  EXPECT_FALSE(parse_api_timestamp("yesterday"));
  EXPECT_FALSE(parse_api_timestamp("12x"));
  EXPECT_FALSE(parse_api_timestamp(""));
}

}  // namespace
}  // namespace sockerless
