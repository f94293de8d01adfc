// CloudWatch Logs' filter patterns for unstructured events, the plain-term kind: every
// term must appear ("ERROR timeout"), a quoted phrase is one term ("\"disk full\""),
// `-term` must not appear, and of `?term`s at least one must. Matching is case-sensitive,
// as CloudWatch's. JSON ({ $.x = … }), space-delimited ([a, b]) and regular-expression
// (%…%) patterns are refused by name.
#pragma once

#include <string>
#include <vector>

namespace sockerless::sims::aws {

struct FilterPattern {
  std::vector<std::string> all, any, none;

  bool matches(const std::string& message) const;
};

// An empty pattern matches every event. Throws AwsError (InvalidParameterException) for
// patterns it cannot read or does not implement.
FilterPattern parse_filter_pattern(const std::string& text);

}  // namespace sockerless::sims::aws
