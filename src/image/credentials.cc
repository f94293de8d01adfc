#include "image/credentials.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "image/credentials_helper.h"
#include "image/reference.h"

namespace sockerless::image {
namespace {

using nlohmann::json;

constexpr std::string_view kStdAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view kDockerHubConfigKey = "https://index.docker.io/v1/";

std::string encode_with(std::string_view data, std::string_view alphabet) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    std::uint32_t n = static_cast<std::uint8_t>(data[i]) << 16 |
                      static_cast<std::uint8_t>(data[i + 1]) << 8 |
                      static_cast<std::uint8_t>(data[i + 2]);
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += alphabet[n >> 6 & 63];
    out += alphabet[n & 63];
  }
  std::size_t rest = data.size() - i;
  if (rest > 0) {
    std::uint32_t n = static_cast<std::uint8_t>(data[i]) << 16;
    if (rest == 2) n |= static_cast<std::uint8_t>(data[i + 1]) << 8;
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += rest == 2 ? alphabet[n >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

// Both alphabets decode to the same values, so one table serves base64 and base64url.
constexpr std::array<std::int8_t, 256> make_decode_table() {
  std::array<std::int8_t, 256> table{};
  table.fill(-1);
  for (std::size_t i = 0; i < 64; ++i) {
    table[static_cast<std::uint8_t>(kStdAlphabet[i])] = static_cast<std::int8_t>(i);
    table[static_cast<std::uint8_t>(kUrlAlphabet[i])] = static_cast<std::int8_t>(i);
  }
  return table;
}
constexpr std::array<std::int8_t, 256> kDecodeTable = make_decode_table();

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Fills an AuthConfig from the JSON the CLI writes. Go's encoding/json matches keys to
// fields case-insensitively, and clients rely on it ("Username" and "username" both
// occur), so keys are compared lower-cased. Messages never include values.
AuthConfig auth_config_from_json(const json& object) {
  AuthConfig out;
  std::string auth;
  for (const auto& [key, value] : object.items()) {
    std::string name = ascii_lower(key);
    std::string* field = nullptr;
    if (name == "username") field = &out.username;
    if (name == "password") field = &out.password;
    if (name == "auth") field = &auth;
    if (name == "identitytoken") field = &out.identity_token;
    if (name == "registrytoken") field = &out.registry_token;
    if (name == "serveraddress") field = &out.server_address;
    if (field == nullptr || value.is_null()) continue;
    if (!value.is_string()) throw InvalidArgument("field \"" + key + "\" is not a string");
    *field = value.get<std::string>();
  }
  if (!auth.empty() && out.username.empty() && out.password.empty()) {
    std::string pair;
    try {
      pair = base64_decode(auth);
    } catch (const InvalidArgument&) {
      throw InvalidArgument("field \"auth\" is not base64");
    }
    std::size_t colon = pair.find(':');
    if (colon == std::string::npos) throw InvalidArgument("field \"auth\" is not user:password");
    out.username = pair.substr(0, colon);
    out.password = pair.substr(colon + 1);
    // The CLI trims NULs some old writers left after the password.
    while (!out.password.empty() && out.password.back() == '\0')
      out.password.pop_back();
  }
  return out;
}

// "https://host/v1/", "http://host", "host/v2/" -> "host".
std::string_view hostname_of_key(std::string_view key) {
  for (std::string_view scheme : {"https://", "http://"}) {
    if (key.starts_with(scheme)) {
      key.remove_prefix(scheme.size());
      break;
    }
  }
  return key.substr(0, key.find('/'));
}

bool key_matches(std::string_view key, std::string_view domain) {
  std::string_view host = hostname_of_key(key);
  if (config_key_for(domain) == kDockerHubConfigKey) {
    return host == kDefaultDomain || host == kLegacyDefaultDomain ||
           host == registry_host(kDefaultDomain);
  }
  return host == domain;
}

// The entry of `section` for `domain`: the canonical key first, then the variants older
// clients wrote.
const json* find_entry(const json& config, const char* section, std::string_view domain) {
  auto it = config.find(section);
  if (it == config.end() || !it->is_object()) return nullptr;
  auto exact = it->find(config_key_for(domain));
  if (exact != it->end()) return &*exact;
  for (const auto& [key, value] : it->items()) {
    if (key_matches(key, domain)) return &value;
  }
  return nullptr;
}

std::optional<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  }
  std::string text;
  char buffer[8192];
  while (true) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error("read " + path + ": " + std::strerror(errno));
    if (n == 0) return text;
    text.append(buffer, static_cast<std::size_t>(n));
  }
}

std::string string_field(const json& config, const char* name) {
  auto it = config.find(name);
  return it != config.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Interprets a helper's {"ServerURL","Username","Secret"} answer (keys matched as Go
// would, case-insensitively). The username "<token>" marks the secret as an identity token.
std::optional<AuthConfig> ask_helper(const std::string& helper, const std::string& key) {
  std::optional<std::string> answer = run_credential_helper_get(helper, key);
  if (!answer) return std::nullopt;
  json object = json::parse(*answer, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object()) {
    throw std::runtime_error("docker-credential-" + helper + " returned invalid credentials");
  }
  std::string username;
  std::string secret;
  for (const auto& [name, value] : object.items()) {
    if (!value.is_string()) continue;
    if (ascii_lower(name) == "username") username = value.get<std::string>();
    if (ascii_lower(name) == "secret") secret = value.get<std::string>();
  }
  if (username.empty() && secret.empty()) return std::nullopt;
  AuthConfig auth;
  if (username == "<token>") {
    auth.identity_token = secret;
  } else {
    auth.username = username;
    auth.password = secret;
  }
  auth.server_address = key;
  return auth;
}

}  // namespace

AuthConfig decode_registry_auth(std::string_view header) {
  if (header.empty()) return {};
  std::string text;
  try {
    text = base64_decode(header);
  } catch (const InvalidArgument&) {
    throw InvalidArgument("invalid X-Registry-Auth header: not base64");
  }
  json object = json::parse(text, nullptr, /*allow_exceptions=*/false);
  // Go decodes a JSON null into an untouched (empty) struct.
  if (object.is_null()) return {};
  if (object.is_discarded() || !object.is_object()) {
    throw InvalidArgument("invalid X-Registry-Auth header: not a JSON object");
  }
  try {
    return auth_config_from_json(object);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(std::string("invalid X-Registry-Auth header: ") + e.what());
  }
}

std::string encode_registry_auth(const AuthConfig& auth) {
  json object = json::object();
  // Go's omitempty: empty fields are left out.
  auto put = [&](const char* key, const std::string& value) {
    if (!value.empty()) object[key] = value;
  };
  put("username", auth.username);
  put("password", auth.password);
  put("identitytoken", auth.identity_token);
  put("registrytoken", auth.registry_token);
  put("serveraddress", auth.server_address);
  // Go's base64.URLEncoding, which the CLI uses, pads.
  return encode_with(object.dump(), kUrlAlphabet);
}

std::string config_key_for(std::string_view domain) {
  if (domain == kDefaultDomain || domain == kLegacyDefaultDomain) {
    return std::string(kDockerHubConfigKey);
  }
  return std::string(domain);
}

std::optional<AuthConfig> lookup_docker_config(const std::string& path, std::string_view domain) {
  std::optional<std::string> text = read_file(path);
  if (!text) return std::nullopt;
  json config = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  // The parser's own message quotes the text around the error, which may be a secret.
  if (config.is_discarded() || !config.is_object()) {
    throw std::runtime_error(path + ": not a JSON object");
  }
  std::string key = config_key_for(domain);

  std::string helper;
  if (const json* entry = find_entry(config, "credHelpers", domain); entry && entry->is_string()) {
    helper = entry->get<std::string>();
  }
  if (helper.empty()) helper = string_field(config, "credsStore");
  // With a helper configured the CLI never falls back to "auths": that section then holds
  // only empty placeholders.
  if (!helper.empty()) return ask_helper(helper, key);

  const json* entry = find_entry(config, "auths", domain);
  if (entry == nullptr || !entry->is_object()) return std::nullopt;
  AuthConfig auth;
  try {
    auth = auth_config_from_json(*entry);
  } catch (const InvalidArgument& e) {
    throw std::runtime_error(path + ": auths entry for " + key + ": " + e.what());
  }
  if (auth.empty()) return std::nullopt;
  if (auth.server_address.empty()) auth.server_address = key;
  return auth;
}

std::string base64_encode(std::string_view data) {
  return encode_with(data, kStdAlphabet);
}

std::string base64_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  std::uint32_t bits = 0;
  int bit_count = 0;
  std::size_t symbols = 0;
  std::size_t padding = 0;
  for (char c : text) {
    // Go's decoders skip line breaks (MIME-style wrapping).
    if (c == '\r' || c == '\n') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    std::int8_t value = kDecodeTable[static_cast<std::uint8_t>(c)];
    if (value < 0 || padding > 0) throw InvalidArgument("invalid base64 data");
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    bit_count += 6;
    ++symbols;
    if (bit_count >= 8) {
      bit_count -= 8;
      out += static_cast<char>(bits >> bit_count & 0xff);
      bits &= (1u << bit_count) - 1;
    }
  }
  // One symbol carries only 6 bits: never a whole byte.
  if (symbols % 4 == 1) throw InvalidArgument("invalid base64 data");
  if (padding > 0 && (padding > 2 || (symbols + padding) % 4 != 0)) {
    throw InvalidArgument("invalid base64 data");
  }
  return out;
}

}  // namespace sockerless::image
