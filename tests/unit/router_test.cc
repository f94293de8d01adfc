#include "http/router.h"

#include <gtest/gtest.h>

namespace sockerless::http {
namespace {

RouteTarget noop() {
  return RouteTarget{[](Request&, Responder&) {}, Execution::Inline, BodyMode::Buffered};
}

TEST(Router, MatchesLiteralAndParams) {
  Router r;
  r.add("GET", "/containers/json", noop());
  r.add("GET", "/containers/{id}/json", noop());
  auto m = r.match("GET", "/containers/abc/json");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/containers/{id}/json");
  EXPECT_EQ(m.params.at("id"), "abc");
  m = r.match("GET", "/containers/json");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/containers/json");
}

TEST(Router, GreedyParamTakesSlashes) {
  Router r;
  r.add("GET", "/images/{name*}/json", noop());
  r.add("DELETE", "/images/{name*}", noop());
  auto m = r.match("GET", "/images/registry:5000/library/busybox:latest/json");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params.at("name"), "registry:5000/library/busybox:latest");
  m = r.match("DELETE", "/images/a/b/json");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params.at("name"), "a/b/json");
}

TEST(Router, MethodMismatchIsReportedAsKnownPath) {
  Router r;
  r.add("POST", "/containers/create", noop());
  auto m = r.match("GET", "/containers/create");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_TRUE(m.path_known);
  m = r.match("GET", "/nothing");
  EXPECT_FALSE(m.path_known);
}

TEST(Router, EmptySegmentsDoNotMatchParams) {
  Router r;
  r.add("GET", "/containers/{id}/json", noop());
  EXPECT_EQ(r.match("GET", "/containers//json").route, nullptr);
  EXPECT_EQ(r.match("GET", "/containers/x/json/").route, nullptr);
}

TEST(Query, DecodesAndRepeats) {
  auto q = Query::parse("filters=%7B%22a%22%3A1%7D&all=1&x=a+b&x=c&flag");
  EXPECT_EQ(q.get("filters"), std::optional<std::string>("{\"a\":1}"));
  EXPECT_TRUE(q.get_bool("all"));
  EXPECT_EQ(q.all("x"), (std::vector<std::string>{"a b", "c"}));
  EXPECT_TRUE(q.has("flag"));
  EXPECT_FALSE(q.get_bool("flag"));
  EXPECT_FALSE(q.get_bool("missing"));
  EXPECT_FALSE(Query::parse("all=false").get_bool("all"));
  EXPECT_FALSE(Query::parse("all=0").get_bool("all"));
}

TEST(Headers, CaseInsensitive) {
  Headers h;
  h.add("Content-Type", "a");
  EXPECT_EQ(h.get("content-type"), std::optional<std::string>("a"));
  h.set("CONTENT-TYPE", "b");
  EXPECT_EQ(h.get("Content-Type"), std::optional<std::string>("b"));
  EXPECT_EQ(h.fields().size(), 1u);
}

TEST(PercentDecode, KeepsMalformedEscapes) {
  EXPECT_EQ(percent_decode("%zz%4", false), "%zz%4");
  EXPECT_EQ(percent_decode("a%2Fb", false), "a/b");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
}

}  // namespace
}  // namespace sockerless::http
