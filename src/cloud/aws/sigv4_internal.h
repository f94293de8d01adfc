// What sigv4.cc and sigv4_verify.cc share; not for use outside this folder.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cloud/aws/sigv4.h"

namespace sockerless::cloud::aws {

std::string lower(std::string_view text);  // ASCII only, as header names are
std::string join(const std::vector<std::string>& parts, char separator);
// The query's name=value pairs, in order, decoded ('+' as a space); empty pairs skipped.
std::vector<std::pair<std::string, std::string>> decode_query(std::string_view raw_query);
// The first value of a header (lname lower-case), or nullopt.
std::optional<std::string> find_header(const SignableRequest& request, std::string_view lname);
// canonical_request() with the payload hash given rather than taken from the request.
std::string canonical_request_with_payload(const SignableRequest& request,
                                           const std::vector<std::string>& signed_headers,
                                           PathRule rule, std::string_view payload_hash);

}  // namespace sockerless::cloud::aws
