// AWS's wire protocols as a server speaks them: JSON 1.1 (X-Amz-Target), REST-JSON, Query
// with XML answers (IAM, STS) and EC2's variant of it. Requests are read into JSON (the
// shapes of botocore's service models), answers and errors written in each protocol's own
// shape, so the official SDKs parse them as they parse AWS's.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloud/aws/sigv4.h"
#include "http/message.h"

namespace sockerless::sims {

// The four wire protocols, as the SigV4 module names them (it maps refusals per protocol).
using cloud::aws::Protocol;

// An error as AWS reports it: the HTTP status, the error code the SDKs raise by name
// ("ClusterNotFoundException", "NoSuchEntity", "InvalidParameterValue"), the message, and
// whether the caller (Sender) or the service (Receiver) is at fault.
class AwsError : public std::runtime_error {
 public:
  AwsError(int status, std::string code, const std::string& message, bool sender = true)
      : std::runtime_error(message), status_(status), code_(std::move(code)), sender_(sender) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }
  bool sender() const { return sender_; }

 private:
  int status_;
  std::string code_;
  bool sender_;
};

// Who is calling, as the simulator established it.
struct AwsContext {
  std::string request_id;
  std::string region;
  std::string account_id;
  std::string access_key_id;
  std::string service;  // the signing name the request was routed by ("ecs", "logs", …)
  std::string host;     // the Host the client used (the endpoint's host:port)
};

// `prefix` and `n` characters drawn from `alphabet`: IAM's "AROA…", Cloud Map's "ns-…".
std::string random_id(std::string_view prefix, std::string_view alphabet, std::size_t n);
// An EC2-style resource id: "vpc-", "fs-", "eni-" … and 17 lower-case hex digits.
std::string resource_id(std::string_view prefix);

// JSON 1.1 / REST-JSON answers.
http::Response json_answer(int status, const nlohmann::json& body, std::string_view content_type,
                           const std::string& request_id);

// The error response of each protocol:
//  Json:     {"__type": code, "message": …} with x-amzn-ErrorType
//  RestJson: {"Type": "User"|"Service", "message": …} with x-amzn-ErrorType
//  Query:    <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>
//  Ec2:      <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>
http::Response error_answer(Protocol protocol, const AwsError& error, const std::string& request_id,
                            std::string_view json_content_type = "application/x-amz-json-1.1",
                            std::string_view xml_namespace = "");

// Query protocol input: the form's flat keys ("Tags.member.1.Key") made into nested JSON
// ({"Tags": [{"Key": …}]}). Lists are recognised by a numeric segment, with or without a
// "member"/"item" segment before it (EC2 writes "Filter.1.Value.1"); maps by ".entry.N.key".
nlohmann::json query_input(const std::vector<std::pair<std::string, std::string>>& form);

// Query protocol answer: <{op}Response xmlns=…><{op}Result>…</{op}Result>
// <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata></{op}Response>. Objects
// become elements, arrays become repeated <member> (Query) children of the array's element.
http::Response query_answer(const std::string& operation, const nlohmann::json& result,
                            std::string_view xml_namespace, const std::string& request_id);

// EC2's answer: <{op}Response xmlns=…><requestId>…</requestId>…</{op}Response>, arrays as
// <item> children (the handler names array elements as EC2's model does: "vpcSet").
http::Response ec2_answer(const std::string& operation, const nlohmann::json& result,
                          std::string_view xml_namespace, const std::string& request_id);

// XML text escaping.
std::string xml_escape(std::string_view s);

// Helpers for handlers reading JSON input the way AWS validates it.
const nlohmann::json& required(const nlohmann::json& input, const char* field);
std::string required_string(const nlohmann::json& input, const char* field);
std::string optional_string(const nlohmann::json& input, const char* field,
                            const std::string& fallback = "");

// Paging the way AWS services do: `token` is the opaque nextToken a previous page handed
// out (here: the offset, encoded), `max` the page size (0: `default_max`). Returns the
// page's first index and count, and the token for the next page ("" when none).
struct Page {
  std::size_t begin = 0, count = 0;
  std::string next_token;
};
Page page_of(std::size_t total, const std::string& token, long max, long default_max,
             const char* error_code = "InvalidParameterException");

// Seconds since the epoch as a double, the JSON protocols' timestamp form.
double epoch_seconds();
// Milliseconds since the epoch, CloudWatch Logs' timestamps.
std::int64_t epoch_millis();
// ISO 8601 with milliseconds and Z, the XML protocols' timestamp form.
std::string iso8601_now();
std::string iso8601(double epoch_seconds);

}  // namespace sockerless::sims
