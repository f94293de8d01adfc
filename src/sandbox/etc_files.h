// The generated /etc/hosts, /etc/hostname and /etc/resolv.conf (docker's contents), written
// into the state dir by the caller and bind-mounted into the root by the child.
#pragma once

#include <string>

#include "sandbox/layout.h"
#include "sandbox/sandbox.h"

namespace sockerless::sandbox {

// The container's hostname: spec.hostname, else the host's for network "host", else the
// first 12 characters of the id (docker's default).
std::string effective_hostname(const ContainerSpec& spec);

// `host_hosts`: the host's /etc/hosts, used as the base for network "host".
std::string hosts_content(const ContainerSpec& spec, const std::string& host_hosts);
// `host_resolv`: the host's /etc/resolv.conf. Without dns_* settings the container gets
// the host's nameservers, search and options; in its own network namespace localhost
// and IPv6 nameservers are unreachable and dropped, and with none left docker's
// defaults (8.8.8.8, 8.8.4.4) are used.
std::string resolv_conf_content(const ContainerSpec& spec, const std::string& host_resolv);

// Writes the three files under layout; throws SandboxError("etc files", …).
void write_etc_files(const ContainerSpec& spec, const StateLayout& layout);

}  // namespace sockerless::sandbox
