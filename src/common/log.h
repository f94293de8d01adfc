// Logging: spdlog, as text (like dockerd's logrus text output) or one JSON object a line.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace sockerless::log {

enum class Format { Text, Json };

// Parses "debug", "info", "warn", "error", "fatal" (dockerd's names). Throws InvalidArgument.
spdlog::level::level_enum parse_level(const std::string& name);
Format parse_format(const std::string& name);

// Configures the default logger: stderr, the given level and format.
void init(spdlog::level::level_enum level, Format format);

}  // namespace sockerless::log
