// SigV4: the canonical pieces, sign() then verify() round trips, and every way verify() refuses.
#include <gtest/gtest.h>

#include "cloud/aws/sigv4.h"
#include "cloud_aws_sigv4_test_support.h"
#include "common/errors.h"

namespace sockerless::cloud::aws {
namespace {

using namespace std::chrono_literals;
using namespace sockerless::cloud::aws::sigv4_test;

// ---- The pieces ----

TEST(SigV4Pieces, SigningKeyIsAwsDocumentedDerivation) {
  // AWS's documented example of the derived key (the IAM service's, same secret and date).
  std::string key =
      signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam");
  ASSERT_EQ(key.size(), 32u);
  std::string hex;
  for (unsigned char c : key)
    hex += "0123456789abcdef"[c >> 4], hex += "0123456789abcdef"[c & 15];
  EXPECT_EQ(hex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

TEST(SigV4Pieces, AmzDateAndScope) {
  EXPECT_EQ(amz_date(kSuiteTime), "20150830T123600Z");
  EXPECT_EQ(amz_date(kSuiteTime + 999ms), "20150830T123600Z");
  EXPECT_EQ(credential_scope("20150830", "eu-west-1", "ecs"),
            "20150830/eu-west-1/ecs/aws4_request");
}

TEST(SigV4Pieces, UriEncodingIsRfc3986) {
  EXPECT_EQ(uri_encode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(uri_encode("a b+c/d:e=f&g*h%"), "a%20b%2Bc%2Fd%3Ae%3Df%26g%2Ah%25");
  EXPECT_EQ(uri_encode("/a b/c", true), "/a%20b/c");
  EXPECT_EQ(uri_encode("\xe1\x88\xb4"), "%E1%88%B4");
  EXPECT_EQ(uri_decode("a%20b%2bc%2F", false), "a b+c/");
  EXPECT_EQ(uri_decode("a+b", true), "a b");
  EXPECT_EQ(uri_decode("a+b", false), "a+b");
  EXPECT_EQ(uri_decode("100%", true), "100%");
  EXPECT_EQ(uri_decode("%zz%4", true), "%zz%4");
}

TEST(SigV4Pieces, CanonicalUriEncodesTheWirePathAgainExceptForS3) {
  // A Lambda function ARN in the path: ':' is %3A on the wire and %253A in what is signed.
  std::string path =
      "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af";
  std::string twice =
      "/2015-03-31/functions/"
      "arn%253Aaws%253Alambda%253Aus-east-1%253A123456789012%253Afunction%253Af";
  EXPECT_EQ(canonical_uri(path, PathRule::kNormalized), twice);
  EXPECT_EQ(canonical_uri(path, PathRule::kUnnormalized), twice);
  EXPECT_EQ(canonical_uri(path, PathRule::kAsSent), path);
  EXPECT_EQ(path_rule_for("lambda"), PathRule::kNormalized);
  EXPECT_EQ(path_rule_for("s3"), PathRule::kAsSent);
  // Normalisation works on the encoded path: an encoded dot segment is a name, not a dot.
  EXPECT_EQ(canonical_uri("/a/%2E%2E/b", PathRule::kNormalized), "/a/%252E%252E/b");
  EXPECT_EQ(canonical_uri("/a/b/../../../c", PathRule::kNormalized), "/c");
  EXPECT_EQ(canonical_uri("", PathRule::kNormalized), "/");
  EXPECT_EQ(canonical_uri("", PathRule::kUnnormalized), "/");
  EXPECT_EQ(canonical_uri("", PathRule::kAsSent), "/");
  EXPECT_EQ(canonical_uri("/my-bucket//a%20b/./c", PathRule::kAsSent), "/my-bucket//a%20b/./c");
}

TEST(SigV4Pieces, CanonicalQuery) {
  // Decoded, encoded again, sorted by encoded name then value; a bare name gets '='.
  EXPECT_EQ(canonical_query("b=2&a=2&a=1&c"), "a=1&a=2&b=2&c=");
  EXPECT_EQ(canonical_query("x=a%2fb&y=a/b&z=%7E"), "x=a%2Fb&y=a%2Fb&z=~");
  // The Go SDK sends spaces as '+'; they sign as %20. A plus sign itself travels as %2B.
  EXPECT_EQ(canonical_query("q=a+b&r=a%2Bb"), "q=a%20b&r=a%2Bb");
  // Sorted by the encoded bytes: '%' (0x25) before 'A'.
  EXPECT_EQ(canonical_query("A=1&%E1%88%B4=2&-=3"), "%E1%88%B4=2&-=3&A=1");
  EXPECT_EQ(canonical_query("a=1&&b=2&"), "a=1&b=2");
  EXPECT_EQ(canonical_query("X-Amz-Signature=abc&a=1"), "a=1");
  EXPECT_EQ(canonical_query(""), "");
}

TEST(SigV4Pieces, CanonicalHeadersAnyCaseRepeatsAndWhitespace) {
  SignableRequest request{"GET", "/", "", {}, std::string(kEmptyPayloadSha256)};
  request.headers = {{"HOST", "h"},
                     {"x-amz-meta", "  a   b \t c  "},
                     {"X-Amz-Meta", "d"},
                     {"x-amz-date", "20150830T123600Z"}};
  EXPECT_EQ(canonical_request(request, {"host", "x-amz-date", "x-amz-meta"}, PathRule::kNormalized),
            "GET\n/\n\nhost:h\nx-amz-date:20150830T123600Z\nx-amz-meta:a b c,d\n\n"
            "host;x-amz-date;x-amz-meta\n" +
                std::string(kEmptyPayloadSha256));
  // A declared x-amz-content-sha256 is the payload line, as in botocore.
  request.headers.emplace_back("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD");
  EXPECT_TRUE(
      canonical_request(request, {"host"}, PathRule::kNormalized).ends_with("\nUNSIGNED-PAYLOAD"));
}

// ---- Round trips: what sign() makes, verify() takes ----

const Credentials kTestCredentials{"AKIDTEST", "secret/with+odd=chars", ""};

SignableRequest ecs_list_tasks(std::string_view body = R"({"cluster":"default"})") {
  return {"POST",
          "/",
          "",
          {{"Host", "localhost:4566"},
           {"Content-Type", "application/x-amz-json-1.1"},
           {"X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListTasks"},
           {"User-Agent", "sockerless"}},
          sha256_hex(body)};
}

SignableRequest signed_ecs_list_tasks() {
  SignableRequest request = ecs_list_tasks();
  sign(request, kTestCredentials, "us-east-1", "ecs", kSuiteTime);
  return request;
}

std::variant<Verified, VerifyError> verify_test(const SignableRequest& request, TimePoint now,
                                                const VerifyOptions& options = {}) {
  return verify(request, lookup_of(kTestCredentials), now, options);
}

void set_header(SignableRequest& request, std::string_view name, std::string value) {
  for (auto& [n, v] : request.headers)
    if (n == name) v = std::move(value);
}

TEST(SigV4RoundTrip, SignedRequestVerifies) {
  SignableRequest request = signed_ecs_list_tasks();
  EXPECT_EQ(header(request, "X-Amz-Date"), "20150830T123600Z");
  EXPECT_TRUE(header(request, "Authorization")
                  ->starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/us-east-1/ecs/"
                                "aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                                "x-amz-target, Signature="));
  auto verdict = verify_test(request, kSuiteTime, {.region = "us-east-1", .service = "ecs"});
  ASSERT_TRUE(accepted(verdict));
  EXPECT_EQ(std::get<Verified>(verdict).access_key_id, "AKIDTEST");
  EXPECT_EQ(std::get<Verified>(verdict).session_token, "");
}

TEST(SigV4RoundTrip, SessionTokenIsSignedAndReported) {
  SignableRequest request = ecs_list_tasks();
  Credentials credentials = kTestCredentials;
  credentials.session_token = "token/with+slash==";
  sign(request, credentials, "us-east-1", "ecs", kSuiteTime);
  EXPECT_NE(header(request, "Authorization")->find("x-amz-security-token"), std::string::npos);
  auto verdict = verify_test(request, kSuiteTime);
  ASSERT_TRUE(accepted(verdict));
  EXPECT_EQ(std::get<Verified>(verdict).session_token, "token/with+slash==");
  // Signed: a replaced token breaks the signature.
  set_header(request, "X-Amz-Security-Token", "other");
  EXPECT_EQ(refused(verify_test(request, kSuiteTime)).failure, Failure::kSignatureMismatch);
}

TEST(SigV4RoundTrip, SigningAgainReplacesTheEarlierSignature) {
  SignableRequest request = signed_ecs_list_tasks();
  sign(request, kTestCredentials, "us-east-1", "ecs", kSuiteTime + 10min);
  auto count = [&](std::string_view name) {
    return std::count_if(request.headers.begin(), request.headers.end(),
                         [&](const auto& h) { return h.first == name; });
  };
  EXPECT_EQ(count("Authorization"), 1);
  EXPECT_EQ(count("X-Amz-Date"), 1);
  EXPECT_EQ(header(request, "X-Amz-Date"), "20150830T124600Z");
  EXPECT_TRUE(accepted(verify_test(request, kSuiteTime + 10min)));
}

TEST(SigV4RoundTrip, UnsignedHeadersMayChangeOnTheWay) {
  SignableRequest request = signed_ecs_list_tasks();
  set_header(request, "User-Agent", "a proxy's");
  request.headers.emplace_back("Content-Length", "21");
  request.headers.emplace_back("Accept-Encoding", "identity");
  EXPECT_TRUE(accepted(verify_test(request, kSuiteTime)));
}

TEST(SigV4RoundTrip, SignNeedsHostAndPayloadHash) {
  SignableRequest request{
      "GET", "/", "", {{"X-Amz-Target", "x"}}, std::string(kEmptyPayloadSha256)};
  EXPECT_THROW(sign(request, kTestCredentials, "us-east-1", "ecs", kSuiteTime), InvalidArgument);
  SignableRequest no_hash{"GET", "/", "", {{"Host", "h"}}, ""};
  EXPECT_THROW(sign(no_hash, kTestCredentials, "us-east-1", "ecs", kSuiteTime), InvalidArgument);
}

TEST(SigV4RoundTrip, ExtraSignedHeadersAndQueryWithSpaces) {
  SignableRequest request{"GET",
                          "/2015-03-31/functions",
                          "Marker=a%20b%2Bc&MaxItems=5",
                          {{"host", "localhost:4566"}, {"X-Custom", "  one   two "}},
                          std::string(kEmptyPayloadSha256)};
  sign(request, kTestCredentials, "us-east-1", "lambda", kSuiteTime, {{"x-custom"}});
  EXPECT_NE(header(request, "Authorization")->find("SignedHeaders=host;x-amz-date;x-custom,"),
            std::string::npos);
  EXPECT_TRUE(accepted(verify_test(request, kSuiteTime)));
  set_header(request, "X-Custom", "one two three");
  EXPECT_EQ(refused(verify_test(request, kSuiteTime)).failure, Failure::kSignatureMismatch);
}

TEST(SigV4RoundTrip, ArnInThePathIsSignedDoubleEncoded) {
  const std::string path =
      "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Afn/"
      "invocations";
  SignableRequest request{"POST", path, "", {{"Host", "localhost:4566"}}, sha256_hex("{}")};
  sign(request, kTestCredentials, "us-east-1", "lambda", kSuiteTime);
  EXPECT_TRUE(accepted(verify_test(request, kSuiteTime)));

  // A client that signed the path as sent (single-encoded, S3's rule) is refused for Lambda,
  // as AWS refuses it, and the expected canonical request shows the %253A.
  SignableRequest single{"POST",
                         path,
                         "",
                         {{"Host", "localhost:4566"}, {"X-Amz-Date", "20150830T123600Z"}},
                         sha256_hex("{}")};
  std::string to_sign =
      string_to_sign("20150830T123600Z", "20150830/us-east-1/lambda/aws4_request",
                     canonical_request(single, {"host", "x-amz-date"}, PathRule::kAsSent));
  single.headers.emplace_back(
      "Authorization",
      "AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/us-east-1/lambda/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=" +
          signature_hex(
              signing_key(kTestCredentials.secret_access_key, "20150830", "us-east-1", "lambda"),
              to_sign));
  const VerifyError& error = refused(verify_test(single, kSuiteTime));
  EXPECT_EQ(error.failure, Failure::kSignatureMismatch);
  EXPECT_NE(error.canonical_request.find("arn%253Aaws%253Alambda"), std::string::npos);
}

TEST(SigV4RoundTrip, S3SignsThePathAsSent) {
  SignableRequest request{
      "GET", "/bucket//a%20b/./c", "", {{"Host", "localhost:4566"}}, std::string(kUnsignedPayload)};
  request.headers.emplace_back("X-Amz-Content-Sha256", std::string(kUnsignedPayload));
  sign(request, kTestCredentials, "us-east-1", "s3", kSuiteTime);
  EXPECT_NE(
      header(request, "Authorization")->find("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"),
      std::string::npos);
  request.payload_sha256_hex = std::string(kEmptyPayloadSha256);  // what the server hashes
  EXPECT_TRUE(accepted(verify_test(request, kSuiteTime)));
}

TEST(SigV4RoundTrip, DateHeaderStandsInForXAmzDate) {
  // SigV4 allows the Date header instead of X-Amz-Date; botocore signs one when the caller set it.
  SignableRequest request{"GET",
                          "/",
                          "",
                          {{"Host", "h"}, {"Date", "Sun, 30 Aug 2015 12:36:00 GMT"}},
                          std::string(kEmptyPayloadSha256)};
  std::string to_sign =
      string_to_sign("20150830T123600Z", "20150830/us-east-1/ecs/aws4_request",
                     canonical_request(request, {"date", "host"}, PathRule::kNormalized));
  request.headers.emplace_back(
      "Authorization",
      "AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/us-east-1/ecs/aws4_request, "
      "SignedHeaders=date;host, Signature=" +
          signature_hex(
              signing_key(kTestCredentials.secret_access_key, "20150830", "us-east-1", "ecs"),
              to_sign));
  EXPECT_TRUE(accepted(verify_test(request, kSuiteTime)));
  EXPECT_EQ(refused(verify_test(request, kSuiteTime + 6min)).failure, Failure::kSignatureExpired);
}

TEST(SigV4RoundTrip, DeclaredContentSha256MustNameTheBody) {
  SignableRequest request = ecs_list_tasks();
  request.headers.emplace_back("x-amz-content-sha256", request.payload_sha256_hex);
  sign(request, kTestCredentials, "us-east-1", "ecs", kSuiteTime);
  EXPECT_TRUE(accepted(verify_test(request, kSuiteTime)));
  // The body that arrived is another one: the signature covers the declared hash, so only the
  // declaration check can tell.
  request.payload_sha256_hex = sha256_hex("{}");
  const VerifyError& error = refused(verify_test(request, kSuiteTime));
  EXPECT_EQ(error.failure, Failure::kPayloadHashMismatch);
  EXPECT_EQ(error.message,
            "The provided 'x-amz-content-sha256' header does not match what was computed.");
}

TEST(SigV4RoundTrip, PresignedWithUnsignedPayload) {
  SignableRequest request{"PUT", "/upload", "", {{"Host", "h"}}, std::string(kUnsignedPayload)};
  request.raw_query =
      presign_query(request, kTestCredentials, "us-east-1", "ecr", kSuiteTime, 600s);
  request.payload_sha256_hex = sha256_hex("the body");  // the server hashes what it received
  auto verdict = verify_test(request, kSuiteTime + 9min);
  ASSERT_TRUE(accepted(verdict));
  EXPECT_TRUE(std::get<Verified>(verdict).presigned);
}

TEST(SigV4RoundTrip, PresignedNotYetCurrent) {
  SignableRequest request{"GET", "/", "", {{"Host", "h"}}, std::string(kEmptyPayloadSha256)};
  request.raw_query =
      presign_query(request, kTestCredentials, "us-east-1", "sts", kSuiteTime, 600s);
  EXPECT_TRUE(accepted(verify_test(request, kSuiteTime - 4min)));
  EXPECT_EQ(refused(verify_test(request, kSuiteTime - 6min)).failure, Failure::kSignatureExpired);
}

// ---- Refusals: each failure, its message, and what aws_error makes of it ----

void expect_error(const VerifyError& error, Protocol protocol, int status, std::string_view code,
                  std::string_view message) {
  AwsError e = aws_error(error, protocol);
  EXPECT_EQ(e.http_status, status);
  EXPECT_EQ(e.code, code);
  EXPECT_EQ(e.message, message);
}

TEST(SigV4Refuses, MissingAuthentication) {
  SignableRequest request = ecs_list_tasks();
  const VerifyError& error = refused(verify_test(request, kSuiteTime));
  EXPECT_EQ(error.failure, Failure::kMissingAuthentication);
  EXPECT_EQ(error.message, "Missing Authentication Token");
  expect_error(error, Protocol::kJson, 400, "MissingAuthenticationTokenException",
               "Missing Authentication Token");
  expect_error(error, Protocol::kRestJson, 403, "MissingAuthenticationTokenException",
               "Missing Authentication Token");
  expect_error(error, Protocol::kQuery, 403, "MissingAuthenticationToken",
               "Request is missing Authentication Token");
  EXPECT_EQ(aws_error(error, Protocol::kEc2).http_status, 401);
  EXPECT_EQ(aws_error(error, Protocol::kEc2).code, "MissingAuthenticationToken");
}

TEST(SigV4Refuses, IncompleteAuthorizationHeader) {
  SignableRequest request = ecs_list_tasks();
  request.headers.emplace_back("X-Amz-Date", "20150830T123600Z");
  request.headers.emplace_back(
      "Authorization", "AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/us-east-1/ecs/aws4_request");
  const VerifyError& error = refused(verify_test(request, kSuiteTime));
  EXPECT_EQ(error.failure, Failure::kIncompleteSignature);
  EXPECT_EQ(error.message,
            "Authorization header requires 'Signature' parameter. Authorization header requires "
            "'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 "
            "Credential=AKIDTEST/20150830/us-east-1/ecs/aws4_request");
  expect_error(error, Protocol::kJson, 400, "IncompleteSignatureException", error.message);
  expect_error(error, Protocol::kQuery, 400, "IncompleteSignature", error.message);

  SignableRequest bearer{"GET",
                         "/",
                         "",
                         {{"Host", "h"}, {"Authorization", "Bearer abc"}},
                         std::string(kEmptyPayloadSha256)};
  EXPECT_EQ(refused(verify_test(bearer, kSuiteTime)).message,
            "Authorization header requires 'Credential' parameter. Authorization header requires "
            "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. "
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            "Authorization=Bearer abc");
}

TEST(SigV4Refuses, MalformedSignatureParts) {
  auto with_auth = [](std::string authorization, std::string date = "20150830T123600Z") {
    SignableRequest request = ecs_list_tasks();
    request.headers.emplace_back("X-Amz-Date", std::move(date));
    request.headers.emplace_back("Authorization", std::move(authorization));
    return request;
  };
  const VerifyError& short_scope = refused(verify_test(
      with_auth("AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/us-east-1/ecs, SignedHeaders=host, "
                "Signature=00"),
      kSuiteTime));
  EXPECT_EQ(short_scope.failure, Failure::kIncompleteSignature);
  EXPECT_EQ(short_scope.message,
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            "keyid/date/region/service/term, got 'AKIDTEST/20150830/us-east-1/ecs'");

  const VerifyError& no_host = refused(verify_test(
      with_auth("AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/us-east-1/ecs/aws4_request, "
                "SignedHeaders=x-amz-date, Signature=00"),
      kSuiteTime));
  EXPECT_EQ(no_host.failure, Failure::kIncompleteSignature);
  EXPECT_EQ(no_host.message,
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");

  const VerifyError& bad_date = refused(verify_test(
      with_auth("AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/us-east-1/ecs/aws4_request, "
                "SignedHeaders=host, Signature=00",
                "2015-08-30T12:36:00Z"),
      kSuiteTime));
  EXPECT_EQ(bad_date.failure, Failure::kIncompleteSignature);
  EXPECT_EQ(bad_date.message,
            "Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'. See "
            "http://en.wikipedia.org/wiki/ISO_8601");

  const VerifyError& sigv4a = refused(
      verify_test(with_auth("AWS4-ECDSA-P256-SHA256 Credential=AKIDTEST/20150830/ecs/aws4_request, "
                            "SignedHeaders=host, Signature=00"),
                  kSuiteTime));
  EXPECT_EQ(sigv4a.failure, Failure::kIncompleteSignature);
  EXPECT_EQ(sigv4a.message, "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'");
}

TEST(SigV4Refuses, MalformedPresignedQuery) {
  SignableRequest request{"GET", "/", "", {{"Host", "h"}}, std::string(kEmptyPayloadSha256)};
  std::string query = presign_query(request, kTestCredentials, "us-east-1", "sts", kSuiteTime, 60s);

  SignableRequest unsigned_url = request;
  unsigned_url.raw_query = query.substr(0, query.find("&X-Amz-Signature="));
  const VerifyError& missing = refused(verify_test(unsigned_url, kSuiteTime));
  EXPECT_EQ(missing.failure, Failure::kIncompleteSignature);
  EXPECT_EQ(missing.message,
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', "
            "'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders'. Re-examine the query-string "
            "parameters.");

  SignableRequest both = request;
  both.raw_query = query;
  both.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=x");
  EXPECT_EQ(refused(verify_test(both, kSuiteTime)).failure, Failure::kIncompleteSignature);

  SignableRequest too_long = request;
  too_long.raw_query = presign_query(request, kTestCredentials, "us-east-1", "sts", kSuiteTime,
                                     std::chrono::seconds(604801));
  EXPECT_EQ(refused(verify_test(too_long, kSuiteTime)).message,
            "X-Amz-Expires must be less than a week (in seconds) that is 604800");
}

TEST(SigV4Refuses, UnknownAccessKey) {
  SignableRequest request = signed_ecs_list_tasks();
  auto verdict = verify(
      request, [](std::string_view) { return std::nullopt; }, kSuiteTime);
  const VerifyError& error = refused(verdict);
  EXPECT_EQ(error.failure, Failure::kUnknownAccessKey);
  EXPECT_EQ(error.message, "The security token included in the request is invalid.");
  expect_error(error, Protocol::kJson, 400, "UnrecognizedClientException",
               "The security token included in the request is invalid.");
  expect_error(error, Protocol::kRestJson, 403, "UnrecognizedClientException",
               "The security token included in the request is invalid.");
  expect_error(error, Protocol::kQuery, 403, "InvalidClientTokenId",
               "The security token included in the request is invalid.");
  expect_error(error, Protocol::kEc2, 401, "AuthFailure",
               "AWS was not able to validate the provided access credentials");
}

TEST(SigV4Refuses, SignatureMismatch) {
  constexpr std::string_view kMessage =
      "The request signature we calculated does not match the signature you provided. Check "
      "your AWS Secret Access Key and signing method. Consult the service documentation for "
      "details.";
  SignableRequest request = signed_ecs_list_tasks();
  auto wrong_secret = [](std::string_view) -> std::optional<std::string> { return "not it"; };
  const VerifyError& error = refused(verify(request, wrong_secret, kSuiteTime));
  EXPECT_EQ(error.failure, Failure::kSignatureMismatch);
  EXPECT_EQ(error.message, kMessage);
  EXPECT_EQ(error.canonical_request,
            canonical_request(request, {"content-type", "host", "x-amz-date", "x-amz-target"},
                              PathRule::kNormalized));
  EXPECT_EQ(error.string_to_sign,
            string_to_sign("20150830T123600Z", "20150830/us-east-1/ecs/aws4_request",
                           error.canonical_request));
  expect_error(error, Protocol::kJson, 400, "InvalidSignatureException", kMessage);
  expect_error(error, Protocol::kRestJson, 403, "InvalidSignatureException", kMessage);
  expect_error(error, Protocol::kQuery, 403, "SignatureDoesNotMatch", kMessage);
  expect_error(error, Protocol::kEc2, 403, "SignatureDoesNotMatch", kMessage);

  SignableRequest other_body = request;
  other_body.payload_sha256_hex = sha256_hex(R"({"cluster":"other"})");
  EXPECT_EQ(refused(verify_test(other_body, kSuiteTime)).failure, Failure::kSignatureMismatch);
  SignableRequest other_target = request;
  set_header(other_target, "X-Amz-Target", "AmazonEC2ContainerServiceV20141113.StopTask");
  EXPECT_EQ(refused(verify_test(other_target, kSuiteTime)).failure, Failure::kSignatureMismatch);
  SignableRequest other_query = request;
  other_query.raw_query = "a=1";
  EXPECT_EQ(refused(verify_test(other_query, kSuiteTime)).failure, Failure::kSignatureMismatch);
}

TEST(SigV4Refuses, ExpiredOrFutureDate) {
  SignableRequest request = signed_ecs_list_tasks();
  EXPECT_TRUE(accepted(verify_test(request, kSuiteTime + 5min)));
  EXPECT_TRUE(accepted(verify_test(request, kSuiteTime - 5min)));

  const VerifyError& late = refused(verify_test(request, kSuiteTime + 15min));
  EXPECT_EQ(late.failure, Failure::kSignatureExpired);
  EXPECT_EQ(late.message,
            "Signature expired: 20150830T123600Z is now earlier than 20150830T124600Z "
            "(20150830T125100Z - 5 min.)");
  expect_error(late, Protocol::kJson, 400, "InvalidSignatureException", late.message);
  expect_error(late, Protocol::kRestJson, 403, "InvalidSignatureException", late.message);
  expect_error(late, Protocol::kQuery, 403, "SignatureDoesNotMatch", late.message);
  expect_error(late, Protocol::kEc2, 400, "RequestExpired", "Request has expired.");
  EXPECT_EQ(refused(verify_test(request, kSuiteTime + 5min + 1s)).failure,
            Failure::kSignatureExpired);

  const VerifyError& early = refused(verify_test(request, kSuiteTime - 6min));
  EXPECT_EQ(early.failure, Failure::kSignatureExpired);
  EXPECT_EQ(early.message,
            "Signature not yet current: 20150830T123600Z is still later than 20150830T123500Z "
            "(20150830T123000Z + 5 min.)");

  // IAM, STS and EC2 allow 15 minutes.
  EXPECT_TRUE(accepted(verify_test(request, kSuiteTime + 14min, {.max_skew = 15min})));
  EXPECT_EQ(refused(verify_test(request, kSuiteTime + 16min, {.max_skew = 15min})).message,
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z "
            "(20150830T125200Z - 15 min.)");
}

TEST(SigV4Refuses, PresignedPastExpiry) {
  SignableRequest request{
      "GET", "/", "Action=GetCallerIdentity", {{"Host", "h"}}, std::string(kEmptyPayloadSha256)};
  request.raw_query = presign_query(request, kTestCredentials, "us-east-1", "sts", kSuiteTime, 60s);
  EXPECT_TRUE(accepted(verify_test(request, kSuiteTime + 60s)));
  const VerifyError& error = refused(verify_test(request, kSuiteTime + 61s));
  EXPECT_EQ(error.failure, Failure::kPresignExpired);
  EXPECT_EQ(error.message, "Request has expired.");
  expect_error(error, Protocol::kQuery, 400, "RequestExpired", "Request has expired.");
  expect_error(error, Protocol::kJson, 400, "InvalidSignatureException", "Request has expired.");
}

TEST(SigV4Refuses, BadCredentialScope) {
  SignableRequest request = signed_ecs_list_tasks();
  const VerifyError& region = refused(verify_test(request, kSuiteTime, {.region = "eu-west-1"}));
  EXPECT_EQ(region.failure, Failure::kBadCredentialScope);
  EXPECT_EQ(region.message, "Credential should be scoped to a valid region, not 'us-east-1'. ");
  expect_error(region, Protocol::kJson, 400, "InvalidSignatureException", region.message);
  expect_error(region, Protocol::kQuery, 403, "SignatureDoesNotMatch", region.message);

  const VerifyError& service = refused(verify_test(request, kSuiteTime, {.service = "lambda"}));
  EXPECT_EQ(service.failure, Failure::kBadCredentialScope);
  EXPECT_EQ(service.message, "Credential should be scoped to correct service: 'lambda'. ");

  SignableRequest other_day = request;
  std::string auth = *header(request, "Authorization");
  auth.replace(auth.find("/20150830/"), 10, "/20150831/");
  set_header(other_day, "Authorization", auth);
  const VerifyError& date = refused(verify_test(other_day, kSuiteTime));
  EXPECT_EQ(date.failure, Failure::kBadCredentialScope);
  EXPECT_EQ(date.message,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
            "HTTP: '20150831' != '20150830', from '20150830T123600Z'.");

  SignableRequest terminator = request;
  auth = *header(request, "Authorization");
  auth.replace(auth.find("aws4_request"), 12, "aws5_request");
  set_header(terminator, "Authorization", auth);
  EXPECT_EQ(refused(verify_test(terminator, kSuiteTime)).message,
            "Credential should be scoped with a valid terminator: 'aws4_request', not "
            "'aws5_request'. ");
}

}  // namespace
}  // namespace sockerless::cloud::aws
