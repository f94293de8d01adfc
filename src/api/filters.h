// The `filters` query parameter: a JSON map from key to a set of values, in the current
// form {"key":{"value":true}} or the legacy one {"key":["value"]}.
#pragma once

#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sockerless::api {

class Filters {
 public:
  // Throws InvalidArgument for text that is not a filters document.
  static Filters parse(std::string_view json);

  bool empty() const { return args_.empty(); }
  bool has(std::string_view key) const { return args_.count(std::string(key)) > 0; }
  std::vector<std::string> values(std::string_view key) const;
  void add(const std::string& key, const std::string& value) { args_[key].insert(value); }

  // Throws InvalidArgument ("invalid filter 'k'") for a key not in `accepted`.
  void validate(std::initializer_list<std::string_view> accepted) const;

  // True when the key is absent or one of its values equals `value`.
  bool exact_match(std::string_view key, std::string_view value) const;
  // True when the key is absent or one of its values equals any of `candidates`.
  bool match_any(std::string_view key, const std::vector<std::string>& candidates) const;
  // Every `key` filter ("name" or "name=value") holds for these labels.
  bool match_labels(std::string_view key, const std::map<std::string, std::string>& labels) const;

 private:
  std::map<std::string, std::set<std::string>> args_;
};

}  // namespace sockerless::api
