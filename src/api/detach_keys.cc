#include "api/detach_keys.h"

namespace sockerless::api {

std::optional<std::string> parse_detach_keys(std::string_view spec) {
  if (spec.empty()) spec = "ctrl-p,ctrl-q";
  std::string keys;
  for (;;) {
    auto comma = spec.find(',');
    std::string_view k = spec.substr(0, comma);
    if (k.size() == 1) {
      keys += k[0];
    } else if (k == "DEL") {
      keys += '\x7f';
    } else if (char c = k.size() == 6 && k.starts_with("ctrl-") ? k[5] : ' ';
               c == '@' || (c >= '[' && c <= '_')) {
      keys += static_cast<char>(c - '@');  // ctrl-@ is 0, ctrl-[ 27, ctrl-_ 31
    } else if (c >= 'a' && c <= 'z') {
      keys += static_cast<char>(c - 'a' + 1);
    } else {
      return std::nullopt;
    }
    if (comma == std::string_view::npos) return keys;
    spec.remove_prefix(comma + 1);
  }
}

std::string DetachScanner::feed(std::string_view input, bool& detached) {
  if (keys_.empty()) return std::string(input);
  std::string pass;
  for (char ch : input) {
    if (ch == keys_[matched_]) {
      if (++matched_ == keys_.size()) {
        matched_ = 0;
        detached = true;
        return pass;
      }
      continue;
    }
    // A broken sequence: the keys held go on, then this one (which starts no new match).
    pass.append(keys_, 0, matched_);
    matched_ = 0;
    pass += ch;
  }
  return pass;
}

}  // namespace sockerless::api
