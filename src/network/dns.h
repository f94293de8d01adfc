// The embedded DNS server of a user-defined network, like dockerd's 127.0.0.11: answers
// A queries for the names the engine knows (containers, aliases) and forwards the rest to
// the host's resolvers. Listens on UDP and TCP at one address and port, on threads of its
// own; the engine runs one per network, on the network's gateway address, port 53.
#pragma once

#include <netinet/in.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sockerless::network {

// What `client` (the asking container's address) sees for `name` (lower case, no trailing
// dot): its addresses, or nullopt when the name is not one of the engine's. Called on the
// server's threads, concurrently; must not block for long.
using DnsResolver = std::function<std::optional<std::vector<in_addr>>(const in_addr& client,
                                                                      const std::string& name)>;

struct DnsServerConfig {
  in_addr address{};        // to listen on
  std::uint16_t port = 53;  // 0: an ephemeral port (the same for UDP and TCP), see port()
  DnsResolver resolver;
  // Where unknown names go, tried in order; nullopt: default_dns_upstreams().
  std::optional<std::vector<sockaddr_in>> upstreams;
  int upstream_timeout_ms = 2000;  // per upstream
  std::uint32_t ttl = 600;         // of the answers it gives itself, as dockerd's
};

// The IPv4 nameservers of a resolv.conf, port 53, skipping loopback (127.x) ones.
std::vector<sockaddr_in> parse_resolv_conf_nameservers(const std::string& content);

// The host's: /etc/resolv.conf, else systemd-resolved's upstream file, else dockerd's
// fallback 8.8.8.8 and 8.8.4.4.
std::vector<sockaddr_in> default_dns_upstreams();

class DnsServer {
 public:
  // Binds both sockets and starts serving. Throws NetError (e.g. EADDRINUSE).
  explicit DnsServer(DnsServerConfig config);
  ~DnsServer();  // stop()
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  std::uint16_t port() const;
  // Stops accepting, ends in-flight work (upstream waits are cut short) and joins the
  // threads. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sockerless::network
