// verify() and aws_error(): the simulator's side of SigV4.
#include <openssl/crypto.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "cloud/aws/sigv4.h"
#include "cloud/aws/sigv4_internal.h"

namespace sockerless::cloud::aws {

namespace {

constexpr std::string_view kMissingToken = "Missing Authentication Token";
constexpr std::string_view kInvalidToken = "The security token included in the request is invalid.";
constexpr std::string_view kSignatureMismatchMessage =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";
constexpr std::string_view kRequestExpired = "Request has expired.";
constexpr std::int64_t kMaxPresignSeconds = 7 * 24 * 3600;

// What a request says about its signature, from either form.
struct Claimed {
  bool presigned = false;
  std::string credential;  // akid/date/region/service/terminator
  std::vector<std::string> signed_headers;
  std::string signature;
  std::string amz_date;  // yyyymmddThhmmssZ
  TimePoint signed_at;
  std::optional<std::int64_t> expires;  // presigned only
  std::string session_token;
};

VerifyError failure(Failure kind, std::string message) {
  return VerifyError{kind, std::move(message), {}, {}};
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t end = text.find(separator, start);
    parts.emplace_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::optional<TimePoint> from_utc(std::tm tm) {
  tm.tm_isdst = 0;
  int mday = tm.tm_mday, mon = tm.tm_mon;
  std::time_t seconds = timegm(&tm);
  if (seconds == -1 || tm.tm_mday != mday || tm.tm_mon != mon) return std::nullopt;  // 31 Feb
  return std::chrono::system_clock::from_time_t(seconds);
}

// "20150830T123600Z", exactly.
std::optional<TimePoint> parse_amz_date(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  auto number = [&](std::size_t at, std::size_t len) {
    int n = 0;
    for (std::size_t i = at; i < at + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return -1;
      n = n * 10 + (text[i] - '0');
    }
    return n;
  };
  std::tm tm{};
  tm.tm_year = number(0, 4) - 1900;
  tm.tm_mon = number(4, 2) - 1;
  tm.tm_mday = number(6, 2);
  tm.tm_hour = number(9, 2);
  tm.tm_min = number(11, 2);
  tm.tm_sec = number(13, 2);
  if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_hour < 0 ||
      tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60)
    return std::nullopt;
  return from_utc(tm);
}

// An HTTP Date header ("Sun, 30 Aug 2015 12:36:00 GMT"): SigV4 takes it when X-Amz-Date is
// absent, and botocore signs with one when the caller set a Date header.
std::optional<TimePoint> parse_http_date(std::string_view text) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::string copy(text);
  char weekday[4] = {}, month[4] = {}, zone[6] = {};
  std::tm tm{};
  int year = 0;
  if (std::sscanf(copy.c_str(), "%3s, %d %3s %d %d:%d:%d %5s", weekday, &tm.tm_mday, month, &year,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, zone) != 8)
    return std::nullopt;
  std::string_view z = zone;
  if (z != "GMT" && z != "UTC" && z != "+0000" && z != "-0000") return std::nullopt;
  tm.tm_mon = -1;
  for (int i = 0; i < 12; ++i)
    if (std::strcmp(month, kMonths[i]) == 0) tm.tm_mon = i;
  if (tm.tm_mon < 0 || year < 1970) return std::nullopt;
  tm.tm_year = year - 1900;
  return from_utc(tm);
}

std::string minutes_text(std::chrono::seconds skew) {
  return std::to_string(std::chrono::duration_cast<std::chrono::minutes>(skew).count());
}

std::variant<Claimed, VerifyError> claimed_by_header(const SignableRequest& received,
                                                     std::string_view authorization) {
  std::string_view value = trim(authorization);
  std::string_view scheme = value.substr(0, value.find(' '));
  if (scheme.starts_with("AWS4-") && scheme != kAlgorithm)
    return failure(Failure::kIncompleteSignature,
                   "Unsupported AWS 'algorithm': '" + std::string(scheme) + "'");
  std::optional<std::string> credential, signed_headers, signature;
  if (scheme == kAlgorithm) {
    for (const auto& part : split(value.substr(scheme.size()), ',')) {
      std::string_view item = trim(part);
      std::size_t eq = item.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view name = item.substr(0, eq);
      std::string param(trim(item.substr(eq + 1)));
      if (name == "Credential") credential = param;
      if (name == "SignedHeaders") signed_headers = param;
      if (name == "Signature") signature = param;
    }
  }
  Claimed claimed;
  auto x_amz_date = find_header(received, "x-amz-date");
  auto date = find_header(received, "date");
  std::string missing;
  if (!credential) missing += "Authorization header requires 'Credential' parameter. ";
  if (!signature) missing += "Authorization header requires 'Signature' parameter. ";
  if (!signed_headers) missing += "Authorization header requires 'SignedHeaders' parameter. ";
  if (!x_amz_date && !date)
    missing +=
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
        "header. ";
  if (!missing.empty())
    return failure(Failure::kIncompleteSignature,
                   missing + "Authorization=" + std::string(authorization));
  const std::string& date_text = x_amz_date ? *x_amz_date : *date;
  auto signed_at = x_amz_date ? parse_amz_date(trim(date_text)) : parse_http_date(trim(date_text));
  if (!signed_at)
    return failure(Failure::kIncompleteSignature,
                   "Date must be in ISO-8601 'basic format'. Got '" + date_text +
                       "'. See http://en.wikipedia.org/wiki/ISO_8601");
  claimed.signed_at = *signed_at;
  claimed.amz_date = amz_date(claimed.signed_at);
  claimed.credential = *credential;
  claimed.signed_headers = split(*signed_headers, ';');
  claimed.signature = *signature;
  claimed.session_token = find_header(received, "x-amz-security-token").value_or("");
  return claimed;
}

std::variant<Claimed, VerifyError> claimed_by_query(
    const std::vector<std::pair<std::string, std::string>>& query) {
  auto param = [&](std::string_view name) -> std::optional<std::string> {
    for (const auto& [n, v] : query)
      if (n == name) return v;
    return std::nullopt;
  };
  auto algorithm = param("X-Amz-Algorithm");
  auto credential = param("X-Amz-Credential");
  auto signature = param("X-Amz-Signature");
  auto date = param("X-Amz-Date");
  auto signed_headers = param("X-Amz-SignedHeaders");
  if (!algorithm || !credential || !signature || !date || !signed_headers)
    return failure(Failure::kIncompleteSignature,
                   "AWS query-string parameters must include 'X-Amz-Algorithm', "
                   "'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders'. "
                   "Re-examine the query-string parameters.");
  if (*algorithm != kAlgorithm)
    return failure(Failure::kIncompleteSignature,
                   "Unsupported AWS 'algorithm': '" + *algorithm + "'");
  Claimed claimed;
  claimed.presigned = true;
  auto t = parse_amz_date(*date);
  if (!t)
    return failure(Failure::kIncompleteSignature,
                   "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  claimed.signed_at = *t;
  claimed.amz_date = *date;
  if (auto expires = param("X-Amz-Expires")) {
    if (expires->empty() || expires->size() > 9 ||
        expires->find_first_not_of("0123456789") != std::string::npos)
      return failure(Failure::kIncompleteSignature, "X-Amz-Expires should be a number");
    claimed.expires = std::stoll(*expires);
    if (*claimed.expires > kMaxPresignSeconds)
      return failure(Failure::kIncompleteSignature,
                     "X-Amz-Expires must be less than a week (in seconds) that is 604800");
  }
  claimed.credential = *credential;
  claimed.signed_headers = split(*signed_headers, ';');
  claimed.signature = *signature;
  claimed.session_token = param("X-Amz-Security-Token").value_or("");
  return claimed;
}

std::optional<VerifyError> check_time(const Claimed& claimed, TimePoint now,
                                      std::chrono::seconds max_skew) {
  if (claimed.signed_at > now + max_skew)
    return failure(Failure::kSignatureExpired, "Signature not yet current: " + claimed.amz_date +
                                                   " is still later than " +
                                                   amz_date(now + max_skew) + " (" + amz_date(now) +
                                                   " + " + minutes_text(max_skew) + " min.)");
  if (claimed.expires) {
    if (now > claimed.signed_at + std::chrono::seconds(*claimed.expires))
      return failure(Failure::kPresignExpired, std::string(kRequestExpired));
    return std::nullopt;
  }
  if (claimed.signed_at < now - max_skew)
    return failure(Failure::kSignatureExpired, "Signature expired: " + claimed.amz_date +
                                                   " is now earlier than " +
                                                   amz_date(now - max_skew) + " (" + amz_date(now) +
                                                   " - " + minutes_text(max_skew) + " min.)");
  return std::nullopt;
}

bool same_signature(std::string_view expected, std::string_view given) {
  std::string provided = lower(given);
  return provided.size() == expected.size() &&
         CRYPTO_memcmp(provided.data(), expected.data(), expected.size()) == 0;
}

}  // namespace

std::variant<Verified, VerifyError> verify(const SignableRequest& received,
                                           const SecretLookup& lookup, TimePoint now,
                                           const VerifyOptions& options) {
  auto authorization = find_header(received, "authorization");
  auto query = decode_query(received.raw_query);
  bool query_form = std::any_of(query.begin(), query.end(),
                                [](const auto& p) { return p.first == "X-Amz-Algorithm"; });
  if (!authorization && !query_form)
    return failure(Failure::kMissingAuthentication, std::string(kMissingToken));
  if (authorization && query_form)
    return failure(Failure::kIncompleteSignature,
                   "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                   "Signature query string parameter or the Authorization header should be "
                   "specified");
  auto parsed =
      authorization ? claimed_by_header(received, *authorization) : claimed_by_query(query);
  if (auto* error = std::get_if<VerifyError>(&parsed)) return std::move(*error);
  Claimed& claimed = std::get<Claimed>(parsed);

  std::vector<std::string> scope = split(claimed.credential, '/');
  if (scope.size() != 5)
    return failure(Failure::kIncompleteSignature,
                   "Credential must have exactly 5 slash-delimited elements, e.g. "
                   "keyid/date/region/service/term, got '" +
                       claimed.credential + "'");
  for (auto& name : claimed.signed_headers)
    name = lower(trim(name));
  if (std::find(claimed.signed_headers.begin(), claimed.signed_headers.end(), "host") ==
      claimed.signed_headers.end())
    return failure(Failure::kIncompleteSignature,
                   "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  Verified verified{scope[0], claimed.session_token, scope[1], scope[2],
                    scope[3], claimed.presigned};

  std::optional<std::string> secret = lookup(verified.access_key_id);
  if (!secret) return failure(Failure::kUnknownAccessKey, std::string(kInvalidToken));

  if (scope[4] != "aws4_request")
    return failure(Failure::kBadCredentialScope,
                   "Credential should be scoped with a valid terminator: 'aws4_request', not '" +
                       scope[4] + "'. ");
  if (verified.date != claimed.amz_date.substr(0, 8))
    return failure(Failure::kBadCredentialScope,
                   "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                   "date from HTTP: '" +
                       verified.date + "' != '" + claimed.amz_date.substr(0, 8) + "', from '" +
                       claimed.amz_date + "'.");
  if (!options.region.empty() && verified.region != options.region)
    return failure(
        Failure::kBadCredentialScope,
        "Credential should be scoped to a valid region, not '" + verified.region + "'. ");
  if (!options.service.empty() && verified.service != options.service)
    return failure(
        Failure::kBadCredentialScope,
        "Credential should be scoped to correct service: '" + std::string(options.service) + "'. ");
  if (auto error = check_time(claimed, now, options.max_skew)) return std::move(*error);

  // What the SDKs may have signed: the path normalised or not (the Go SDK does not), and for
  // a presigned URL the body's hash or UNSIGNED-PAYLOAD.
  std::vector<PathRule> rules = {path_rule_for(verified.service)};
  if (rules[0] == PathRule::kNormalized &&
      canonical_uri(received.raw_path, PathRule::kNormalized) !=
          canonical_uri(received.raw_path, PathRule::kUnnormalized))
    rules.push_back(PathRule::kUnnormalized);
  auto declared = find_header(received, "x-amz-content-sha256");
  std::vector<std::string> payloads = {declared ? *declared : received.payload_sha256_hex};
  if (!declared && claimed.presigned && received.payload_sha256_hex != kUnsignedPayload)
    payloads.emplace_back(kUnsignedPayload);

  std::string key = signing_key(*secret, verified.date, verified.region, verified.service);
  std::string scope_text = credential_scope(verified.date, verified.region, verified.service);
  VerifyError mismatch =
      failure(Failure::kSignatureMismatch, std::string(kSignatureMismatchMessage));
  bool matched = false;
  for (PathRule rule : rules) {
    for (const auto& payload : payloads) {
      std::string canonical =
          canonical_request_with_payload(received, claimed.signed_headers, rule, payload);
      std::string to_sign = string_to_sign(claimed.amz_date, scope_text, canonical);
      if (same_signature(signature_hex(key, to_sign), claimed.signature)) {
        matched = true;
        break;
      }
      if (mismatch.canonical_request.empty()) {
        mismatch.canonical_request = std::move(canonical);
        mismatch.string_to_sign = std::move(to_sign);
      }
    }
    if (matched) break;
  }
  if (!matched) return mismatch;

  if (declared && *declared != kUnsignedPayload && !declared->starts_with("STREAMING-") &&
      received.payload_sha256_hex != kUnsignedPayload &&
      lower(*declared) != received.payload_sha256_hex)
    return failure(Failure::kPayloadHashMismatch,
                   "The provided 'x-amz-content-sha256' header does not match what was "
                   "computed.");
  return verified;
}

AwsError aws_error(const VerifyError& error, Protocol protocol) {
  const bool json = protocol == Protocol::kJson;
  const bool rest_json = protocol == Protocol::kRestJson;
  const int json_status = rest_json ? 403 : 400;  // Lambda answers auth failures with 403
  switch (error.failure) {
    case Failure::kMissingAuthentication:
      if (json || rest_json)
        return {json_status, "MissingAuthenticationTokenException", std::string(kMissingToken)};
      if (protocol == Protocol::kQuery)
        return {403, "MissingAuthenticationToken", "Request is missing Authentication Token"};
      return {401, "MissingAuthenticationToken",
              "The request must contain either a valid (registered) AWS access key ID or X.509 "
              "certificate."};
    case Failure::kIncompleteSignature:
      if (json || rest_json) return {json_status, "IncompleteSignatureException", error.message};
      return {400, "IncompleteSignature", error.message};
    case Failure::kUnknownAccessKey:
      if (json || rest_json) return {json_status, "UnrecognizedClientException", error.message};
      if (protocol == Protocol::kQuery) return {403, "InvalidClientTokenId", error.message};
      return {401, "AuthFailure", "AWS was not able to validate the provided access credentials"};
    case Failure::kSignatureMismatch:
    case Failure::kBadCredentialScope:
    case Failure::kPayloadHashMismatch:
      if (json || rest_json) return {json_status, "InvalidSignatureException", error.message};
      return {403, "SignatureDoesNotMatch", error.message};
    case Failure::kSignatureExpired:
      if (json || rest_json) return {json_status, "InvalidSignatureException", error.message};
      if (protocol == Protocol::kQuery) return {403, "SignatureDoesNotMatch", error.message};
      return {400, "RequestExpired", std::string(kRequestExpired)};
    case Failure::kPresignExpired:
      if (json || rest_json) return {json_status, "InvalidSignatureException", error.message};
      return {400, "RequestExpired", error.message};
  }
  return {500, "InternalFailure", error.message};
}

}  // namespace sockerless::cloud::aws
