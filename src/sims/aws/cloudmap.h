// Cloud Map's names on the VPC: what a DNS name in a private DNS namespace resolves to
// (servicediscovery.cc), and the DNS server that answers them for workloads
// (cloudmap_dns.cc).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sockerless::sims {
class Simulator;
}

namespace sockerless::sims::aws {

struct CloudMapAnswer {
  bool exists = false;  // false: inside a namespace but no such name (NXDOMAIN)
  std::vector<in_addr> ipv4;
  std::uint32_t ttl = 60;
};

// nullopt when `name` (lower case, no trailing dot) is in no namespace.
std::optional<CloudMapAnswer> cloudmap_lookup(Simulator& sim, const std::string& name);

// Where the VPC's DNS server listens: the VPC's last host address (the gateway's port 53
// is the embedded engine's DNS), on the bridge.
std::string cloudmap_dns_address(const std::string& vpc_cidr);

// Starts the VPC's DNS server (stopped at the simulator's shutdown); a warning, not an
// error, when it cannot listen.
void start_cloudmap_dns(Simulator& sim);

}  // namespace sockerless::sims::aws
