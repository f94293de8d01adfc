#include "image/reference.h"

#include <gtest/gtest.h>

#include <string>

#include "common/errors.h"

namespace sockerless::image {
namespace {

const std::string kHex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kDigest = "sha256:" + kHex64;

struct Parsed {
  std::string input;
  std::string domain;
  std::string path;
  std::string tag;
  std::string digest;
  std::string familiar;
};

TEST(Reference, ParsesAndNormalises) {
  const Parsed cases[] = {
      {"busybox", "docker.io", "library/busybox", "", "", "busybox"},
      {"busybox:1.36", "docker.io", "library/busybox", "1.36", "", "busybox:1.36"},
      {"library/busybox", "docker.io", "library/busybox", "", "", "busybox"},
      {"docker.io/busybox", "docker.io", "library/busybox", "", "", "busybox"},
      {"docker.io/library/busybox:musl", "docker.io", "library/busybox", "musl", "",
       "busybox:musl"},
      {"index.docker.io/library/busybox", "docker.io", "library/busybox", "", "", "busybox"},
      {"index.docker.io/busybox", "docker.io", "library/busybox", "", "", "busybox"},
      {"team/app", "docker.io", "team/app", "", "", "team/app"},
      {"docker.io/team/app:v2", "docker.io", "team/app", "v2", "", "team/app:v2"},
      {"localhost:5000/a/b:tag", "localhost:5000", "a/b", "tag", "", "localhost:5000/a/b:tag"},
      {"localhost/x", "localhost", "x", "", "", "localhost/x"},
      {"127.0.0.1:5000/x@" + kDigest, "127.0.0.1:5000", "x", "", kDigest,
       "127.0.0.1:5000/x@" + kDigest},
      {"x:tag@" + kDigest, "docker.io", "library/x", "tag", kDigest, "x:tag@" + kDigest},
      {"x@" + kDigest, "docker.io", "library/x", "", kDigest, "x@" + kDigest},
      {"[::1]:5000/x", "[::1]:5000", "x", "", "", "[::1]:5000/x"},
      {"[fe80::1]/x:1", "[fe80::1]", "x", "1", "", "[fe80::1]/x:1"},
      {"ghcr.io/org/team/app:1.0", "ghcr.io", "org/team/app", "1.0", "",
       "ghcr.io/org/team/app:1.0"},
      {"registry.example.com/app", "registry.example.com", "app", "", "",
       "registry.example.com/app"},
      // Domains keep their case; an uppercase first component is a domain, as in dockerd.
      {"Registry.Example.com/app", "Registry.Example.com", "app", "", "",
       "Registry.Example.com/app"},
      {"Foo/bar", "Foo", "bar", "", "", "Foo/bar"},
      {"my-registry:443/a", "my-registry:443", "a", "", "", "my-registry:443/a"},
      // Separators inside path components.
      {"a.b_c__d---e", "docker.io", "library/a.b_c__d---e", "", "", "a.b_c__d---e"},
      // Tags allow uppercase, '.', '-' and '_'.
      {"app:V1.2_rc-3", "docker.io", "library/app", "V1.2_rc-3", "", "app:V1.2_rc-3"},
      {"app:_x", "docker.io", "library/app", "_x", "", "app:_x"},
      // A deeper path under library/ is not an official image: it keeps the namespace.
      {"library/a/b", "docker.io", "library/a/b", "", "", "library/a/b"},
      // dockerd reads a bare "sha256:<hex>" as repository "sha256" with a tag.
      {"sha256:" + kHex64, "docker.io", "library/sha256", kHex64, "", "sha256:" + kHex64},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    Reference ref = parse_reference(c.input);
    EXPECT_EQ(ref.domain, c.domain);
    EXPECT_EQ(ref.path, c.path);
    EXPECT_EQ(ref.tag, c.tag);
    EXPECT_EQ(ref.digest, c.digest);
    EXPECT_EQ(ref.familiar(), c.familiar);
    // The familiar form reads back as the same reference.
    Reference again = parse_reference(ref.familiar());
    EXPECT_EQ(again.str(), ref.str());
    EXPECT_EQ(parse_reference(ref.str()).str(), ref.str());
  }
}

TEST(Reference, StringForms) {
  Reference ref = parse_reference("busybox:1.36");
  EXPECT_EQ(ref.name(), "docker.io/library/busybox");
  EXPECT_EQ(ref.str(), "docker.io/library/busybox:1.36");
  EXPECT_EQ(ref.familiar_name(), "busybox");
  EXPECT_EQ(ref.familiar_tagged(), "busybox:1.36");
  EXPECT_THROW(ref.familiar_digested(), Error);

  Reference both = parse_reference("localhost:5000/team/app:1@" + kDigest);
  EXPECT_EQ(both.name(), "localhost:5000/team/app");
  EXPECT_EQ(both.str(), "localhost:5000/team/app:1@" + kDigest);
  EXPECT_EQ(both.familiar_name(), "localhost:5000/team/app");
  EXPECT_EQ(both.familiar_tagged(), "localhost:5000/team/app:1");
  EXPECT_EQ(both.familiar_digested(), "localhost:5000/team/app@" + kDigest);

  Reference digested = parse_reference("team/app@" + kDigest);
  EXPECT_EQ(digested.familiar_digested(), "team/app@" + kDigest);
  EXPECT_THROW(digested.familiar_tagged(), Error);
}

TEST(Reference, DefaultTag) {
  EXPECT_EQ(with_default_tag(parse_reference("busybox")).str(), "docker.io/library/busybox:latest");
  EXPECT_EQ(with_default_tag(parse_reference("busybox:1")).tag, "1");
  Reference digested = with_default_tag(parse_reference("busybox@" + kDigest));
  EXPECT_EQ(digested.tag, "");
  EXPECT_EQ(digested.digest, kDigest);
}

void expect_invalid(const std::string& input, const std::string& message) {
  SCOPED_TRACE(input);
  try {
    parse_reference(input);
    ADD_FAILURE() << "parsed";
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

TEST(Reference, RejectsBadFormat) {
  const std::string invalid = "invalid reference format";
  const std::string bad_inputs[] = {
      "",
      "a:b:c",
      "-a",
      "a-",
      "a//b",
      "a/",
      "/a",
      ":tag",
      "@" + kDigest,
      "a..b",
      "a___b",
      "a_-b",
      "x@sha256:short",
      "x@sha256:" + kHex64.substr(0, 31),
      "x@:" + kHex64,
      "x@1sha:" + kHex64,
      "x@sha256:" + kHex64 + "zz",
      "x:",
      "x:.tag",
      "x:-tag",
      "x:" + std::string(129, 't'),
      "x@",
      "localhost:/x",
      "localhost:port/x",
      "-host.com/x",
      "host-.com/x",
      "[::1/x",
      "[]/x",
      "[::1]x/y",
      "[::g]/x",
      "a b",
      "a\tb",
      "café",
  };
  for (const auto& bad : bad_inputs) {
    expect_invalid(bad, invalid);
  }
}

// dockerd's grammar would reread "ho_st.com/x" as a path without any domain; sockerless
// refuses it rather than carry a reference with no registry.
TEST(Reference, RejectsFirstComponentThatIsNeitherDomainNorPlainPath) {
  expect_invalid("ho_st.com/x", "invalid reference format");
}

TEST(Reference, MaxTagLength) {
  EXPECT_EQ(parse_reference("x:" + std::string(128, 't')).tag.size(), 128u);
}

TEST(Reference, UppercaseRepositoryUsesDockerdMessage) {
  expect_invalid("UPPER",
                 "invalid reference format: repository name (library/UPPER) must be lowercase");
  expect_invalid("Busybox:1",
                 "invalid reference format: repository name (library/Busybox) must be lowercase");
  expect_invalid("team/App",
                 "invalid reference format: repository name (team/App) must be lowercase");
  expect_invalid("localhost:5000/Foo:tag",
                 "invalid reference format: repository name (Foo) must be lowercase");
  // dockerd cuts at the first ':', which for a digest lies inside it.
  expect_invalid(
      "Foo@" + kDigest,
      "invalid reference format: repository name (library/Foo@sha256) must be lowercase");
}

TEST(Reference, DigestErrorsUseGoDigestMessages) {
  expect_invalid("x@sha256:" + kHex64 + "00", "invalid checksum digest length");
  expect_invalid("x@md5:" + kHex64, "unsupported digest algorithm");
  std::string upper = kHex64;
  upper[0] = 'A';
  upper[10] = 'F';
  expect_invalid("x@sha256:" + upper, "invalid checksum digest format");
  EXPECT_EQ(parse_reference("x@sha512:" + kHex64 + kHex64).digest, "sha512:" + kHex64 + kHex64);
}

TEST(Reference, RejectsImageIdAsName) {
  expect_invalid(kHex64, "invalid repository name (" + kHex64 +
                             "), cannot specify 64-byte hexadecimal strings");
  // Shorter hex strings are valid names.
  EXPECT_EQ(parse_reference(kHex64.substr(0, 12)).path, "library/" + kHex64.substr(0, 12));
}

TEST(Reference, NameLengthLimit) {
  // docker.io/library/ is 18 characters; the name may total 255.
  std::string fits(255 - 18, 'a');
  EXPECT_EQ(parse_reference(fits).name().size(), 255u);
  expect_invalid(fits + "a", "repository name must not be more than 255 characters");
  std::string domain = "r.example.com/";
  expect_invalid(domain + std::string(255 - domain.size() + 1, 'b') + ":tag",
                 "repository name must not be more than 255 characters");
}

TEST(Reference, LooksLikeId) {
  EXPECT_TRUE(looks_like_id(kHex64));
  EXPECT_TRUE(looks_like_id(kDigest));
  EXPECT_TRUE(looks_like_id("sha256:0123ab"));
  EXPECT_TRUE(looks_like_id("0"));
  EXPECT_TRUE(looks_like_id("abc123"));
  EXPECT_TRUE(looks_like_id("deadbeef"));
  EXPECT_FALSE(looks_like_id(""));
  EXPECT_FALSE(looks_like_id("sha256:"));
  EXPECT_FALSE(looks_like_id(kHex64 + "0"));
  EXPECT_FALSE(looks_like_id("ABC123"));
  EXPECT_FALSE(looks_like_id("busybox"));
  EXPECT_FALSE(looks_like_id("abc:1"));
  EXPECT_FALSE(looks_like_id("sha512:abc"));
}

TEST(Reference, ValidTag) {
  EXPECT_TRUE(valid_tag("latest"));
  EXPECT_TRUE(valid_tag("1.36.1-musl_x"));
  EXPECT_TRUE(valid_tag("_private"));
  EXPECT_TRUE(valid_tag("UPPER"));
  EXPECT_TRUE(valid_tag(std::string(128, 'a')));
  EXPECT_FALSE(valid_tag(""));
  EXPECT_FALSE(valid_tag(".hidden"));
  EXPECT_FALSE(valid_tag("-dash"));
  EXPECT_FALSE(valid_tag("a:b"));
  EXPECT_FALSE(valid_tag("a/b"));
  EXPECT_FALSE(valid_tag("a@b"));
  EXPECT_FALSE(valid_tag(std::string(129, 'a')));
}

TEST(Reference, ValidDigest) {
  EXPECT_TRUE(valid_digest(kDigest));
  EXPECT_TRUE(valid_digest("sha512:" + kHex64 + kHex64));
  EXPECT_FALSE(valid_digest(""));
  EXPECT_FALSE(valid_digest(kHex64));
  EXPECT_FALSE(valid_digest("sha256:" + kHex64.substr(1)));
  EXPECT_FALSE(valid_digest("sha256:" + kHex64 + "0"));
  EXPECT_FALSE(valid_digest("sha512:" + kHex64));
  EXPECT_FALSE(valid_digest("sha384:" + kHex64));
  EXPECT_FALSE(valid_digest("SHA256:" + kHex64));
  std::string upper = kHex64;
  upper[5] = 'A';
  EXPECT_FALSE(valid_digest("sha256:" + upper));
  std::string bad = kHex64;
  bad[5] = 'g';
  EXPECT_FALSE(valid_digest("sha256:" + bad));
}

TEST(Reference, RegistryHost) {
  EXPECT_EQ(registry_host("docker.io"), "registry-1.docker.io");
  EXPECT_EQ(registry_host("index.docker.io"), "registry-1.docker.io");
  EXPECT_EQ(registry_host("ghcr.io"), "ghcr.io");
  EXPECT_EQ(registry_host("localhost:5000"), "localhost:5000");
  EXPECT_EQ(registry_host(parse_reference("busybox").domain), "registry-1.docker.io");
}

}  // namespace
}  // namespace sockerless::image
