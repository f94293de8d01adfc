#include "cloud/aws/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>
#include <stdexcept>

#include "cloud/aws/sigv4_internal.h"
#include "common/digest.h"
#include "common/errors.h"

namespace sockerless::cloud::aws {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";
constexpr char kLowerHex[] = "0123456789abcdef";

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len))
    throw std::runtime_error("sigv4: HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string sha256_hex(std::string_view data) {
  Sha256 hash;
  hash.update(data);
  return hash.hex();
}

bool is_whitespace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// Trimmed, with every run of whitespace (a folded line's CR LF and indentation included) one
// space: the SigV4 "Trimall", as botocore does it.
std::string trim_all(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (is_whitespace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

// RFC 3986 5.2.4 dot-segment removal, plus empty segments dropped: botocore's and the
// JavaScript SDK's normalisation for every service but S3.
std::string normalize_path(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> kept;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view segment = path.substr(start, slash - start);
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();
    } else if (!segment.empty() && segment != ".") {
      kept.push_back(segment);
    }
    start = slash + 1;
  }
  std::string out = path.front() == '/' ? "/" : "";
  for (std::size_t i = 0; i < kept.size(); ++i) {
    if (i) out += '/';
    out += kept[i];
  }
  if (path.back() == '/' && !kept.empty()) out += '/';
  return out;
}

std::string format_utc(TimePoint t, const char* format) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

// The headers sign() and presign_query() sign: lower-case, sorted, each once.
std::vector<std::string> headers_to_sign(const SignableRequest& request,
                                         const SignOptions& options) {
  std::vector<std::string> extras;
  for (const auto& name : options.extra_signed_headers)
    extras.push_back(lower(name));
  std::vector<std::string> names;
  for (const auto& [name, value] : request.headers) {
    std::string l = lower(name);
    if (l == "host" || l == "content-type" || l.starts_with("x-amz-") ||
        std::find(extras.begin(), extras.end(), l) != extras.end())
      names.push_back(std::move(l));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  if (std::find(names.begin(), names.end(), "host") == names.end())
    throw InvalidArgument("sigv4: the request to sign has no Host header");
  if (request.payload_sha256_hex.empty())
    throw InvalidArgument("sigv4: the request to sign has no payload hash");
  return names;
}

void remove_header(SignableRequest& request, std::string_view lname) {
  std::erase_if(request.headers, [&](const auto& h) { return lower(h.first) == lname; });
}

}  // namespace

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string join(const std::vector<std::string>& parts, char separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += separator;
    out += parts[i];
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> decode_query(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t start = 0;
  while (start <= raw_query.size()) {
    std::size_t amp = raw_query.find('&', start);
    if (amp == std::string_view::npos) amp = raw_query.size();
    std::string_view pair = raw_query.substr(start, amp - start);
    if (!pair.empty()) {
      std::size_t eq = pair.find('=');
      std::string_view name = pair.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
      params.emplace_back(uri_decode(name, true), uri_decode(value, true));
    }
    start = amp + 1;
  }
  return params;
}

std::string canonical_request_with_payload(const SignableRequest& request,
                                           const std::vector<std::string>& signed_headers,
                                           PathRule rule, std::string_view payload_hash) {
  std::string out = request.method;
  out += '\n';
  out += canonical_uri(request.raw_path, rule);
  out += '\n';
  out += canonical_query(request.raw_query);
  out += '\n';
  for (const auto& name : signed_headers) {
    out += name;
    out += ':';
    bool first = true;
    for (const auto& [header, value] : request.headers) {
      if (lower(header) != name) continue;
      if (!first) out += ',';
      out += trim_all(value);
      first = false;
    }
    out += '\n';
  }
  out += '\n';
  out += join(signed_headers, ';');
  out += '\n';
  out += payload_hash;
  return out;
}

std::optional<std::string> find_header(const SignableRequest& request, std::string_view lname) {
  for (const auto& [name, value] : request.headers)
    if (lower(name) == lname) return value;
  return std::nullopt;
}

PathRule path_rule_for(std::string_view service) {
  return service == "s3" ? PathRule::kAsSent : PathRule::kNormalized;
}

std::string uri_encode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string uri_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string canonical_uri(std::string_view raw_path, PathRule rule) {
  switch (rule) {
    case PathRule::kAsSent:
      return raw_path.empty() ? "/" : std::string(raw_path);
    case PathRule::kUnnormalized:
      return raw_path.empty() ? "/" : uri_encode(raw_path, true);
    case PathRule::kNormalized:
      break;
  }
  return uri_encode(normalize_path(raw_path), true);
}

std::string canonical_query(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  for (const auto& [name, value] : decode_query(raw_query)) {
    if (name == "X-Amz-Signature") continue;
    encoded.emplace_back(uri_encode(name), uri_encode(value));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::string canonical_request(const SignableRequest& request,
                              const std::vector<std::string>& signed_headers, PathRule rule) {
  auto declared = find_header(request, "x-amz-content-sha256");
  return canonical_request_with_payload(request, signed_headers, rule,
                                        declared ? *declared : request.payload_sha256_hex);
}

std::string credential_scope(std::string_view date, std::string_view region,
                             std::string_view service) {
  std::string out(date);
  out += '/';
  out += region;
  out += '/';
  out += service;
  out += "/aws4_request";
  return out;
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request) {
  std::string out(kAlgorithm);
  out += '\n';
  out += amz_date;
  out += '\n';
  out += scope;
  out += '\n';
  out += sha256_hex(canonical_request);
  return out;
}

std::string signing_key(std::string_view secret_access_key, std::string_view date,
                        std::string_view region, std::string_view service) {
  std::string key = hmac_sha256("AWS4" + std::string(secret_access_key), date);
  key = hmac_sha256(key, region);
  key = hmac_sha256(key, service);
  return hmac_sha256(key, "aws4_request");
}

std::string signature_hex(std::string_view signing_key, std::string_view string_to_sign) {
  std::string raw = hmac_sha256(signing_key, string_to_sign);
  std::string out;
  for (unsigned char c : raw) {
    out += kLowerHex[c >> 4];
    out += kLowerHex[c & 0xf];
  }
  return out;
}

std::string amz_date(TimePoint t) {
  return format_utc(t, "%Y%m%dT%H%M%SZ");
}

void sign(SignableRequest& request, const Credentials& credentials, std::string_view region,
          std::string_view service, TimePoint now, const SignOptions& options) {
  remove_header(request, "authorization");
  remove_header(request, "x-amz-date");
  std::string date_time = amz_date(now);
  request.headers.emplace_back("X-Amz-Date", date_time);
  if (!credentials.session_token.empty()) {
    remove_header(request, "x-amz-security-token");
    request.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  std::vector<std::string> names = headers_to_sign(request, options);
  std::string scope = credential_scope(date_time.substr(0, 8), region, service);
  std::string to_sign =
      string_to_sign(date_time, scope, canonical_request(request, names, path_rule_for(service)));
  std::string signature = signature_hex(
      signing_key(credentials.secret_access_key, date_time.substr(0, 8), region, service), to_sign);
  request.headers.emplace_back(
      "Authorization", std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                           scope + ", SignedHeaders=" + join(names, ';') +
                           ", Signature=" + signature);
}

std::string presign_query(const SignableRequest& request, const Credentials& credentials,
                          std::string_view region, std::string_view service, TimePoint now,
                          std::chrono::seconds expires, const SignOptions& options) {
  std::vector<std::string> names = headers_to_sign(request, options);
  std::string date_time = amz_date(now);
  std::string scope = credential_scope(date_time.substr(0, 8), region, service);
  std::vector<std::pair<std::string_view, std::string>> auth = {
      {"X-Amz-Algorithm", std::string(kAlgorithm)},
      {"X-Amz-Credential", credentials.access_key_id + "/" + scope},
      {"X-Amz-Date", date_time},
      {"X-Amz-Expires", std::to_string(expires.count())},
      {"X-Amz-SignedHeaders", join(names, ';')},
  };
  if (!credentials.session_token.empty())
    auth.emplace_back("X-Amz-Security-Token", credentials.session_token);
  SignableRequest presigned = request;
  for (const auto& [name, value] : auth) {
    if (!presigned.raw_query.empty()) presigned.raw_query += '&';
    presigned.raw_query += uri_encode(name);
    presigned.raw_query += '=';
    presigned.raw_query += uri_encode(value);
  }
  std::string to_sign =
      string_to_sign(date_time, scope, canonical_request(presigned, names, path_rule_for(service)));
  std::string signature = signature_hex(
      signing_key(credentials.secret_access_key, date_time.substr(0, 8), region, service), to_sign);
  return presigned.raw_query + "&X-Amz-Signature=" + signature;
}

}  // namespace sockerless::cloud::aws
