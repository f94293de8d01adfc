// The registry's protocol parts that need no state: paths, ranges, names, passwords.
#include <openssl/crypto.h>

#include <vector>

#include "cloud/aws/sigv4.h"
#include "image/reference.h"
#include "sims/common/registry.h"

namespace sockerless::sims {

bool valid_repository_name(std::string_view name) {
  if (name.size() < 2) return false;
  // The reference grammar's path rules, as the image module checks them: a name under the
  // shortest domain must come back as exactly that path, without tag or digest. (Docker's
  // 255 characters for domain and path together leave 251 for the path.)
  try {
    image::Reference ref = image::parse_reference("a.b/" + std::string(name));
    return ref.path == name && ref.tag.empty() && ref.digest.empty();
  } catch (const std::exception&) {
    return false;
  }
}

std::optional<ByteRange> parse_content_range(std::string_view v) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
      s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
      s.remove_suffix(1);
    return s;
  };
  v = trim(v);
  if (v.substr(0, 5) == "bytes") v = trim(v.substr(v.size() > 5 && v[5] == '=' ? 6 : 5));
  if (auto slash = v.find('/'); slash != std::string_view::npos) v = v.substr(0, slash);
  auto number = [](std::string_view s) -> std::optional<std::uint64_t> {
    if (s.empty() || s.size() > 19) return std::nullopt;
    std::uint64_t n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
  };
  auto dash = v.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto first = number(v.substr(0, dash)), last = number(v.substr(dash + 1));
  if (!first || !last || *last < *first) return std::nullopt;
  return ByteRange{*first, *last};
}

RegistryPath parse_registry_path(std::string_view path) {
  RegistryPath p;
  if (path == "/v2" || path == "/v2/") {
    p.kind = RegistryPath::Base;
    return p;
  }
  if (path.substr(0, 4) != "/v2/") return p;
  path.remove_prefix(4);
  std::vector<std::string_view> seg;
  for (;;) {
    auto slash = path.find('/');
    seg.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  std::size_t n = seg.size();
  auto repo = [&](std::size_t count) {
    std::string r;
    for (std::size_t i = 0; i < count; ++i)
      r += (i ? "/" : "") + std::string(seg[i]);
    return r;
  };
  auto set = [&](RegistryPath::Kind kind, std::size_t repo_segments, std::string_view ref) {
    if (repo_segments == 0) return;
    p.kind = kind;
    p.repo = repo(repo_segments);
    p.reference = std::string(ref);
  };
  if (n >= 3 && seg[n - 2] == "tags" && seg[n - 1] == "list")
    set(RegistryPath::Tags, n - 2, "");
  else if (n >= 3 && seg[n - 2] == "manifests")
    set(RegistryPath::Manifest, n - 2, seg[n - 1]);
  else if (n >= 3 && seg[n - 2] == "blobs" && seg[n - 1] == "uploads")
    set(RegistryPath::UploadStart, n - 2, "");
  else if (n >= 4 && seg[n - 3] == "blobs" && seg[n - 2] == "uploads")
    set(seg[n - 1].empty() ? RegistryPath::UploadStart : RegistryPath::Upload, n - 3, seg[n - 1]);
  else if (n >= 3 && seg[n - 2] == "blobs")
    set(RegistryPath::Blob, n - 2, seg[n - 1]);
  return p;
}

namespace {

std::string password_payload(std::int64_t expires_at) {
  return "sockerless-sim registry password, expires " + std::to_string(expires_at);
}

}  // namespace

std::string sign_password(std::string_view secret, std::int64_t expires_at) {
  return std::to_string(expires_at) + "." +
         cloud::aws::signature_hex(secret, password_payload(expires_at));
}

std::optional<std::int64_t> password_expiry(std::string_view secret, std::string_view password) {
  auto dot = password.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 18) return std::nullopt;
  std::int64_t expires = 0;
  for (char c : password.substr(0, dot)) {
    if (c < '0' || c > '9') return std::nullopt;
    expires = expires * 10 + (c - '0');
  }
  std::string expected = cloud::aws::signature_hex(secret, password_payload(expires));
  std::string_view given = password.substr(dot + 1);
  if (given.size() != expected.size() ||
      CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0)
    return std::nullopt;
  return expires;
}

}  // namespace sockerless::sims
