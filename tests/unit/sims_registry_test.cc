// The simulators' OCI registry, its pure parts: what a /v2/ path names, chunk ranges,
// repository names, and the self-checking passwords.
#include <gtest/gtest.h>

#include "sims/common/registry.h"

namespace sockerless::sims {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

TEST(RegistryPath, NamesWhatThePathServes) {
  EXPECT_EQ(parse_registry_path("/v2/").kind, RegistryPath::Base);
  EXPECT_EQ(parse_registry_path("/v2").kind, RegistryPath::Base);

  auto p = parse_registry_path("/v2/team/app/manifests/v1.0");
  EXPECT_EQ(p.kind, RegistryPath::Manifest);
  EXPECT_EQ(p.repo, "team/app");
  EXPECT_EQ(p.reference, "v1.0");

  p = parse_registry_path("/v2/app/blobs/" + kDigest);
  EXPECT_EQ(p.kind, RegistryPath::Blob);
  EXPECT_EQ(p.repo, "app");
  EXPECT_EQ(p.reference, kDigest);

  EXPECT_EQ(parse_registry_path("/v2/app/blobs/uploads/").kind, RegistryPath::UploadStart);
  EXPECT_EQ(parse_registry_path("/v2/app/blobs/uploads").kind, RegistryPath::UploadStart);
  p = parse_registry_path("/v2/a/b/blobs/uploads/1234-abcd");
  EXPECT_EQ(p.kind, RegistryPath::Upload);
  EXPECT_EQ(p.repo, "a/b");
  EXPECT_EQ(p.reference, "1234-abcd");

  p = parse_registry_path("/v2/x/y/z/tags/list");
  EXPECT_EQ(p.kind, RegistryPath::Tags);
  EXPECT_EQ(p.repo, "x/y/z");
}

TEST(RegistryPath, RepositoriesMayHoldTheKeywords) {
  // The last keyword decides: a repository may be called "manifests" or "blobs".
  auto p = parse_registry_path("/v2/manifests/blobs/manifests/latest");
  EXPECT_EQ(p.kind, RegistryPath::Manifest);
  EXPECT_EQ(p.repo, "manifests/blobs");
  p = parse_registry_path("/v2/tags/list/tags/list");
  EXPECT_EQ(p.kind, RegistryPath::Tags);
  EXPECT_EQ(p.repo, "tags/list");
}

TEST(RegistryPath, UnknownPaths) {
  EXPECT_EQ(parse_registry_path("/v2/app").kind, RegistryPath::Unknown);
  EXPECT_EQ(parse_registry_path("/v2/manifests/latest").kind, RegistryPath::Unknown);  // no repo
  EXPECT_EQ(parse_registry_path("/v2/_catalog").kind, RegistryPath::Unknown);
  EXPECT_EQ(parse_registry_path("/v3/app/tags/list").kind, RegistryPath::Unknown);
  EXPECT_EQ(parse_registry_path("/other").kind, RegistryPath::Unknown);
}

TEST(RegistryContentRange, Forms) {
  auto r = parse_content_range("0-1023");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0u);
  EXPECT_EQ(r->last, 1023u);
  r = parse_content_range("bytes 1024-2047/*");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 1024u);
  EXPECT_EQ(r->last, 2047u);
  r = parse_content_range("bytes=5-5");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 5u);
  EXPECT_EQ(r->last, 5u);
  r = parse_content_range(" 10-20/100 ");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->last, 20u);
}

TEST(RegistryContentRange, Refusals) {
  for (const char* bad :
       {"", "-", "5-", "-5", "9-3", "a-b", "1_2", "99999999999999999999-1", "bytes */100"})
    EXPECT_FALSE(parse_content_range(bad)) << bad;
}

TEST(RegistryNames, DistributionGrammar) {
  for (const char* good : {"ab", "app", "team/app", "a.b", "a_b", "a__b", "a---b", "x/y/z", "0a"})
    EXPECT_TRUE(valid_repository_name(good)) << good;
  for (const char* bad :
       {"a", "App", "-a", "a-", "a..b", "a___b", "a//b", "/a", "a/", "a:b", "a@b", "a b", "a._b"})
    EXPECT_FALSE(valid_repository_name(bad)) << bad;
  EXPECT_TRUE(valid_repository_name(std::string(251, 'a')));
  EXPECT_FALSE(valid_repository_name(std::string(252, 'a')));
}

TEST(RegistryPassword, KnownAnswer) {
  // HMAC-SHA256 of "sockerless-sim registry password, expires 1700000000" under "k3y": the
  // form must stay, as passwords outlive the process that issued them.
  EXPECT_EQ(sign_password("k3y", 1700000000),
            "1700000000.f0497ee3be95abc413170a7df248b786a4351741954ad694839e7014fd263b1e");
}

TEST(RegistryPassword, VerifiesOnlyWhatTheSecretSigned) {
  std::string pw = sign_password("secret", 1893456000);
  auto expiry = password_expiry("secret", pw);
  ASSERT_TRUE(expiry);
  EXPECT_EQ(*expiry, 1893456000);
  EXPECT_FALSE(password_expiry("other secret", pw));
  // any change to the expiry or the signature
  EXPECT_FALSE(password_expiry("secret", "1893456001" + pw.substr(pw.find('.'))));
  std::string flipped = pw;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_FALSE(password_expiry("secret", flipped));
  EXPECT_FALSE(password_expiry("secret", pw.substr(0, pw.size() - 1)));
  for (const char* bad : {"", ".", "123", ".abc", "abc.def", "-1.00"})
    EXPECT_FALSE(password_expiry("secret", bad)) << bad;
}

}  // namespace
}  // namespace sockerless::sims
