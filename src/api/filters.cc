#include "api/filters.h"

#include <nlohmann/json.hpp>

#include "common/errors.h"

namespace sockerless::api {

Filters Filters::parse(std::string_view text) {
  Filters f;
  if (text.empty()) return f;
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    throw InvalidArgument("invalid filter: filters must be a JSON object, got " +
                          std::string(text));
  for (const auto& [key, value] : doc.items()) {
    auto& set = f.args_[key];
    if (value.is_object()) {
      for (const auto& [v, on] : value.items()) {
        if (!on.is_boolean()) throw InvalidArgument("invalid filter value for '" + key + "'");
        if (on.get<bool>()) set.insert(v);
      }
    } else if (value.is_array()) {
      for (const auto& v : value) {
        if (!v.is_string()) throw InvalidArgument("invalid filter value for '" + key + "'");
        set.insert(v.get<std::string>());
      }
    } else {
      throw InvalidArgument("invalid filter value for '" + key + "'");
    }
  }
  return f;
}

std::vector<std::string> Filters::values(std::string_view key) const {
  auto it = args_.find(std::string(key));
  if (it == args_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

void Filters::validate(std::initializer_list<std::string_view> accepted) const {
  for (const auto& [key, _] : args_) {
    bool ok = false;
    for (auto a : accepted)
      ok = ok || a == key;
    if (!ok) throw InvalidArgument("invalid filter '" + key + "'");
  }
}

bool Filters::exact_match(std::string_view key, std::string_view value) const {
  auto it = args_.find(std::string(key));
  if (it == args_.end()) return true;
  return it->second.count(std::string(value)) > 0;
}

bool Filters::match_any(std::string_view key, const std::vector<std::string>& candidates) const {
  auto it = args_.find(std::string(key));
  if (it == args_.end()) return true;
  for (const auto& c : candidates)
    if (it->second.count(c)) return true;
  return false;
}

bool Filters::match_labels(std::string_view key,
                           const std::map<std::string, std::string>& labels) const {
  auto it = args_.find(std::string(key));
  if (it == args_.end()) return true;
  for (const auto& want : it->second) {
    auto eq = want.find('=');
    auto name = want.substr(0, eq);
    auto found = labels.find(name);
    if (found == labels.end()) return false;
    if (eq != std::string::npos && found->second != want.substr(eq + 1)) return false;
  }
  return true;
}

}  // namespace sockerless::api
