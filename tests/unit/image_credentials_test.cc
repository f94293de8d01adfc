#include "image/credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/errors.h"

namespace sockerless::image {
namespace {

using nlohmann::json;

std::string header_for(const json& object) {
  return base64_encode(object.dump());
}

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), plain);
  }
}

TEST(Base64, DecodesBothAlphabetsAndMissingPadding) {
  EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(base64_decode("+/8="), "\xfb\xff");
  EXPECT_EQ(base64_decode("-_8="), "\xfb\xff");
  EXPECT_EQ(base64_decode("-_8"), "\xfb\xff");
  EXPECT_EQ(base64_decode("Zm9vYg"), "foob");
  EXPECT_EQ(base64_decode("Zm9vYmE"), "fooba");
  EXPECT_EQ(base64_decode("Zm9v\r\nYmFy"), "foobar");
}

TEST(Base64, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i)
    all += static_cast<char>(i);
  for (std::size_t len = 0; len <= all.size(); len += 37) {
    std::string part = all.substr(0, len);
    EXPECT_EQ(base64_decode(base64_encode(part)), part);
  }
}

TEST(Base64, RejectsBadInput) {
  for (const char* bad :
       {"Zm9v!", "Z", "Zm9vY", "Zm=9", "Zg===", "Zg=", "====", "Zm 9v", "Zm9v\t"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(base64_decode(bad), InvalidArgument);
  }
}

TEST(RegistryAuth, EmptyHeaderIsEmptyConfig) {
  EXPECT_TRUE(decode_registry_auth("").empty());
}

TEST(RegistryAuth, RoundTrip) {
  AuthConfig auth;
  auth.username = "alice";
  auth.password = "p@ss:word/+?";
  auth.identity_token = "idtok";
  auth.registry_token = "regtok";
  auth.server_address = "https://index.docker.io/v1/";
  std::string header = encode_registry_auth(auth);
  // base64url: no '+' or '/' in the header.
  EXPECT_EQ(header.find_first_of("+/"), std::string::npos);
  AuthConfig back = decode_registry_auth(header);
  EXPECT_EQ(back.username, auth.username);
  EXPECT_EQ(back.password, auth.password);
  EXPECT_EQ(back.identity_token, auth.identity_token);
  EXPECT_EQ(back.registry_token, auth.registry_token);
  EXPECT_EQ(back.server_address, auth.server_address);
}

TEST(RegistryAuth, EncodeLeavesOutEmptyFields) {
  AuthConfig auth;
  auth.username = "u";
  json object = json::parse(base64_decode(encode_registry_auth(auth)));
  EXPECT_EQ(object, (json{{"username", "u"}}));
  EXPECT_EQ(json::parse(base64_decode(encode_registry_auth({}))), json::object());
}

TEST(RegistryAuth, AcceptsStandardAndUnpaddedUrlAlphabets) {
  // This JSON encodes with a '+' in standard base64 and '-' in base64url.
  const std::string standard = "eyJwYXNzd29yZCI6InA+P34iLCJ1c2VybmFtZSI6InUifQ==";
  const std::string url_unpadded = "eyJwYXNzd29yZCI6InA-P34iLCJ1c2VybmFtZSI6InUifQ";
  for (const auto& header : {standard, url_unpadded}) {
    AuthConfig auth = decode_registry_auth(header);
    EXPECT_EQ(auth.username, "u");
    EXPECT_EQ(auth.password, "p>?~");
  }
}

TEST(RegistryAuth, KeysAreCaseInsensitive) {
  AuthConfig auth = decode_registry_auth(header_for({{"Username", "a"},
                                                     {"PASSWORD", "b"},
                                                     {"ServerAddress", "reg.example.com"},
                                                     {"IdentityToken", "t"},
                                                     {"registryToken", "r"},
                                                     {"email", "ignored@example.com"}}));
  EXPECT_EQ(auth.username, "a");
  EXPECT_EQ(auth.password, "b");
  EXPECT_EQ(auth.server_address, "reg.example.com");
  EXPECT_EQ(auth.identity_token, "t");
  EXPECT_EQ(auth.registry_token, "r");
}

TEST(RegistryAuth, AuthFieldFillsUsernameAndPassword) {
  AuthConfig auth = decode_registry_auth(header_for({{"auth", base64_encode("bob:pa:ss")}}));
  EXPECT_EQ(auth.username, "bob");
  EXPECT_EQ(auth.password, "pa:ss");

  // Explicit fields win over "auth".
  AuthConfig explicit_fields = decode_registry_auth(header_for(
      {{"username", "carol"}, {"password", "pw"}, {"auth", base64_encode("bob:other")}}));
  EXPECT_EQ(explicit_fields.username, "carol");
  EXPECT_EQ(explicit_fields.password, "pw");

  // Nulls are absent fields, as in Go.
  AuthConfig nulls = decode_registry_auth(header_for({{"username", nullptr}, {"auth", nullptr}}));
  EXPECT_TRUE(nulls.empty());
  EXPECT_TRUE(decode_registry_auth(base64_encode("null")).empty());
}

void expect_invalid_header(const std::string& header, const std::string& secret) {
  try {
    decode_registry_auth(header);
    ADD_FAILURE() << "decoded " << header;
  } catch (const InvalidArgument& e) {
    std::string message = e.what();
    EXPECT_TRUE(message.starts_with("invalid X-Registry-Auth header")) << message;
    if (!secret.empty()) {
      EXPECT_EQ(message.find(secret), std::string::npos) << message;
    }
  }
}

TEST(RegistryAuth, RejectsWhatIsNotBase64OfAJsonObject) {
  expect_invalid_header("!!!not base64!!!", "");
  expect_invalid_header(base64_encode("[1,2]"), "");
  expect_invalid_header(base64_encode("\"string\""), "");
  expect_invalid_header(base64_encode(R"({"username":"u","password":"hunter2")"), "hunter2");
  expect_invalid_header(header_for({{"username", 5}, {"password", "hunter2"}}), "hunter2");
  expect_invalid_header(header_for({{"auth", "hunter2-not-base64!"}}), "hunter2");
  expect_invalid_header(header_for({{"auth", base64_encode("hunter2-no-colon")}}), "hunter2");
}

TEST(ConfigKey, DockerHubAndOthers) {
  EXPECT_EQ(config_key_for("docker.io"), "https://index.docker.io/v1/");
  EXPECT_EQ(config_key_for("index.docker.io"), "https://index.docker.io/v1/");
  EXPECT_EQ(config_key_for("ghcr.io"), "ghcr.io");
  EXPECT_EQ(config_key_for("localhost:5000"), "localhost:5000");
}

// The message lookup_docker_config throws with; a failure when it does not throw.
std::string lookup_error(const std::string& path, std::string_view domain) {
  try {
    lookup_docker_config(path, domain);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception for " << domain;
  return {};
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// A temporary directory holding a config.json and fake docker-credential-* helpers, put
// first on PATH for the test.
class DockerConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "sockerless-cred-XXXXXX");
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    const char* path = std::getenv("PATH");
    had_path_ = path != nullptr;
    if (had_path_) old_path_ = path;
    std::string new_path = dir_.string() + (had_path_ ? ":" + old_path_ : "");
    ::setenv("PATH", new_path.c_str(), 1);

    // The protocol: the server URL on stdin (no newline), JSON on stdout, and on failure
    // the message on stdout and a non-zero exit.
    write_helper("fake", R"(
read -r url || true
echo "$url" >> "$(dirname "$0")/fake.log"
case "$url" in
  ghcr.io) printf '{"ServerURL":"ghcr.io","Username":"octo","Secret":"s3cret-ghcr"}' ;;
  https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"hubuser","Secret":"hubpass"}' "$url" ;;
  token.example.com) printf '{"ServerURL":"token.example.com","Username":"<token>","Secret":"refresh-tok"}' ;;
  lower.example.com) printf '{"serverurl":"x","username":"low","secret":"er"}' ;;
  broken.example.com) echo "error: keychain is locked"; exit 1 ;;
  stderr.example.com) echo "credentials not found in native keychain" >&2; exit 1 ;;
  quiet.example.com) echo "gpg: decryption failed" >&2; exit 3 ;;
  garbage.example.com) printf 'not json s3cret-leak'; exit 0 ;;
  empty.example.com) printf '{"ServerURL":"","Username":"","Secret":""}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
)");
    write_helper("other", R"(
read -r url || true
printf '{"ServerURL":"%s","Username":"from-other","Secret":"other-pass"}' "$url"
)");
  }

  void TearDown() override {
    if (had_path_) {
      ::setenv("PATH", old_path_.c_str(), 1);
    } else {
      ::unsetenv("PATH");
    }
    std::filesystem::remove_all(dir_);
  }

  void write_helper(const std::string& name, const std::string& body) {
    std::filesystem::path file = dir_ / ("docker-credential-" + name);
    std::ofstream(file) << "#!/bin/sh\n" << body;
    ::chmod(file.c_str(), 0755);
  }

  std::string write_config(const json& config) {
    std::filesystem::path file = dir_ / "config.json";
    std::ofstream(file) << config.dump(2);
    return file.string();
  }

  std::string fake_log() {
    std::ifstream in(dir_ / "fake.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::filesystem::path dir_;
  std::string old_path_;
  bool had_path_ = false;
};

TEST_F(DockerConfigTest, MissingFileIsNothingStored) {
  EXPECT_EQ(lookup_docker_config((dir_ / "absent.json").string(), "docker.io"), std::nullopt);
}

TEST_F(DockerConfigTest, InvalidJsonThrowsWithoutQuotingIt) {
  std::string path = dir_ / "config.json";
  std::ofstream(path) << R"({"auths": {"ghcr.io": {"auth": "c2VjcmV0LXBhc3M="} )";
  std::string message = lookup_error(path, "ghcr.io");
  EXPECT_FALSE(message.empty());
  EXPECT_FALSE(contains(message, "c2VjcmV0")) << message;
}

TEST_F(DockerConfigTest, AuthsEntries) {
  std::string path =
      write_config({{"auths",
                     {{"https://index.docker.io/v1/", {{"auth", base64_encode("hub:hubpw")}}},
                      {"localhost:5000", {{"auth", base64_encode("local:localpw")}}},
                      {"https://legacy.example.com/v1/", {{"auth", base64_encode("legacy:pw")}}},
                      {"http://plain.example.com", {{"auth", base64_encode("plain:pw")}}},
                      {"v2.example.com/v2/", {{"auth", base64_encode("v2:pw")}}},
                      {"token.example.com", {{"identitytoken", "refresh"}}},
                      {"placeholder.example.com", json::object()}}}});

  auto hub = lookup_docker_config(path, "docker.io");
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub->username, "hub");
  EXPECT_EQ(hub->password, "hubpw");
  EXPECT_EQ(hub->server_address, "https://index.docker.io/v1/");

  auto local = lookup_docker_config(path, "localhost:5000");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->username, "local");
  EXPECT_EQ(local->server_address, "localhost:5000");

  EXPECT_EQ(lookup_docker_config(path, "legacy.example.com")->username, "legacy");
  EXPECT_EQ(lookup_docker_config(path, "plain.example.com")->username, "plain");
  EXPECT_EQ(lookup_docker_config(path, "v2.example.com")->username, "v2");
  EXPECT_EQ(lookup_docker_config(path, "token.example.com")->identity_token, "refresh");
  EXPECT_EQ(lookup_docker_config(path, "placeholder.example.com"), std::nullopt);
  EXPECT_EQ(lookup_docker_config(path, "ghcr.io"), std::nullopt);
  // A port is part of the key.
  EXPECT_EQ(lookup_docker_config(path, "localhost:5001"), std::nullopt);
}

TEST_F(DockerConfigTest, LegacyDockerHubKeysMatch) {
  std::string path =
      write_config({{"auths", {{"index.docker.io", {{"auth", base64_encode("old:pw")}}}}}});
  auto hub = lookup_docker_config(path, "docker.io");
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub->username, "old");
}

TEST_F(DockerConfigTest, CredsStoreHelper) {
  std::string path = write_config(
      {{"credsStore", "fake"},
       {"auths",
        {{"ghcr.io", json::object()}, {"localhost:5000", {{"auth", base64_encode("a:b")}}}}}});
  auto ghcr = lookup_docker_config(path, "ghcr.io");
  ASSERT_TRUE(ghcr);
  EXPECT_EQ(ghcr->username, "octo");
  EXPECT_EQ(ghcr->password, "s3cret-ghcr");
  EXPECT_EQ(ghcr->server_address, "ghcr.io");

  auto hub = lookup_docker_config(path, "docker.io");
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub->username, "hubuser");
  EXPECT_EQ(hub->password, "hubpass");

  // The helper is asked with the config key on stdin.
  EXPECT_EQ(fake_log(), "ghcr.io\nhttps://index.docker.io/v1/\n");

  // As with the CLI, a credsStore replaces "auths": nothing there is used.
  EXPECT_EQ(lookup_docker_config(path, "localhost:5000"), std::nullopt);
}

TEST_F(DockerConfigTest, IdentityTokenFromHelper) {
  std::string path = write_config({{"credsStore", "fake"}});
  auto token = lookup_docker_config(path, "token.example.com");
  ASSERT_TRUE(token);
  EXPECT_EQ(token->username, "");
  EXPECT_EQ(token->password, "");
  EXPECT_EQ(token->identity_token, "refresh-tok");
}

TEST_F(DockerConfigTest, HelperAnswerKeysAreCaseInsensitive) {
  std::string path = write_config({{"credsStore", "fake"}});
  auto lower = lookup_docker_config(path, "lower.example.com");
  ASSERT_TRUE(lower);
  EXPECT_EQ(lower->username, "low");
  EXPECT_EQ(lower->password, "er");
}

TEST_F(DockerConfigTest, HelperNotFoundIsNothingStored) {
  std::string path = write_config({{"credsStore", "fake"}});
  EXPECT_EQ(lookup_docker_config(path, "unknown.example.com"), std::nullopt);
  EXPECT_EQ(lookup_docker_config(path, "stderr.example.com"), std::nullopt);
  EXPECT_EQ(lookup_docker_config(path, "empty.example.com"), std::nullopt);
}

TEST_F(DockerConfigTest, HelperFailureThrowsWithItsMessage) {
  std::string path = write_config({{"credsStore", "fake"}});
  std::string stdout_message = lookup_error(path, "broken.example.com");
  EXPECT_TRUE(contains(stdout_message, "error: keychain is locked")) << stdout_message;
  EXPECT_TRUE(contains(stdout_message, "exit status 1")) << stdout_message;
  // With nothing on stdout, stderr carries the message.
  std::string stderr_message = lookup_error(path, "quiet.example.com");
  EXPECT_TRUE(contains(stderr_message, "gpg: decryption failed")) << stderr_message;
  EXPECT_TRUE(contains(stderr_message, "exit status 3")) << stderr_message;
}

TEST_F(DockerConfigTest, UnparseableHelperAnswerDoesNotLeakIt) {
  std::string path = write_config({{"credsStore", "fake"}});
  std::string message = lookup_error(path, "garbage.example.com");
  EXPECT_FALSE(message.empty());
  EXPECT_FALSE(contains(message, "s3cret-leak")) << message;
}

TEST_F(DockerConfigTest, CredHelpersTakePrecedenceOverCredsStore) {
  std::string path = write_config({{"credsStore", "fake"},
                                   {"credHelpers", {{"ghcr.io", "other"}}},
                                   {"auths", {{"ghcr.io", {{"auth", base64_encode("a:b")}}}}}});
  auto ghcr = lookup_docker_config(path, "ghcr.io");
  ASSERT_TRUE(ghcr);
  EXPECT_EQ(ghcr->username, "from-other");
  EXPECT_EQ(ghcr->password, "other-pass");
  // Other registries still go to credsStore.
  EXPECT_EQ(lookup_docker_config(path, "docker.io")->username, "hubuser");
}

TEST_F(DockerConfigTest, CredHelpersForDockerHub) {
  std::string path = write_config(
      {{"credHelpers", {{"https://index.docker.io/v1/", "other"}}},
       {"auths", {{"https://index.docker.io/v1/", {{"auth", base64_encode("a:b")}}}}}});
  auto hub = lookup_docker_config(path, "docker.io");
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub->username, "from-other");
  // Without a matching credHelpers entry and no credsStore, "auths" applies.
  std::string ghcr_path =
      write_config({{"credHelpers", {{"gcr.io", "other"}}},
                    {"auths", {{"ghcr.io", {{"auth", base64_encode("gh:pw")}}}}}});
  EXPECT_EQ(lookup_docker_config(ghcr_path, "ghcr.io")->username, "gh");
}

TEST_F(DockerConfigTest, HelperThatIgnoresStdinAndFloodsStderr) {
  // Never reading stdin must not raise SIGPIPE in the daemon, and 256 KiB on stderr (more
  // than a pipe holds) must not stall the helper while its stdout is awaited.
  write_helper("noisy", R"(
head -c 262144 /dev/zero | tr '\0' x >&2
printf '{"Username":"noisy","Secret":"pw"}'
)");
  std::string path = write_config({{"credsStore", "noisy"}});
  auto found = lookup_docker_config(path, "ghcr.io");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->username, "noisy");
}

TEST_F(DockerConfigTest, MissingOrInvalidHelperThrows) {
  std::string missing = write_config({{"credsStore", "does-not-exist"}});
  std::string message = lookup_error(missing, "ghcr.io");
  EXPECT_TRUE(contains(message, "docker-credential-does-not-exist")) << message;
  std::string traversal = write_config({{"credsStore", "../../bin/sh"}});
  EXPECT_THROW(lookup_docker_config(traversal, "ghcr.io"), std::runtime_error);
}

}  // namespace
}  // namespace sockerless::image
