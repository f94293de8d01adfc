#include "image/auth_challenge.h"

#include <gtest/gtest.h>

namespace sockerless::image {
namespace {

using Params = std::map<std::string, std::string>;

TEST(AuthChallenge, DockerHub) {
  auto challenges = parse_challenges(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:library/busybox:pull")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].scheme, "bearer");
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "https://auth.docker.io/token"},
                                          {"service", "registry.docker.io"},
                                          {"scope", "repository:library/busybox:pull"}}));
  EXPECT_EQ(challenges[0].token68, "");
}

TEST(AuthChallenge, DockerHubInsufficientScope) {
  auto challenges = parse_challenges(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:team/app:pull,push",error="insufficient_scope")");
  ASSERT_EQ(challenges.size(), 1u);
  // The comma inside the quoted scope belongs to the value.
  EXPECT_EQ(challenges[0].params.at("scope"), "repository:team/app:pull,push");
  EXPECT_EQ(challenges[0].params.at("error"), "insufficient_scope");
}

TEST(AuthChallenge, Ghcr) {
  auto challenges = parse_challenges(
      R"(Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "https://ghcr.io/token"},
                                          {"service", "ghcr.io"},
                                          {"scope", "repository:user/image:pull"}}));
}

TEST(AuthChallenge, Harbor) {
  auto challenges = parse_challenges(
      R"(Bearer realm="https://harbor.example.com/service/token",service="harbor-registry",)"
      R"(scope="repository:library/nginx:pull,push")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "https://harbor.example.com/service/token"},
                                          {"service", "harbor-registry"},
                                          {"scope", "repository:library/nginx:pull,push"}}));
}

TEST(AuthChallenge, BasicRealms) {
  auto registry = parse_challenges(R"(Basic realm="Registry Realm")");
  ASSERT_EQ(registry.size(), 1u);
  EXPECT_EQ(registry[0].scheme, "basic");
  EXPECT_EQ(registry[0].params, (Params{{"realm", "Registry Realm"}}));

  auto ecr = parse_challenges(
      R"(Basic realm="https://012345678901.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com")");
  ASSERT_EQ(ecr.size(), 1u);
  EXPECT_EQ(ecr[0].params.at("service"), "ecr.amazonaws.com");
}

TEST(AuthChallenge, SeveralChallengesInOneHeader) {
  auto challenges = parse_challenges(
      R"(Basic realm="Registry Realm", Bearer realm="https://auth.example.com/token",service="reg")");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(challenges[0].scheme, "basic");
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "Registry Realm"}}));
  EXPECT_EQ(challenges[1].scheme, "bearer");
  EXPECT_EQ(challenges[1].params,
            (Params{{"realm", "https://auth.example.com/token"}, {"service", "reg"}}));
}

TEST(AuthChallenge, Rfc7235Example) {
  auto challenges = parse_challenges(
      R"(Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple")");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(challenges[0].scheme, "newauth");
  EXPECT_EQ(challenges[0].params,
            (Params{{"realm", "apps"}, {"type", "1"}, {"title", R"(Login to "apps")"}}));
  EXPECT_EQ(challenges[1].scheme, "basic");
  EXPECT_EQ(challenges[1].params, (Params{{"realm", "simple"}}));
}

TEST(AuthChallenge, Token68) {
  auto challenges =
      parse_challenges("Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag==, Basic dXNlcjpwYXNz");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(challenges[0].scheme, "negotiate");
  EXPECT_EQ(challenges[0].token68, "YIIGhgYGKwYBBQUCoIIGejCCBnag==");
  EXPECT_TRUE(challenges[0].params.empty());
  EXPECT_EQ(challenges[1].token68, "dXNlcjpwYXNz");

  auto padded = parse_challenges("Custom a/b+c=");
  ASSERT_EQ(padded.size(), 1u);
  EXPECT_EQ(padded[0].token68, "a/b+c=");
}

TEST(AuthChallenge, SchemeWithoutParameters) {
  auto challenges = parse_challenges(R"(Negotiate, NTLM, Basic realm="x")");
  ASSERT_EQ(challenges.size(), 3u);
  EXPECT_EQ(challenges[0].scheme, "negotiate");
  EXPECT_EQ(challenges[1].scheme, "ntlm");
  EXPECT_EQ(challenges[2].scheme, "basic");
  EXPECT_EQ(challenges[2].params.at("realm"), "x");

  // A scheme with no parameters after a challenge that had some.
  auto trailing = parse_challenges(R"(Bearer realm="y", Negotiate)");
  ASSERT_EQ(trailing.size(), 2u);
  EXPECT_EQ(trailing[0].params, (Params{{"realm", "y"}}));
  EXPECT_EQ(trailing[1].scheme, "negotiate");
}

TEST(AuthChallenge, CaseAndWhitespace) {
  auto challenges = parse_challenges("  BEARER   Realm = \"R\" ,\tSERVICE=\"S\" ,  ");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].scheme, "bearer");
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "R"}, {"service", "S"}}));
}

TEST(AuthChallenge, UnquotedValues) {
  auto challenges =
      parse_challenges("Bearer realm=https://auth.example.com/token,service=registry,scope=a:b");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "https://auth.example.com/token"},
                                          {"service", "registry"},
                                          {"scope", "a:b"}}));
}

TEST(AuthChallenge, EscapesAndEmptyValues) {
  auto challenges = parse_challenges(
      R"(Bearer error="invalid_token",error_description="the \"token\" \\ expired",realm="")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].params.at("error_description"), R"(the "token" \ expired)");
  EXPECT_EQ(challenges[0].params.at("realm"), "");
}

TEST(AuthChallenge, EmptyListElements) {
  auto challenges = parse_challenges(R"(, Basic realm="a",, ,Bearer realm="b",,service="c",)");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "a"}}));
  EXPECT_EQ(challenges[1].params, (Params{{"realm", "b"}, {"service", "c"}}));
}

TEST(AuthChallenge, SkipsMalformedParts) {
  EXPECT_TRUE(parse_challenges("").empty());
  EXPECT_TRUE(parse_challenges("   ").empty());
  EXPECT_TRUE(parse_challenges(",,").empty());
  // A parameter with no scheme before it.
  auto stray = parse_challenges(R"(realm="x", Basic realm="y")");
  ASSERT_EQ(stray.size(), 1u);
  EXPECT_EQ(stray[0].scheme, "basic");
  EXPECT_EQ(stray[0].params.at("realm"), "y");
  // Junk after a scheme is dropped; the next challenge survives.
  auto junk = parse_challenges(R"(Bearer foo bar, Basic realm="a")");
  ASSERT_EQ(junk.size(), 2u);
  EXPECT_EQ(junk[0].scheme, "bearer");
  EXPECT_TRUE(junk[0].params.empty());
  EXPECT_EQ(junk[1].params.at("realm"), "a");
  // Junk after a value is dropped up to the next comma.
  auto after_value = parse_challenges(R"(Bearer realm="a" junk "x,y", service="s")");
  ASSERT_EQ(after_value.size(), 1u);
  EXPECT_EQ(after_value[0].params, (Params{{"realm", "a"}, {"service", "s"}}));
  // An unterminated quoted string ends the parse but keeps what came before.
  auto unterminated = parse_challenges(R"(Bearer service="s",realm="https://auth)");
  ASSERT_EQ(unterminated.size(), 1u);
  EXPECT_EQ(unterminated[0].params, (Params{{"service", "s"}}));
}

}  // namespace
}  // namespace sockerless::image
