#include "image/reference.h"

#include <algorithm>
#include <cstddef>
#include <string>

#include "common/errors.h"

namespace sockerless::image {
namespace {

constexpr std::size_t kNameTotalLengthMax = 255;
constexpr std::size_t kTagLengthMax = 128;
constexpr std::string_view kOfficialRepoPrefix = "library/";
constexpr std::string_view kLocalhost = "localhost";

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_lower_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f');
}
bool has_upper(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}
bool all_of(std::string_view s, bool (*pred)(char)) {
  return std::all_of(s.begin(), s.end(), pred);
}

[[noreturn]] void invalid_format() {
  throw InvalidArgument("invalid reference format");
}

// One path component: alphanumeric runs joined by ".", "_", "__" or one or more "-".
bool valid_path_component(std::string_view c) {
  if (c.empty() || !is_lower_alnum(c.front()) || !is_lower_alnum(c.back())) return false;
  for (std::size_t i = 0; i < c.size();) {
    if (is_lower_alnum(c[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < c.size() && !is_lower_alnum(c[j]))
      ++j;
    std::string_view sep = c.substr(i, j - i);
    bool dashes = all_of(sep, [](char ch) { return ch == '-'; });
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = j;
  }
  return true;
}

bool valid_path(std::string_view path) {
  while (true) {
    std::size_t slash = path.find('/');
    if (!valid_path_component(path.substr(0, slash))) return false;
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

// A DNS label as the reference grammar has it: alphanumerics with inner hyphens; case is
// allowed (domains are not lower-cased by dockerd).
bool valid_domain_label(std::string_view label) {
  if (label.empty() || !is_alnum(label.front()) || !is_alnum(label.back())) return false;
  return all_of(label, [](char c) { return is_alnum(c) || c == '-'; });
}

// host[:port] where host is dotted labels or a bracketed IPv6 literal.
bool valid_domain(std::string_view domain) {
  std::string_view host = domain;
  std::string_view port;
  if (!domain.empty() && domain.front() == '[') {
    std::size_t close = domain.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    std::string_view inner = domain.substr(1, close - 1);
    if (!all_of(inner, [](char c) { return is_hex(c) || c == ':'; })) return false;
    host = {};
    std::string_view rest = domain.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
  } else {
    std::size_t colon = domain.find(':');
    if (colon != std::string_view::npos) {
      host = domain.substr(0, colon);
      port = domain.substr(colon + 1);
      if (port.empty()) return false;
    }
    while (true) {
      std::size_t dot = host.find('.');
      if (!valid_domain_label(host.substr(0, dot))) return false;
      if (dot == std::string_view::npos) break;
      host.remove_prefix(dot + 1);
    }
  }
  return all_of(port, is_digit);
}

// The reference grammar accepts any "algorithm:hex" with 32 or more hex digits:
// [A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}
bool digest_grammar_ok(std::string_view digest) {
  std::size_t colon = digest.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  bool component_start = true;
  for (char c : digest.substr(0, colon)) {
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (component_start) {
      if (!letter) return false;
      component_start = false;
    } else if (c == '-' || c == '_' || c == '+' || c == '.') {
      component_start = true;
    } else if (!is_alnum(c)) {
      return false;
    }
  }
  std::string_view hex = digest.substr(colon + 1);
  return !component_start && hex.size() >= 32 && all_of(hex, is_hex);
}

// What go-digest (and so dockerd) says about "algorithm:hex": nullptr when it is a
// supported digest.
const char* digest_problem(std::string_view digest) {
  std::size_t colon = digest.find(':');
  if (colon == std::string_view::npos) return "invalid checksum digest format";
  std::string_view algorithm = digest.substr(0, colon);
  std::string_view hex = digest.substr(colon + 1);
  std::size_t expected = 0;
  if (algorithm == "sha256") expected = 64;
  if (algorithm == "sha512") expected = 128;
  if (expected == 0) return "unsupported digest algorithm";
  if (hex.size() != expected) return "invalid checksum digest length";
  if (!all_of(hex, is_lower_hex)) return "invalid checksum digest format";
  return nullptr;
}

std::string_view familiar_path(const Reference& ref) {
  std::string_view path = ref.path;
  if (ref.domain != kDefaultDomain) return path;
  if (path.starts_with(kOfficialRepoPrefix)) {
    std::string_view rest = path.substr(kOfficialRepoPrefix.size());
    // Only "library/<name>" is an official image; a deeper path keeps its namespace so
    // that it reads back as the same repository.
    if (rest.find('/') == std::string_view::npos) return rest;
  }
  return path;
}

// ":tag@digest", either part left out when empty.
std::string tag_and_digest(const Reference& ref) {
  std::string out;
  if (!ref.tag.empty()) out += ":" + ref.tag;
  if (!ref.digest.empty()) out += "@" + ref.digest;
  return out;
}

}  // namespace

std::string Reference::name() const {
  return domain + "/" + path;
}

std::string Reference::str() const {
  return name() + tag_and_digest(*this);
}

std::string Reference::familiar_name() const {
  if (domain == kDefaultDomain) return std::string(familiar_path(*this));
  return name();
}

std::string Reference::familiar() const {
  return familiar_name() + tag_and_digest(*this);
}

std::string Reference::familiar_tagged() const {
  if (tag.empty()) throw Internal("reference " + str() + " has no tag");
  return familiar_name() + ":" + tag;
}

std::string Reference::familiar_digested() const {
  if (digest.empty()) throw Internal("reference " + str() + " has no digest");
  return familiar_name() + "@" + digest;
}

Reference parse_reference(std::string_view text) {
  // A bare 64-hex string is an image ID, never a repository (dockerd refuses it too).
  if (text.size() == 64 && all_of(text, is_lower_hex)) {
    throw InvalidArgument("invalid repository name (" + std::string(text) +
                          "), cannot specify 64-byte hexadecimal strings");
  }

  // The first component is a domain only when it cannot be a repository path component:
  // it has a '.' or ':', is "localhost", or has uppercase letters.
  Reference ref;
  std::string remainder;
  std::size_t slash = text.find('/');
  std::string_view first = text.substr(0, slash);
  if (slash == std::string_view::npos || (first.find_first_of(".:") == std::string_view::npos &&
                                          first != kLocalhost && !has_upper(first))) {
    ref.domain = kDefaultDomain;
    remainder = text;
  } else {
    ref.domain = first;
    remainder = text.substr(slash + 1);
  }
  if (ref.domain == kLegacyDefaultDomain) ref.domain = kDefaultDomain;
  if (ref.domain == kDefaultDomain && remainder.find('/') == std::string::npos) {
    remainder.insert(0, kOfficialRepoPrefix);
  }

  // dockerd checks case on everything before the first ':' of the remainder (so a digest
  // algorithm can end up in the message) before it checks the grammar.
  std::string remote = remainder.substr(0, remainder.find(':'));
  if (has_upper(remote)) {
    throw InvalidArgument("invalid reference format: repository name (" + remote +
                          ") must be lowercase");
  }

  if (!valid_domain(ref.domain)) invalid_format();
  std::size_t path_end = remainder.find_first_of(":@");
  ref.path = remainder.substr(0, path_end);
  if (!valid_path(ref.path)) invalid_format();
  if (path_end != std::string::npos) {
    std::string_view rest = std::string_view(remainder).substr(path_end);
    if (rest.front() == ':') {
      std::size_t at = rest.find('@');
      ref.tag = rest.substr(1, at == std::string_view::npos ? at : at - 1);
      if (!valid_tag(ref.tag)) invalid_format();
      rest = at == std::string_view::npos ? std::string_view() : rest.substr(at);
    }
    if (!rest.empty()) {
      ref.digest = rest.substr(1);
      if (!digest_grammar_ok(ref.digest)) invalid_format();
    }
  }
  if (ref.name().size() > kNameTotalLengthMax) {
    throw InvalidArgument("repository name must not be more than " +
                          std::to_string(kNameTotalLengthMax) + " characters");
  }
  if (!ref.digest.empty()) {
    if (const char* problem = digest_problem(ref.digest)) throw InvalidArgument(problem);
  }
  return ref;
}

Reference with_default_tag(Reference ref) {
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = kDefaultTag;
  return ref;
}

bool looks_like_id(std::string_view text) {
  if (text.starts_with("sha256:")) text.remove_prefix(7);
  return !text.empty() && text.size() <= 64 && all_of(text, is_lower_hex);
}

bool valid_tag(std::string_view tag) {
  auto word = [](char c) { return is_alnum(c) || c == '_'; };
  if (tag.empty() || tag.size() > kTagLengthMax || !word(tag.front())) return false;
  return std::all_of(tag.begin(), tag.end(),
                     [&](char c) { return word(c) || c == '.' || c == '-'; });
}

bool valid_digest(std::string_view digest) {
  return digest_problem(digest) == nullptr;
}

std::string registry_host(std::string_view domain) {
  if (domain == kDefaultDomain || domain == kLegacyDefaultDomain) return "registry-1.docker.io";
  return std::string(domain);
}

}  // namespace sockerless::image
