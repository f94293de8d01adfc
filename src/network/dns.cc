#include "network/dns.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/files.h"
#include "common/unique_fd.h"
#include "network/dns_message.h"
#include "network/ipam.h"
#include "network/net_error.h"
#include "network/sockets.h"

namespace sockerless::network {
namespace {

constexpr int kWorkers = 4;
constexpr std::size_t kMaxQueued = 256;
constexpr int kTcpIdleMs = 10000;

bool is_failure(const dns::Bytes& reply) {
  auto parsed = dns::parse_response(reply);
  return !parsed || parsed->rcode == dns::Rcode::ServFail || parsed->rcode == dns::Rcode::Refused;
}

}  // namespace

std::vector<sockaddr_in> parse_resolv_conf_nameservers(const std::string& content) {
  std::vector<sockaddr_in> result;
  std::istringstream lines(content);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string keyword, value;
    if (!(words >> keyword >> value) || keyword != "nameserver") continue;
    auto address = parse_ipv4(value);
    if (!address || (*address >> 24) == 127) continue;
    result.push_back(make_sockaddr(to_in_addr(*address), 53));
  }
  return result;
}

std::vector<sockaddr_in> default_dns_upstreams() {
  for (const char* path : {"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"}) {
    auto found = parse_resolv_conf_nameservers(read_file(path));
    if (!found.empty()) return found;
  }
  return {make_sockaddr(to_in_addr(0x08080808), 53), make_sockaddr(to_in_addr(0x08080404), 53)};
}

struct DnsServer::Impl {
  // One piece of work: a UDP query, or a TCP connection carrying any number of them.
  struct Job {
    sockaddr_in client{};
    dns::Bytes packet;  // UDP
    UniqueFd conn;      // TCP
  };

  DnsServerConfig config;
  std::vector<sockaddr_in> upstreams;
  UniqueFd udp, tcp, stop_fd;
  std::uint16_t port = 0;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Job> queue;
  bool stopping = false;
  std::thread listener;
  std::vector<std::thread> workers;

  explicit Impl(DnsServerConfig c) : config(std::move(c)) {
    upstreams = config.upstreams ? *config.upstreams : default_dns_upstreams();
    stop_fd = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_fd) throw_errno("dns: eventfd");
    bind_both();
    listener = std::thread([this] { listen_loop(); });
    for (int i = 0; i < kWorkers; ++i)
      workers.emplace_back([this] { work_loop(); });
  }

  // UDP and TCP on one port; with port 0, retried when TCP finds UDP's pick taken.
  void bind_both() {
    for (int attempt = 0;; ++attempt) {
      udp = bind_socket(SOCK_DGRAM | SOCK_NONBLOCK, make_sockaddr(config.address, config.port));
      port = local_port(udp.get());
      try {
        tcp = bind_socket(SOCK_STREAM | SOCK_NONBLOCK, make_sockaddr(config.address, port));
        return;
      } catch (const NetError& e) {
        if (config.port != 0 || e.code() != EADDRINUSE || attempt >= 10) throw;
      }
    }
  }

  void stop() {
    {
      std::lock_guard lock(mutex);
      if (stopping) return;
      stopping = true;
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd.get(), &one, sizeof one);
    wake.notify_all();
    if (listener.joinable()) listener.join();
    for (auto& w : workers)
      if (w.joinable()) w.join();
  }

  void enqueue(Job job) {
    std::lock_guard lock(mutex);
    if (queue.size() >= kMaxQueued) return;  // overloaded: the client will retry
    queue.push_back(std::move(job));
    wake.notify_one();
  }

  void listen_loop() {
    pollfd fds[3] = {{udp.get(), POLLIN, 0}, {tcp.get(), POLLIN, 0}, {stop_fd.get(), POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        spdlog::error("dns server: poll: {}", std::strerror(errno));
        return;
      }
      if (fds[2].revents) return;
      if (fds[0].revents) receive_datagrams();
      if (fds[1].revents) accept_connections();
    }
  }

  void receive_datagrams() {
    for (;;) {
      Job job;
      job.packet.resize(65535);
      socklen_t len = sizeof job.client;
      ssize_t n = ::recvfrom(udp.get(), job.packet.data(), job.packet.size(), 0,
                             reinterpret_cast<sockaddr*>(&job.client), &len);
      if (n < 0) return;  // EAGAIN: drained
      job.packet.resize(static_cast<std::size_t>(n));
      enqueue(std::move(job));
    }
  }

  void accept_connections() {
    for (;;) {
      Job job;
      socklen_t len = sizeof job.client;
      int fd = ::accept4(tcp.get(), reinterpret_cast<sockaddr*>(&job.client), &len,
                         SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) return;
      job.conn = UniqueFd(fd);
      enqueue(std::move(job));
    }
  }

  void work_loop() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mutex);
        wake.wait(lock, [this] { return stopping || !queue.empty(); });
        if (stopping) return;
        job = std::move(queue.front());
        queue.pop_front();
      }
      if (job.conn) {
        serve_connection(job);
      } else {
        dns::Bytes reply = answer(job.packet, job.client, false);
        if (!reply.empty())
          ::sendto(udp.get(), reply.data(), reply.size(), MSG_NOSIGNAL,
                   reinterpret_cast<const sockaddr*>(&job.client), sizeof job.client);
      }
    }
  }

  void serve_connection(const Job& job) {
    for (;;) {
      std::uint8_t prefix[2];
      if (!read_full(job.conn.get(), prefix, 2, stop_fd.get(), kTcpIdleMs)) return;
      dns::Bytes packet(static_cast<std::size_t>(prefix[0] << 8 | prefix[1]));
      if (!read_full(job.conn.get(), packet.data(), packet.size(), stop_fd.get(), kTcpIdleMs))
        return;
      dns::Bytes reply = answer(packet, job.client, true);
      if (reply.empty()) return;
      std::uint8_t length[2] = {static_cast<std::uint8_t>(reply.size() >> 8),
                                static_cast<std::uint8_t>(reply.size())};
      if (!write_full(job.conn.get(), length, 2, stop_fd.get(), kTcpIdleMs) ||
          !write_full(job.conn.get(), reply.data(), reply.size(), stop_fd.get(), kTcpIdleMs))
        return;
    }
  }

  // The reply to one query; empty when there is nothing sensible to send back.
  dns::Bytes answer(const dns::Bytes& packet, const sockaddr_in& client, bool tcp_client) {
    auto query = dns::parse_query(packet);
    if (!query) {
      bool is_query = packet.size() >= dns::kHeaderSize && !(packet[2] & 0x80);
      return is_query ? dns::build_error(packet, nullptr, dns::Rcode::FormErr) : dns::Bytes{};
    }
    if (query->klass == dns::kClassIn &&
        (query->type == dns::kTypeA || query->type == dns::kTypeAAAA)) {
      std::optional<std::vector<in_addr>> known;
      try {
        known = config.resolver ? config.resolver(client.sin_addr, query->name) : std::nullopt;
      } catch (const std::exception& e) {
        spdlog::warn("dns server: resolving {}: {}", query->name, e.what());
        return dns::build_error(packet, &*query, dns::Rcode::ServFail);
      }
      if (known) {
        // Only IPv4 here: a known name has no AAAA records, which is NOERROR, not NXDOMAIN.
        std::vector<in_addr> none;
        return dns::build_answer(packet, *query, query->type == dns::kTypeA ? *known : none,
                                 config.ttl, tcp_client ? 65535 : dns::kMaxUdpSize);
      }
    }
    if (auto forwarded = forward(packet, tcp_client)) return *forwarded;
    return dns::build_error(packet, &*query, dns::Rcode::ServFail);
  }

  // The first usable upstream answer; a SERVFAIL/REFUSED one only when nothing better came.
  std::optional<dns::Bytes> forward(const dns::Bytes& packet, bool tcp) {
    std::optional<dns::Bytes> fallback;
    for (const auto& upstream : upstreams) {
      auto reply = tcp ? exchange_tcp(packet, upstream) : exchange_udp(packet, upstream);
      if (!reply) continue;
      if (!is_failure(*reply)) return reply;
      if (!fallback) fallback = std::move(reply);
    }
    return fallback;
  }

  std::optional<dns::Bytes> exchange_udp(const dns::Bytes& packet, const sockaddr_in& upstream) {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd ||
        ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&upstream), sizeof upstream) != 0 ||
        ::send(fd.get(), packet.data(), packet.size(), MSG_NOSIGNAL) < 0)
      return std::nullopt;
    dns::Bytes reply(65535);
    while (wait_ready(fd.get(), POLLIN, stop_fd.get(), config.upstream_timeout_ms)) {
      ssize_t n = ::recv(fd.get(), reply.data(), reply.size(), 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n < 0) return std::nullopt;  // e.g. ECONNREFUSED: nobody listens there
      if (n >= 2 && reply[0] == packet[0] && reply[1] == packet[1]) {
        reply.resize(static_cast<std::size_t>(n));
        return reply;
      }
    }
    return std::nullopt;
  }

  std::optional<dns::Bytes> exchange_tcp(const dns::Bytes& packet, const sockaddr_in& upstream) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return std::nullopt;
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&upstream), sizeof upstream) != 0) {
      if (errno != EINPROGRESS ||
          !wait_ready(fd.get(), POLLOUT, stop_fd.get(), config.upstream_timeout_ms))
        return std::nullopt;
      int error = 0;
      socklen_t len = sizeof error;
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len);
      if (error != 0) return std::nullopt;
    }
    std::uint8_t prefix[2] = {static_cast<std::uint8_t>(packet.size() >> 8),
                              static_cast<std::uint8_t>(packet.size())};
    int timeout = config.upstream_timeout_ms;
    if (!write_full(fd.get(), prefix, 2, stop_fd.get(), timeout) ||
        !write_full(fd.get(), packet.data(), packet.size(), stop_fd.get(), timeout) ||
        !read_full(fd.get(), prefix, 2, stop_fd.get(), timeout))
      return std::nullopt;
    dns::Bytes reply(static_cast<std::size_t>(prefix[0] << 8 | prefix[1]));
    if (!read_full(fd.get(), reply.data(), reply.size(), stop_fd.get(), timeout))
      return std::nullopt;
    return reply;
  }
};

DnsServer::DnsServer(DnsServerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
DnsServer::~DnsServer() {
  stop();
}
std::uint16_t DnsServer::port() const {
  return impl_->port;
}
void DnsServer::stop() {
  impl_->stop();
}

}  // namespace sockerless::network
