// Helpers the SigV4 unit tests share (cloud_aws_sigv4_test.cc, cloud_aws_sigv4_vectors_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cloud/aws/sigv4.h"
#include "common/digest.h"

namespace sockerless::cloud::aws::sigv4_test {

using namespace std::chrono_literals;
using Headers = std::vector<std::pair<std::string, std::string>>;

inline std::string sha256_hex(std::string_view data) {
  Sha256 hash;
  hash.update(data);
  return hash.hex();
}

inline std::optional<std::string> header(const SignableRequest& request, std::string_view name) {
  for (const auto& [n, v] : request.headers)
    if (n == name) return v;
  return std::nullopt;
}

inline std::string query_param(std::string_view query, std::string_view name) {
  std::string prefix = std::string(name) + "=";
  std::size_t at = query.find(prefix);
  if (at == std::string_view::npos) return "";
  std::size_t end = query.find('&', at);
  return std::string(query.substr(at + prefix.size(), end == std::string_view::npos
                                                          ? std::string_view::npos
                                                          : end - at - prefix.size()));
}

// The signed header names a canonical request lists (its second-to-last line).
inline std::vector<std::string> signed_names(const std::string& canonical) {
  std::size_t last = canonical.rfind('\n');
  std::size_t before = canonical.rfind('\n', last - 1);
  std::string list = canonical.substr(before + 1, last - before - 1);
  std::vector<std::string> names;
  std::size_t start = 0;
  while (true) {
    std::size_t semi = list.find(';', start);
    names.push_back(list.substr(start, semi == std::string::npos ? semi : semi - start));
    if (semi == std::string::npos) return names;
    start = semi + 1;
  }
}

inline SecretLookup lookup_of(const Credentials& credentials) {
  return [credentials](std::string_view key) -> std::optional<std::string> {
    if (key == credentials.access_key_id) return credentials.secret_access_key;
    return std::nullopt;
  };
}

// The refusal (a copy: the verdict is usually a temporary), or a failed expectation.
inline VerifyError refused(const std::variant<Verified, VerifyError>& verdict) {
  if (auto* error = std::get_if<VerifyError>(&verdict)) return *error;
  ADD_FAILURE() << "expected verify() to refuse the request";
  return VerifyError{Failure::kSignatureMismatch, "verify() accepted the request", {}, {}};
}

inline ::testing::AssertionResult accepted(const std::variant<Verified, VerifyError>& verdict) {
  if (std::holds_alternative<Verified>(verdict)) return ::testing::AssertionSuccess();
  const auto& error = std::get<VerifyError>(verdict);
  return ::testing::AssertionFailure() << "refused (" << static_cast<int>(error.failure)
                                       << "): " << error.message << "\ncanonical request:\n"
                                       << error.canonical_request << "\nstring to sign:\n"
                                       << error.string_to_sign;
}

inline std::string test_name(std::string name) {
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

// Every case of the suite signs with these, at 2015-08-30T12:36:00Z.
inline const Credentials kSuiteCredentials{"AKIDEXAMPLE",
                                           "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
constexpr std::string_view kSuiteRegion = "us-east-1";
constexpr std::string_view kSuiteService = "service";
inline const TimePoint kSuiteTime = std::chrono::system_clock::from_time_t(1440938160);
constexpr std::string_view kSuiteScope = "20150830/us-east-1/service/aws4_request";

}  // namespace sockerless::cloud::aws::sigv4_test
