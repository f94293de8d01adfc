// The VPC's DNS server: A queries for names in Cloud Map's private DNS namespaces are
// answered from the simulator's state (NXDOMAIN for unknown names inside a namespace), the
// rest are forwarded to the host's resolvers. The engine's own embedded DNS holds port 53 of
// the VPC gateway, so this one listens on the VPC's last host address (put on the bridge),
// which the workloads' resolv.conf names (Workloads::create). One thread serves UDP and TCP;
// a query waits for the one before it.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/unique_fd.h"
#include "network/dns.h"
#include "network/dns_message.h"
#include "network/ipam.h"
#include "network/netlink.h"
#include "sims/aws/cloudmap.h"
#include "sims/common/simulator.h"
#include "sims/common/workloads.h"

namespace sockerless::sims::aws {
namespace {

namespace dns = network::dns;

constexpr int kUpstreamTimeoutMs = 2000;

bool wait_for(int fd, short events, int stop_fd, int timeout_ms) {
  pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
  return ::poll(fds, 2, timeout_ms) > 0 && (fds[0].revents & (events | POLLHUP | POLLERR)) &&
         !(fds[1].revents & POLLIN);
}

class CloudMapDns {
 public:
  CloudMapDns(Simulator& sim, in_addr address) : sim_(sim) {
    upstreams_ = network::default_dns_upstreams();
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(53);
    a.sin_addr = address;
    udp_ = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    tcp_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    stop_ = UniqueFd(::eventfd(0, EFD_CLOEXEC));
    int one = 1;
    ::setsockopt(tcp_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (!udp_ || !tcp_ || !stop_ ||
        ::bind(udp_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::bind(tcp_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(tcp_.get(), 64) != 0)
      throw std::runtime_error(std::string("cannot listen on port 53: ") + std::strerror(errno));
    thread_ = std::thread([this] { serve(); });
  }

  ~CloudMapDns() { stop(); }

  void stop() {
    if (!thread_.joinable()) return;
    std::uint64_t one = 1;
    if (::write(stop_.get(), &one, sizeof one) < 0) spdlog::warn("cloud map dns: stop: {}", errno);
    thread_.join();
  }

 private:
  void serve() {
    std::vector<std::uint8_t> buf(65535);
    for (;;) {
      pollfd fds[3] = {{udp_.get(), POLLIN, 0}, {tcp_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[2].revents & POLLIN) return;
      if (fds[0].revents & POLLIN) {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        ssize_t n = ::recvfrom(udp_.get(), buf.data(), buf.size(), 0,
                               reinterpret_cast<sockaddr*>(&from), &len);
        if (n > 0) {
          auto reply = answer(dns::Bytes(buf.begin(), buf.begin() + n), false);
          if (!reply.empty())
            ::sendto(udp_.get(), reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from),
                     len);
        }
      }
      if (fds[1].revents & POLLIN) serve_tcp();
    }
  }

  // One connection: length-prefixed queries until the client closes or goes quiet.
  void serve_tcp() {
    UniqueFd c(::accept4(tcp_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!c) return;
    auto read_all = [&](std::uint8_t* p, std::size_t size) {
      while (size > 0) {
        if (!wait_for(c.get(), POLLIN, stop_.get(), kUpstreamTimeoutMs)) return false;
        ssize_t n = ::read(c.get(), p, size);
        if (n <= 0) return false;
        p += n;
        size -= static_cast<std::size_t>(n);
      }
      return true;
    };
    for (;;) {
      std::uint8_t len[2];
      if (!read_all(len, 2)) return;
      dns::Bytes packet((len[0] << 8) | len[1]);
      if (!read_all(packet.data(), packet.size())) return;
      auto reply = answer(packet, true);
      if (reply.empty()) return;
      dns::Bytes out = {static_cast<std::uint8_t>(reply.size() >> 8),
                        static_cast<std::uint8_t>(reply.size() & 0xff)};
      out.insert(out.end(), reply.begin(), reply.end());
      if (::send(c.get(), out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size()))
        return;
    }
  }

  dns::Bytes answer(const dns::Bytes& packet, bool tcp) {
    auto query = dns::parse_query(packet);
    if (!query) {
      bool is_query = packet.size() >= dns::kHeaderSize && !(packet[2] & 0x80);
      return is_query ? dns::build_error(packet, nullptr, dns::Rcode::FormErr) : dns::Bytes{};
    }
    if (query->klass == dns::kClassIn) {
      std::optional<CloudMapAnswer> found;
      try {
        found = cloudmap_lookup(sim_, query->name);
      } catch (const std::exception& e) {
        spdlog::warn("cloud map dns: {}: {}", query->name, e.what());
        return dns::build_error(packet, &*query, dns::Rcode::ServFail);
      }
      if (found) {
        if (!found->exists) return dns::build_error(packet, &*query, dns::Rcode::NxDomain);
        std::vector<in_addr> none;
        return dns::build_answer(packet, *query, query->type == dns::kTypeA ? found->ipv4 : none,
                                 found->ttl, tcp ? 65535 : dns::kMaxUdpSize);
      }
    }
    if (auto reply = forward(packet)) return *reply;
    return dns::build_error(packet, &*query, dns::Rcode::ServFail);
  }

  // Over UDP to each upstream in turn; the first reply wins.
  std::optional<dns::Bytes> forward(const dns::Bytes& packet) {
    for (const auto& upstream : upstreams_) {
      UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      if (!fd ||
          ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&upstream), sizeof upstream) != 0 ||
          ::send(fd.get(), packet.data(), packet.size(), 0) < 0)
        continue;
      if (!wait_for(fd.get(), POLLIN, stop_.get(), kUpstreamTimeoutMs)) continue;
      dns::Bytes reply(65535);
      ssize_t n = ::recv(fd.get(), reply.data(), reply.size(), 0);
      if (n < static_cast<ssize_t>(dns::kHeaderSize) || reply[0] != packet[0] ||
          reply[1] != packet[1])
        continue;
      reply.resize(static_cast<std::size_t>(n));
      return reply;
    }
    return std::nullopt;
  }

  Simulator& sim_;
  std::vector<sockaddr_in> upstreams_;
  UniqueFd udp_, tcp_, stop_;
  std::thread thread_;
};

}  // namespace

std::string cloudmap_dns_address(const std::string& vpc_cidr) {
  auto cidr = network::parse_cidr(vpc_cidr);
  return network::format_ipv4(cidr.broadcast() - 1);
}

void start_cloudmap_dns(Simulator& sim) {
  std::string address = cloudmap_dns_address(sim.workloads().vpc_cidr());
  in_addr a{};
  ::inet_pton(AF_INET, address.c_str(), &a);
  try {
    network::Netlink().add_address(sim.workloads().bridge(), a, 32);
  } catch (const std::exception& e) {  // left from an earlier run on this data root
    spdlog::debug("cloud map dns: {} on {}: {}", address, sim.workloads().bridge(), e.what());
  }
  std::shared_ptr<CloudMapDns> server;
  try {
    server = std::make_shared<CloudMapDns>(sim, a);
  } catch (const std::exception& e) {
    spdlog::warn("no Cloud Map DNS on the VPC ({}): {}", address, e.what());
    return;
  }
  spdlog::info("Cloud Map DNS on the VPC at {}:53", address);
  sim.workloads().set_dns({address});
  sim.on_shutdown([server] { server->stop(); });
}

}  // namespace sockerless::sims::aws
