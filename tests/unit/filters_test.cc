#include "api/filters.h"

#include <gtest/gtest.h>

#include "common/errors.h"

namespace sockerless::api {
namespace {

TEST(Filters, ParsesBothForms) {
  auto f = Filters::parse(R"({"type":{"container":true,"image":false},"label":["a=b"]})");
  EXPECT_EQ(f.values("type"), std::vector<std::string>{"container"});
  EXPECT_EQ(f.values("label"), std::vector<std::string>{"a=b"});
  EXPECT_TRUE(Filters::parse("").empty());
}

TEST(Filters, RejectsMalformed) {
  EXPECT_THROW(Filters::parse("{"), InvalidArgument);
  EXPECT_THROW(Filters::parse("[]"), InvalidArgument);
  EXPECT_THROW(Filters::parse(R"({"a":1})"), InvalidArgument);
  EXPECT_THROW(Filters::parse(R"({"a":{"b":"yes"}})"), InvalidArgument);
}

TEST(Filters, ValidateNamesTheBadKey) {
  auto f = Filters::parse(R"({"bogus":["x"]})");
  try {
    f.validate({"type"});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "invalid filter 'bogus'");
  }
}

TEST(Filters, LabelsAreAnded) {
  auto f = Filters::parse(R"({"label":["a","b=2"]})");
  EXPECT_TRUE(f.match_labels("label", {{"a", "x"}, {"b", "2"}}));
  EXPECT_FALSE(f.match_labels("label", {{"a", "x"}, {"b", "3"}}));
  EXPECT_FALSE(f.match_labels("label", {{"b", "2"}}));
  EXPECT_TRUE(Filters().match_labels("label", {}));
}

}  // namespace
}  // namespace sockerless::api
