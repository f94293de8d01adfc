// Networking inside the sandbox: "none" and "default" get a network namespace of their
// own with only loopback, brought up here; "host" shares the host's.
#pragma once

#include <string>

namespace sockerless::sandbox {

bool wants_own_netns(const std::string& network_mode);

// Brings `lo` up in the current network namespace. Returns 0 or an errno.
int bring_up_loopback();

}  // namespace sockerless::sandbox
