// Docker's human-readable sizes ("64m", "1.5GiB", "512k"): binary multiples, as the
// CLI's --memory, --shm-size and --tmpfs size= understand them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sockerless {

// "100" → 100, "64m"/"64MB"/"64MiB" → 64 << 20, "1.5g" → 1.5 GiB; nullopt when malformed
// or negative.
std::optional<std::int64_t> parse_ram_bytes(std::string_view text);

}  // namespace sockerless
