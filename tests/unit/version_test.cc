#include "api/version.h"

#include <gtest/gtest.h>

#include "common/errors.h"

namespace sockerless::api {
namespace {

TEST(Version, SplitsPrefix) {
  auto v = split_version_prefix("/v1.44/containers/json");
  ASSERT_TRUE(v.version);
  EXPECT_EQ(*v.version, "1.44");
  EXPECT_EQ(v.rest, "/containers/json");
  v = split_version_prefix("/containers/json");
  EXPECT_FALSE(v.version);
  EXPECT_EQ(v.rest, "/containers/json");
  v = split_version_prefix("/vabc/_ping");  // not a version: dockerd's router has none either
  EXPECT_FALSE(v.version);
  v = split_version_prefix("/v1.41");
  ASSERT_TRUE(v.version);
  EXPECT_EQ(v.rest, "/");
  v = split_version_prefix("/volumes");
  EXPECT_FALSE(v.version);
}

TEST(Version, ComparesNumerically) {
  EXPECT_LT(*parse_version("1.9"), *parse_version("1.24"));
  EXPECT_FALSE(parse_version("1"));
  EXPECT_FALSE(parse_version("1.x"));
  EXPECT_FALSE(parse_version(""));
}

TEST(Version, RangeMessagesMatchDockerd) {
  EXPECT_EQ(check_version("1.44").minor, 44);
  EXPECT_EQ(check_version("1.24").minor, 24);
  try {
    check_version("1.45");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "client version 1.45 is too new. Maximum supported API version is 1.44");
  }
  try {
    check_version("1.12");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(),
                 "client version 1.12 is too old. Minimum supported API version is 1.24, please "
                 "upgrade your client to a newer version");
  }
}

}  // namespace
}  // namespace sockerless::api
