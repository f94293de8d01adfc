#include "api/errors.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sockerless::api {
namespace {

struct Case {
  std::exception_ptr error;
  int status;
  std::string message;
};

TEST(ErrorMapping, TypedErrorsBecomeStatusAndMessage) {
  std::vector<Case> cases = {
      {std::make_exception_ptr(InvalidArgument("bad")), 400, "bad"},
      {std::make_exception_ptr(Unauthorized("who")), 401, "who"},
      {std::make_exception_ptr(Forbidden("no")), 403, "no"},
      {std::make_exception_ptr(NotFound("page not found")), 404, "page not found"},
      {std::make_exception_ptr(Conflict("in use")), 409, "in use"},
      {std::make_exception_ptr(NotImplemented("X is not implemented")), 501,
       "X is not implemented"},
      {std::make_exception_ptr(BadGateway("engine gone")), 502, "engine gone"},
      {std::make_exception_ptr(Unavailable("not a swarm manager")), 503, "not a swarm manager"},
      {std::make_exception_ptr(std::runtime_error("boom")), 500, "boom"},
  };
  for (const auto& c : cases) {
    auto r = error_response(c.error);
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.headers.get("Content-Type"), std::optional<std::string>("application/json"));
    ASSERT_FALSE(r.body.empty());
    EXPECT_EQ(r.body.back(), '\n');
    EXPECT_EQ(nlohmann::json::parse(r.body).at("message"), c.message);
  }
}

TEST(ErrorMapping, NotModifiedHasNoBody) {
  auto r = error_response(std::make_exception_ptr(NotModified("already started")));
  EXPECT_EQ(r.status, 304);
  EXPECT_TRUE(r.body.empty());
}

TEST(ErrorMapping, MessagesAreEscaped) {
  auto r = error_response(std::make_exception_ptr(InvalidArgument("quote \" and \n newline")));
  EXPECT_EQ(nlohmann::json::parse(r.body).at("message"), "quote \" and \n newline");
}

}  // namespace
}  // namespace sockerless::api
