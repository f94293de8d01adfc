#include "http/message.h"

#include <algorithm>
#include <cctype>

namespace sockerless::http {

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) <
           std::tolower(static_cast<unsigned char>(y));
  });
}

void Headers::add(std::string name, std::string value) {
  fields_.emplace(std::move(name), std::move(value));
}

void Headers::set(std::string name, std::string value) {
  auto [b, e] = fields_.equal_range(name);
  fields_.erase(b, e);
  fields_.emplace(std::move(name), std::move(value));
}

std::optional<std::string> Headers::get(std::string_view name) const {
  auto it = fields_.find(std::string(name));
  if (it == fields_.end()) return std::nullopt;
  return it->second;
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Query Query::parse(std::string_view raw) {
  Query q;
  while (!raw.empty()) {
    auto amp = raw.find('&');
    std::string_view part = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view{} : raw.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    std::string key = percent_decode(part.substr(0, eq), true);
    std::string value =
        eq == std::string_view::npos ? std::string() : percent_decode(part.substr(eq + 1), true);
    q.items_.emplace_back(std::move(key), std::move(value));
  }
  return q;
}

std::optional<std::string> Query::get(std::string_view key) const {
  for (const auto& [k, v] : items_)
    if (k == key) return v;
  return std::nullopt;
}

std::vector<std::string> Query::all(std::string_view key) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : items_)
    if (k == key) out.push_back(v);
  return out;
}

bool Query::get_bool(std::string_view key, bool fallback) const {
  auto v = get(key);
  if (!v) return fallback;
  // dockerd's BoolValue: anything but "", "0", "no", "false", "none" (any case) is true.
  std::string s = *v;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return !(s.empty() || s == "0" || s == "no" || s == "false" || s == "none");
}

const std::string& Request::param(const std::string& name) const {
  static const std::string kEmpty;
  auto it = params.find(name);
  return it == params.end() ? kEmpty : it->second;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.headers.set("Content-Type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

Response Response::empty(int status) {
  Response r;
  r.status = status;
  return r;
}

}  // namespace sockerless::http
