#include "sandbox/mountinfo.h"

#include <fstream>
#include <sstream>

namespace sockerless::sandbox {
namespace {

// The kernel writes space, tab, newline and backslash in paths as "\ooo".
std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      bool octal = true;
      int v = 0;
      for (std::size_t k = 1; k <= 3; ++k) {
        char c = s[i + k];
        octal = octal && c >= '0' && c <= '7';
        v = v * 8 + (c - '0');
      }
      if (octal) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

}  // namespace

std::vector<MountEntry> read_mountinfo(const std::string& path) {
  std::vector<MountEntry> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, options, optional;
    MountEntry e;
    fields >> id >> parent >> e.devno >> e.root >> e.mount_point >> options;
    // Optional fields ("shared:1", "master:2") until the "-" separator.
    while (fields >> optional && optional != "-") {
    }
    fields >> e.fstype >> e.source >> e.super_options;
    e.root = unescape(e.root);
    e.mount_point = unescape(e.mount_point);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace sockerless::sandbox
