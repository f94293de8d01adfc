// Small whole-file reads, for /proc, /sys and /etc files.
#pragma once

#include <string>

namespace sockerless {

// The file's contents; empty when it is missing or unreadable.
std::string read_file(const std::string& path);

}  // namespace sockerless
