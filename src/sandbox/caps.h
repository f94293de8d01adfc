// Capabilities the way docker grants them: a default set, CapAdd/CapDrop ("ALL" too),
// everything when privileged. The bounding set is the list; root's effective and
// permitted sets are the list; a non-root user starts with none (what execve gives it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sockerless::sandbox {

using CapabilitySet = std::uint64_t;  // bit n = capability n

// The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap).
int last_capability();
CapabilitySet all_capabilities();
CapabilitySet default_capabilities();

// "NET_ADMIN", "cap_net_admin", "CAP_NET_ADMIN" → 12.
std::optional<int> capability_number(std::string_view name);
std::string capability_name(int number);  // "CAP_NET_ADMIN"

// docker's TweakCapabilities. Throws SandboxError("capabilities",
// "unknown capability: \"CAP_FOO\"").
CapabilitySet container_capabilities(bool privileged, const std::vector<std::string>& add,
                                     const std::vector<std::string>& drop);

// Child side, while still root: shrinks the bounding set and asks the kernel to keep
// the permitted set across the coming setuid. Returns 0 or an errno.
int restrict_bounding_set(CapabilitySet caps);
// Child side, after setuid: effective = permitted = caps for uid 0 (as far as the caller
// holds them), nothing otherwise; inheritable and ambient empty (docker has cleared
// inheritable since 20.10.14).
int set_process_capabilities(CapabilitySet caps, bool root);

}  // namespace sockerless::sandbox
