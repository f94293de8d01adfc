// AWS Signature Version 4 (AWS4-HMAC-SHA256), both sides: sign() and presign_query() for the
// AWS client, verify() for the AWS simulator. One implementation, so that what our client
// signs is exactly what our simulator checks, and both agree with the AWS SDKs (botocore, the
// Go SDK v2, the JavaScript SDK v3) byte for byte.
//
// Requests are described as they are on the wire (SignableRequest); nothing here does I/O.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace sockerless::cloud::aws {

using TimePoint = std::chrono::system_clock::time_point;

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
// The payload hash of requests whose body is not signed (S3 presigned URLs, for one).
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// SHA-256 of the empty body: the payload hash of every GET.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
};

struct SignableRequest {
  std::string method;
  std::string raw_path;   // as sent on the wire (already percent-encoded), no query
  std::string raw_query;  // as sent, without '?'
  // As sent: names in any case, a name may repeat (values are then joined with commas, in
  // order). Must hold Host.
  std::vector<std::pair<std::string, std::string>> headers;
  // Lower-case hex SHA-256 of the body (kEmptyPayloadSha256 for none; Sha256 in
  // common/digest.h computes it), or kUnsignedPayload. An x-amz-content-sha256 header, when
  // present, takes its place in the canonical request, as in botocore and on S3.
  std::string payload_sha256_hex;
};

// ---- The pieces of a signature (exposed for tests, and for logging what was expected) ----

// How the canonical URI is made from the path as sent.
enum class PathRule {
  // Every service but S3, as botocore and the JavaScript SDK v3 sign: "." and ".." segments
  // and empty segments (double slashes) removed, then every byte but A-Za-z0-9-_.~ and '/'
  // percent-encoded. The path on the wire is already encoded once, so this encodes it a
  // second time: a Lambda function ARN's ':' goes out as %3A and signs as %253A.
  kNormalized,
  // The same without the normalisation: the Go SDK v2 encodes the path again but leaves
  // dot segments and double slashes as they are.
  kUnnormalized,
  // S3: the path exactly as sent (neither normalised nor encoded again).
  kAsSent,
};
PathRule path_rule_for(std::string_view service);  // kAsSent for "s3", else kNormalized

// RFC 3986 percent-encoding: every byte but A-Za-z0-9-_.~ (and '/' when keep_slash) becomes
// %XX with upper-case hex. What the canonical query uses, and what a client should use to
// build paths and queries that sign as sent.
std::string uri_encode(std::string_view text, bool keep_slash = false);
// Undoes %XX (and, in a query, '+' as a space, which is how the Go SDK sends spaces). A '%'
// not followed by two hex digits stays as it is.
std::string uri_decode(std::string_view text, bool plus_is_space);

std::string canonical_uri(std::string_view raw_path, PathRule rule);
// The query's parameters decoded, encoded again by uri_encode, sorted by name then value and
// joined with '&'; X-Amz-Signature is left out (a presigned URL's own signature).
std::string canonical_query(std::string_view raw_query);
// signed_headers: lower-case names in the order they are signed (sorted, for anything we
// sign); each becomes "name:value" with the value trimmed, runs of whitespace collapsed to
// one space, and repeated headers joined by ','.
std::string canonical_request(const SignableRequest& request,
                              const std::vector<std::string>& signed_headers, PathRule rule);
// "yyyymmdd/region/service/aws4_request"
std::string credential_scope(std::string_view date, std::string_view region,
                             std::string_view service);
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request);
// The derived key: 32 raw bytes (HMAC chain over date, region, service, "aws4_request").
std::string signing_key(std::string_view secret_access_key, std::string_view date,
                        std::string_view region, std::string_view service);
std::string signature_hex(std::string_view signing_key, std::string_view string_to_sign);
std::string amz_date(TimePoint t);  // "20150830T123600Z"

// ---- Client side ----

struct SignOptions {
  // Header names (any case) to sign beyond the ones always signed: host, content-type and
  // every x-amz-* header present.
  std::vector<std::string> extra_signed_headers;
};

// Sets X-Amz-Date, X-Amz-Security-Token (when the credentials carry a session token) and
// Authorization, replacing earlier ones (a retry signs again). Signs host, content-type and
// every x-amz-* header (an x-amz-content-sha256 the caller set included), plus the options'
// extras. Throws InvalidArgument when the request has no Host header or no payload hash.
void sign(SignableRequest& request, const Credentials& credentials, std::string_view region,
          std::string_view service, TimePoint now, const SignOptions& options = {});

// The query of a presigned URL for the request: its own raw_query followed by X-Amz-Algorithm,
// X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Security-Token
// (when a session token; signed, as the SDKs do) and X-Amz-Signature. The request itself is
// not changed; the same header selection as sign() is signed, so whoever uses the URL must
// send those headers. payload_sha256_hex as for sign(): the body's hash, or kUnsignedPayload.
std::string presign_query(const SignableRequest& request, const Credentials& credentials,
                          std::string_view region, std::string_view service, TimePoint now,
                          std::chrono::seconds expires, const SignOptions& options = {});

// ---- Server side ----

// Why a request was refused. verify() words the message as AWS does; aws_error() gives each
// failure its status and code per protocol (JSON = JSON 1.0/1.1: ECS, ECR, CloudWatch Logs;
// REST-JSON = Lambda; Query = IAM, STS):
//
// kMissingAuthentication: JSON 400 MissingAuthenticationTokenException and REST-JSON 403 the
//   same, "Missing Authentication Token"; Query 403 MissingAuthenticationToken "Request is
//   missing Authentication Token"; EC2 401 MissingAuthenticationToken with EC2's documented
//   message.
// kIncompleteSignature: JSON 400 and REST-JSON 403 IncompleteSignatureException; Query and
//   EC2 400 IncompleteSignature.
// kUnknownAccessKey: JSON 400 and REST-JSON 403 UnrecognizedClientException, Query 403
//   InvalidClientTokenId, all "The security token included in the request is invalid.";
//   EC2 401 AuthFailure "AWS was not able to validate the provided access credentials".
// kSignatureMismatch, kBadCredentialScope, kPayloadHashMismatch: JSON 400 and REST-JSON 403
//   InvalidSignatureException; Query and EC2 403 SignatureDoesNotMatch.
// kSignatureExpired ("Signature expired: 20150830T123600Z is now earlier than
//   20150830T124600Z (20150830T125100Z - 5 min.)", or "Signature not yet current: … is still
//   later than … (… + 5 min.)"): JSON 400 and REST-JSON 403 InvalidSignatureException, Query
//   403 SignatureDoesNotMatch; EC2 400 RequestExpired "Request has expired.".
// kPresignExpired ("Request has expired."): JSON 400 and REST-JSON 403
//   InvalidSignatureException; Query and EC2 400 RequestExpired.
//
// Known from AWS's answers: the expired-signature wording with 400 from JSON services, 403
// from Lambda and SignatureDoesNotMatch from STS; STS's 403 MissingAuthenticationToken; the
// invalid-token message; EC2's and the Query services' documented RequestExpired. Our choice,
// kept consistent with each protocol's other authentication errors: the status of a missing
// token for the JSON services and EC2, Lambda's status for an incomplete signature, and the
// answer to an expired presigned URL outside the Query services and EC2.
enum class Failure {
  kMissingAuthentication,  // neither an Authorization header nor X-Amz-Algorithm in the query
  kIncompleteSignature,    // an Authorization header or presigned query that cannot be used
  kUnknownAccessKey,       // the lookup does not know the access key id
  kBadCredentialScope,     // scope's date, region, service or terminator is wrong
  kSignatureMismatch,      // the signature is not the one the secret gives
  kPayloadHashMismatch,    // x-amz-content-sha256 names another body than the one received
  kSignatureExpired,       // X-Amz-Date further from now than the allowed skew
  kPresignExpired,         // a presigned URL past X-Amz-Date + X-Amz-Expires
};

struct Verified {
  std::string access_key_id;
  std::string session_token;  // X-Amz-Security-Token, empty when none was sent
  std::string date;           // yyyymmdd, from the credential scope
  std::string region;
  std::string service;
  bool presigned = false;
};

struct VerifyError {
  Failure failure;
  std::string message;  // AWS's wording
  // What the signature should have been made over (set once the request parsed), for logs:
  // IAM and STS put both in their SignatureDoesNotMatch message.
  std::string canonical_request;
  std::string string_to_sign;
};

struct VerifyOptions {
  std::string_view region;   // the scope's region must be this; empty: any region
  std::string_view service;  // the scope's service must be this; empty: any service
  // How far X-Amz-Date may be from now: 5 minutes as the JSON services; IAM, STS and EC2
  // allow 15.
  std::chrono::seconds max_skew{std::chrono::minutes(5)};
};

// The secret access key for an access key id, or nullopt when the id is unknown.
using SecretLookup = std::function<std::optional<std::string>(std::string_view access_key_id)>;

// Checks a received request's signature, in the header form (Authorization: AWS4-HMAC-SHA256
// Credential=…, SignedHeaders=…, Signature=…) or the presigned query form, as the SDKs make
// them: header names in any case, any of the path rules above (S3's for service "s3"), a
// presigned body hash or UNSIGNED-PAYLOAD. received.payload_sha256_hex must be the hash of the
// body actually received.
std::variant<Verified, VerifyError> verify(const SignableRequest& received,
                                           const SecretLookup& lookup, TimePoint now,
                                           const VerifyOptions& options = {});

enum class Protocol { kJson, kRestJson, kQuery, kEc2 };

struct AwsError {
  int http_status;
  std::string code;
  std::string message;
};
// The status, code and message AWS answers a failed verification with, per the table above.
AwsError aws_error(const VerifyError& error, Protocol protocol);

}  // namespace sockerless::cloud::aws
