#include "image/manifest.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/errors.h"
#include "image/changes.h"

namespace sockerless::image {
namespace {

const char* kIndex = R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:aaaa", "size": 1,
     "platform": {"os": "linux", "architecture": "amd64"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:bbbb", "size": 1,
     "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:cccc", "size": 1,
     "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}
  ]})";

TEST(Platform, Parses) {
  auto p = parse_platform("linux/arm64");
  EXPECT_EQ(p.architecture, "arm64");
  EXPECT_EQ(p.variant, "v8");
  EXPECT_EQ(parse_platform("linux/arm/v7").variant, "v7");
  EXPECT_EQ(parse_platform("linux/x86_64").architecture, "amd64");
  EXPECT_EQ(parse_platform("").os, "linux");
  EXPECT_THROW(parse_platform("linux//"), InvalidArgument);
  EXPECT_THROW(parse_platform("a/b/c/d"), InvalidArgument);
}

TEST(Platform, SelectsFromIndex) {
  auto entries = parse_index(kIndex);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(select_platform(entries, parse_platform("linux/amd64")).descriptor.digest,
            "sha256:aaaa");
  EXPECT_EQ(select_platform(entries, parse_platform("linux/arm64")).descriptor.digest,
            "sha256:bbbb");
  EXPECT_EQ(select_platform(entries, parse_platform("linux/arm64/v8")).descriptor.digest,
            "sha256:bbbb");
  EXPECT_EQ(select_platform(entries, parse_platform("linux/arm/v7")).descriptor.digest,
            "sha256:cccc");
  try {
    select_platform(entries, parse_platform("linux/s390x"));
    FAIL();
  } catch (const NotFound& e) {
    EXPECT_STREQ(e.what(), "no matching manifest for linux/s390x in the manifest list entries");
  }
  EXPECT_THROW(select_platform(entries, parse_platform("linux/arm/v6")), NotFound);
}

TEST(Manifest, ParsesAndRejects) {
  auto m = parse_manifest(
      R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
    "config":{"mediaType":"x","digest":"sha256:c","size":3},"layers":[{"mediaType":"l","digest":"sha256:l","size":9}]})");
  EXPECT_EQ(m.config.digest, "sha256:c");
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].size, 9);
  EXPECT_THROW(parse_manifest(R"({"schemaVersion":1})"), InvalidArgument);
  EXPECT_THROW(parse_manifest("not json"), InvalidArgument);
  EXPECT_THROW(parse_index(R"({"schemaVersion":2})"), InvalidArgument);
}

TEST(Changes, AppliesDockerfileInstructions) {
  nlohmann::json c = {{"Env", {"PATH=/bin", "A=1"}}};
  apply_changes(c, {"CMD [\"/bin/sh\",\"-c\",\"x\"]", "ENTRYPOINT top -b",
                    "ENV A=2 B=\"two words\"", "EXPOSE 80 53/udp", "LABEL a=b", "USER app",
                    "WORKDIR /w", "VOLUME /data", "STOPSIGNAL SIGINT"});
  EXPECT_EQ(c["Cmd"], nlohmann::json({"/bin/sh", "-c", "x"}));
  EXPECT_EQ(c["Entrypoint"], nlohmann::json({"/bin/sh", "-c", "top -b"}));
  EXPECT_EQ(c["Env"], nlohmann::json({"PATH=/bin", "A=2", "B=two words"}));
  EXPECT_TRUE(c["ExposedPorts"].contains("80/tcp"));
  EXPECT_TRUE(c["ExposedPorts"].contains("53/udp"));
  EXPECT_EQ(c["Labels"]["a"], "b");
  EXPECT_EQ(c["User"], "app");
  EXPECT_EQ(c["WorkingDir"], "/w");
  EXPECT_TRUE(c["Volumes"].contains("/data"));
  EXPECT_EQ(c["StopSignal"], "SIGINT");
  EXPECT_THROW(apply_changes(c, {"RUN echo"}), InvalidArgument);
  EXPECT_THROW(apply_changes(c, {"ENV"}), InvalidArgument);
}

}  // namespace
}  // namespace sockerless::image
