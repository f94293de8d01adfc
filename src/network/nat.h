// Outbound NAT and forwarding for a bridge network, through the iptables command (the
// only interface to netfilter a host reliably has): the MASQUERADE and FORWARD rules
// dockerd's bridge driver installs, minus its DOCKER-* chains. Every change is idempotent:
// a rule is checked (-C) before it is added, and removed until none is left. Internal
// networks get none of this; the engine simply does not call it for them.
#pragma once

#include <string>
#include <vector>

namespace sockerless::network {

struct IptablesResult {
  int exit_code = -1;  // -1: could not run
  std::string output;  // stdout and stderr
};

// Runs `iptables -w <args>` (argv exec, no shell) and waits.
IptablesResult run_iptables(const std::vector<std::string>& args);

// Whether iptables can be used here (installed, and we may list the nat table); when not,
// `why` says so, for a warning in /info.
bool iptables_usable(std::string* why = nullptr);

// Sets net.ipv4.ip_forward to 1 in the calling thread's network namespace. Throws NetError.
void enable_ip_forward();

// Adds, for `subnet` ("172.18.0.0/16") behind `bridge`:
//   -t nat POSTROUTING -s <subnet> ! -o <bridge> -j MASQUERADE
//   FORWARD -i <bridge> ! -o <bridge> -j ACCEPT          (out to the world)
//   FORWARD -i <bridge> -o <bridge> -j ACCEPT            (between containers)
//   FORWARD -o <bridge> -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT  (replies)
// Throws Internal with iptables' output when a rule cannot be added.
void add_nat_rules(const std::string& subnet, const std::string& bridge);
// Removes them (those present); never throws for missing ones.
void remove_nat_rules(const std::string& subnet, const std::string& bridge);

// An internal network: nothing is forwarded in or out of its bridge
//   FORWARD -i <bridge> ! -o <bridge> -j DROP, FORWARD ! -i <bridge> -o <bridge> -j DROP
void add_internal_rules(const std::string& bridge);
void remove_internal_rules(const std::string& bridge);

// Isolation between two bridge networks, both ways: FORWARD -i a -o b -j DROP and back.
void add_isolation_rules(const std::string& bridge_a, const std::string& bridge_b);
void remove_isolation_rules(const std::string& bridge_a, const std::string& bridge_b);

}  // namespace sockerless::network
