#include "sims/common/aws_protocol.h"

#include <openssl/rand.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "common/ids.h"

namespace sockerless::sims {

std::string random_id(std::string_view prefix, std::string_view alphabet, std::size_t n) {
  std::string hex = random_hex(n), out(prefix);
  for (std::size_t i = 0; i < n; ++i)
    out += alphabet[std::stoul(hex.substr(i * 2, 2), nullptr, 16) % alphabet.size()];
  return out;
}

std::string resource_id(std::string_view prefix) {
  return random_id(std::string(prefix) + "-", "0123456789abcdef", 17);
}

http::Response json_answer(int status, const nlohmann::json& body, std::string_view content_type,
                           const std::string& request_id) {
  http::Response r = http::Response::json(status, body.dump());
  r.headers.set("Content-Type", std::string(content_type));
  r.headers.set("x-amzn-RequestId", request_id);
  return r;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

http::Response error_answer(Protocol protocol, const AwsError& e, const std::string& request_id,
                            std::string_view json_content_type, std::string_view xml_namespace) {
  http::Response r;
  r.status = e.status();
  switch (protocol) {
    case Protocol::kJson: {
      nlohmann::json body{{"__type", e.code()}, {"message", e.what()}};
      r = json_answer(e.status(), body, json_content_type, request_id);
      r.headers.set("x-amzn-ErrorType", e.code());
      return r;
    }
    case Protocol::kRestJson: {
      nlohmann::json body{{"Type", e.sender() ? "User" : "Service"}, {"message", e.what()}};
      r = json_answer(e.status(), body, "application/json", request_id);
      r.headers.set("x-amzn-ErrorType", e.code());
      return r;
    }
    case Protocol::kQuery: {
      std::string ns = xml_namespace.empty() ? "" : " xmlns=\"" + std::string(xml_namespace) + "\"";
      r.body = "<ErrorResponse" + ns + "><Error><Type>" + (e.sender() ? "Sender" : "Receiver") +
               "</Type><Code>" + xml_escape(e.code()) + "</Code><Message>" + xml_escape(e.what()) +
               "</Message></Error><RequestId>" + request_id + "</RequestId></ErrorResponse>";
      break;
    }
    case Protocol::kEc2:
      r.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>" +
               xml_escape(e.code()) + "</Code><Message>" + xml_escape(e.what()) +
               "</Message></Error></Errors><RequestID>" + request_id + "</RequestID></Response>";
      break;
  }
  r.headers.set("Content-Type", "text/xml");
  r.headers.set("x-amzn-RequestId", request_id);
  return r;
}

namespace {

bool numeric(std::string_view s) {
  if (s.empty() || s.size() > 6) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

std::vector<std::string> split_dots(std::string_view key) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    auto dot = key.find('.', start);
    parts.emplace_back(key.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts;
}

// Lists are first collected as objects keyed by their 1-based index ("#1"), then turned
// into arrays in index order, so that members may arrive in any order.
void place(nlohmann::json& node, const std::vector<std::string>& parts, std::size_t i,
           const std::string& value) {
  const std::string& part = parts[i];
  bool last = i + 1 == parts.size();
  // "member"/"item" in front of an index only names the list's elements.
  if ((part == "member" || part == "item") && !last && numeric(parts[i + 1])) {
    place(node, parts, i + 1, value);
    return;
  }
  std::string key = numeric(part) ? "#" + std::string(6 - part.size(), '0') + part : part;
  if (!node.is_object()) node = nlohmann::json::object();
  if (last) {
    node[key] = value;
    return;
  }
  place(node[key], parts, i + 1, value);
}

nlohmann::json finish(const nlohmann::json& node);

// "entry.N.key" / "entry.N.value": a map.
nlohmann::json finish_map(const nlohmann::json& entries) {
  nlohmann::json out = nlohmann::json::object();
  for (auto& [k, v] : entries.items()) {
    if (!v.is_object() || !v.contains("key") || !v["key"].is_string())
      throw AwsError(400, "MalformedQueryString", "map entry " + k.substr(1) + " has no key");
    out[v["key"].get<std::string>()] = v.contains("value") ? finish(v["value"]) : "";
  }
  return out;
}

nlohmann::json finish(const nlohmann::json& node) {
  if (!node.is_object()) return node;
  bool list = !node.empty();
  for (auto& [k, v] : node.items())
    if (k.empty() || k[0] != '#') list = false;
  if (list) {
    nlohmann::json out = nlohmann::json::array();
    for (auto& [k, v] : node.items())  // keys are zero-padded: object order is index order
      out.push_back(finish(v));
    return out;
  }
  if (node.size() == 1 && node.contains("entry") && node["entry"].is_object())
    return finish_map(node["entry"]);
  nlohmann::json out = nlohmann::json::object();
  for (auto& [k, v] : node.items())
    out[k] = finish(v);
  return out;
}

void to_xml(std::string& out, const std::string& name, const nlohmann::json& v,
            const char* member) {
  if (v.is_null()) return;
  out += "<" + name + ">";
  if (v.is_object()) {
    for (auto& [k, x] : v.items())
      to_xml(out, k, x, member);
  } else if (v.is_array()) {
    for (const auto& x : v)
      to_xml(out, member, x, member);
  } else if (v.is_string()) {
    out += xml_escape(v.get<std::string>());
  } else if (v.is_boolean()) {
    out += v.get<bool>() ? "true" : "false";
  } else {
    out += v.dump();
  }
  out += "</" + name + ">";
}

std::string ns_attr(std::string_view ns) {
  return ns.empty() ? "" : " xmlns=\"" + std::string(ns) + "\"";
}

}  // namespace

nlohmann::json query_input(const std::vector<std::pair<std::string, std::string>>& form) {
  nlohmann::json root = nlohmann::json::object();
  for (const auto& [k, v] : form) {
    if (k == "Action" || k == "Version" || k.rfind("X-Amz-", 0) == 0) continue;
    place(root, split_dots(k), 0, v);
  }
  return finish(root);
}

http::Response query_answer(const std::string& operation, const nlohmann::json& result,
                            std::string_view xml_namespace, const std::string& request_id) {
  std::string body = "<" + operation + "Response" + ns_attr(xml_namespace) + ">";
  if (!result.is_null()) {
    body += "<" + operation + "Result>";
    for (auto& [k, x] : result.items())
      to_xml(body, k, x, "member");
    body += "</" + operation + "Result>";
  }
  body += "<ResponseMetadata><RequestId>" + request_id + "</RequestId></ResponseMetadata></" +
          operation + "Response>";
  http::Response r = http::Response::text(200, std::move(body), "text/xml");
  r.headers.set("x-amzn-RequestId", request_id);
  return r;
}

http::Response ec2_answer(const std::string& operation, const nlohmann::json& result,
                          std::string_view xml_namespace, const std::string& request_id) {
  std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<" + operation + "Response" +
                     ns_attr(xml_namespace) + "><requestId>" + request_id + "</requestId>";
  for (auto& [k, x] : result.items())
    to_xml(body, k, x, "item");
  body += "</" + operation + "Response>";
  http::Response r = http::Response::text(200, std::move(body), "text/xml;charset=UTF-8");
  r.headers.set("x-amzn-RequestId", request_id);
  return r;
}

const nlohmann::json& required(const nlohmann::json& input, const char* field) {
  if (!input.is_object() || !input.contains(field) || input[field].is_null())
    throw AwsError(400, "ValidationException",
                   std::string("1 validation error detected: Value null at '") + field +
                       "' failed to satisfy constraint: Member must not be null");
  return input[field];
}

std::string required_string(const nlohmann::json& input, const char* field) {
  const auto& v = required(input, field);
  if (!v.is_string())
    throw AwsError(400, "SerializationException",
                   std::string("Unexpected value type for '") + field + "': expected a string");
  return v.get<std::string>();
}

std::string optional_string(const nlohmann::json& input, const char* field,
                            const std::string& fallback) {
  if (!input.is_object() || !input.contains(field) || input[field].is_null()) return fallback;
  if (!input[field].is_string())
    throw AwsError(400, "SerializationException",
                   std::string("Unexpected value type for '") + field + "': expected a string");
  return input[field].get<std::string>();
}

Page page_of(std::size_t total, const std::string& token, long max, long default_max,
             const char* error_code) {
  Page p;
  if (!token.empty()) {
    // The token is "o" + the offset: opaque to clients, checked here.
    std::size_t used = 0;
    unsigned long offset = 0;
    try {
      if (token.size() < 2 || token[0] != 'o') throw std::invalid_argument("token");
      offset = std::stoul(token.substr(1), &used);
    } catch (const std::exception&) {
      throw AwsError(400, error_code, "Invalid token " + token);
    }
    if (used + 1 != token.size() || offset > total)
      throw AwsError(400, error_code, "Invalid token " + token);
    p.begin = offset;
  }
  std::size_t limit = static_cast<std::size_t>(max > 0 ? max : default_max);
  p.count = std::min(limit, total - p.begin);
  if (p.begin + p.count < total) p.next_token = "o" + std::to_string(p.begin + p.count);
  return p;
}

double epoch_seconds() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()) /
         1000.0;
}

std::int64_t epoch_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso8601(double epoch) {
  auto secs = static_cast<std::time_t>(epoch);
  int millis = static_cast<int>((epoch - static_cast<double>(secs)) * 1000.0 + 0.5) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

std::string iso8601_now() {
  return iso8601(epoch_seconds());
}

}  // namespace sockerless::sims
