// Identifiers in Docker's shape: 64 lowercase hex characters from the system's CSPRNG.
#pragma once

#include <string>
#include <string_view>

namespace sockerless {

std::string random_hex(std::size_t bytes);
// A random version 4 UUID ("1b4e28ba-2fa1-4d2b-a3e2-…"): request ids, upload sessions.
std::string random_uuid();
inline std::string generate_id() {
  return random_hex(32);
}
inline std::string_view short_id(std::string_view id) {
  return id.substr(0, 12);
}

}  // namespace sockerless
