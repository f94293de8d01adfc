// Writing JSON the way dockerd does (Go's encoder: compact, one trailing newline).
#pragma once

#include <nlohmann/json.hpp>

#include "http/message.h"

namespace sockerless::api {

std::string dump_json(const nlohmann::json& doc);
http::Response json_response(int status, const nlohmann::json& doc);
// The fields dockerd puts on every answer, naming sockerless `version` as the server.
http::Headers default_headers(const std::string& version);
// Parses a request body as JSON; an empty body (or a bare `null`) is `fallback`. Members
// whose value is null are dropped at every depth: Go clients send null for every unset
// string, slice, map and pointer, and dockerd decodes null as the zero value, the same as
// an absent member. Throws InvalidArgument.
nlohmann::json parse_body(const std::string& body,
                          nlohmann::json fallback = nlohmann::json::object());
// What parse_body does to a parsed document: removes null members of objects, recursively.
void drop_null_members(nlohmann::json& doc);

}  // namespace sockerless::api
