// The port proxy, on 127.0.0.1: TCP relaying with half-close, UDP flows, bind errors.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "network/net_error.h"
#include "network/proxy.h"
#include "network/sockets.h"

namespace sockerless::network {
namespace {

const in_addr kLoopback{htonl(INADDR_LOOPBACK)};
constexpr int kGuardMs = 10000;  // only so a broken proxy fails instead of hanging

// A TCP server that, per connection, reads until the client half-closes, then sends it
// all back and closes: only works through a proxy that passes the half-close on.
class EchoAfterEof {
 public:
  EchoAfterEof() : listener_(bind_socket(SOCK_STREAM, make_sockaddr(kLoopback, 0))) {
    thread_ = std::thread([this] {
      for (;;) {
        UniqueFd conn(::accept(listener_.get(), nullptr, nullptr));
        if (!conn) return;
        std::string all;
        char buf[16384];
        while (wait_ready(conn.get(), POLLIN, -1, kGuardMs)) {
          ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
          if (n <= 0) break;
          all.append(buf, static_cast<std::size_t>(n));
        }
        if (all == "quit") return;
        write_full(conn.get(), all.data(), all.size(), -1, kGuardMs);
      }
    });
  }
  ~EchoAfterEof() {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto address = make_sockaddr(kLoopback, port());
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      ::send(fd.get(), "quit", 4, MSG_NOSIGNAL);
      ::shutdown(fd.get(), SHUT_WR);
    }
    thread_.join();
  }
  std::uint16_t port() const { return local_port(listener_.get()); }

 private:
  UniqueFd listener_;
  std::thread thread_;
};

PortMapping tcp_to(std::uint16_t target_port, std::uint16_t host_port = 0) {
  return {Protocol::Tcp, kLoopback, host_port, kLoopback, target_port};
}

// Sends `payload`, half-closes, reads until EOF.
std::string round_trip(std::uint16_t port, const std::string& payload) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto address = make_sockaddr(kLoopback, port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    return "<connect failed>";
  if (!write_full(fd.get(), payload.data(), payload.size(), -1, kGuardMs)) return "<send failed>";
  ::shutdown(fd.get(), SHUT_WR);
  std::string all;
  char buf[16384];
  while (wait_ready(fd.get(), POLLIN, -1, kGuardMs)) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    all.append(buf, static_cast<std::size_t>(n));
  }
  return all;
}

TEST(NetworkProxy, RelaysTcpBothWaysWithHalfClose) {
  EchoAfterEof echo;
  ProxyEventLoop loop;
  PortProxy proxy(loop, tcp_to(echo.port()));
  ASSERT_NE(proxy.host_port(), 0);
  EXPECT_EQ(proxy.mapping().target_port, echo.port());
  EXPECT_EQ(round_trip(proxy.host_port(), "hello"), "hello");
  std::string big(3 << 20, 'x');  // far more than the proxy buffers
  for (std::size_t i = 0; i < big.size(); i += 4096)
    big[i] = static_cast<char>('a' + i % 26);
  EXPECT_EQ(round_trip(proxy.host_port(), big), big);
}

TEST(NetworkProxy, ManyConnectionsAndProxiesShareOneLoop) {
  EchoAfterEof echo;
  ProxyEventLoop loop;
  PortProxy first(loop, tcp_to(echo.port()));
  PortProxy second(loop, tcp_to(echo.port()));
  std::vector<std::thread> clients;
  std::vector<std::string> got(8);
  for (std::size_t i = 0; i < got.size(); ++i)
    clients.emplace_back([&, i] {
      got[i] = round_trip(i % 2 ? first.host_port() : second.host_port(), std::to_string(i));
    });
  for (auto& c : clients)
    c.join();
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i], std::to_string(i));
}

TEST(NetworkProxy, ATakenPortIsReportedLikeDockerd) {
  auto taken = bind_socket(SOCK_STREAM, make_sockaddr(kLoopback, 0));
  std::uint16_t port = local_port(taken.get());
  ProxyEventLoop loop;
  try {
    PortProxy proxy(loop, tcp_to(1, port));
    FAIL() << "bound a taken port";
  } catch (const PortBindError& e) {
    EXPECT_EQ(e.code(), EADDRINUSE);
    EXPECT_EQ(std::string(e.what()),
              "Bind for 127.0.0.1:" + std::to_string(port) + " failed: port is already allocated");
    EXPECT_EQ(e.mapping().host_port, port);
  }
}

TEST(NetworkProxy, StoppingFreesThePortAndClosesConnections) {
  EchoAfterEof echo;
  ProxyEventLoop loop;
  std::uint16_t port;
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  {
    PortProxy proxy(loop, tcp_to(echo.port()));
    port = proxy.host_port();
    auto address = make_sockaddr(kLoopback, port);
    ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ::send(client.get(), "partial", 7, MSG_NOSIGNAL);
  }
  char c;
  ASSERT_TRUE(wait_ready(client.get(), POLLIN, -1, kGuardMs));
  EXPECT_LE(::recv(client.get(), &c, 1, 0), 0);  // closed by the proxy, not echoed
  EXPECT_NO_THROW(bind_socket(SOCK_STREAM, make_sockaddr(kLoopback, port)));
  PortProxy again(loop, tcp_to(echo.port(), port));
  EXPECT_EQ(again.host_port(), port);
}

TEST(NetworkProxy, ARefusedTargetClosesTheClient) {
  auto gone = bind_socket(SOCK_STREAM, make_sockaddr(kLoopback, 0));
  std::uint16_t dead_port = local_port(gone.get());
  gone.reset();
  ProxyEventLoop loop;
  PortProxy proxy(loop, tcp_to(dead_port));
  EXPECT_EQ(round_trip(proxy.host_port(), "anyone?"), "");
}

TEST(NetworkProxy, RelaysUdpDatagramsPerClient) {
  auto echo = bind_socket(SOCK_DGRAM, make_sockaddr(kLoopback, 0));
  std::thread server([&] {
    char buf[2048];
    for (;;) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      if (!wait_ready(echo.get(), POLLIN, -1, kGuardMs)) return;
      ssize_t n =
          ::recvfrom(echo.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0 || std::string(buf, static_cast<std::size_t>(n)) == "quit") return;
      std::string reply = "echo:" + std::string(buf, static_cast<std::size_t>(n));
      ::sendto(echo.get(), reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  });
  {
    ProxyEventLoop loop;
    PortProxy proxy(loop, {Protocol::Udp, kLoopback, 0, kLoopback, local_port(echo.get())});
    auto address = make_sockaddr(kLoopback, proxy.host_port());
    for (const char* who : {"a", "b"}) {
      UniqueFd client(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
      for (int i = 0; i < 3; ++i) {
        std::string msg = std::string(who) + std::to_string(i);
        ::send(client.get(), msg.data(), msg.size(), 0);
        ASSERT_TRUE(wait_ready(client.get(), POLLIN, -1, kGuardMs));
        char buf[2048];
        ssize_t n = ::recv(client.get(), buf, sizeof buf, 0);
        ASSERT_GT(n, 0);
        EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), "echo:" + msg);
      }
    }
  }
  auto address = make_sockaddr(kLoopback, local_port(echo.get()));
  UniqueFd quit(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ::sendto(quit.get(), "quit", 4, 0, reinterpret_cast<sockaddr*>(&address), sizeof address);
  server.join();
}

TEST(NetworkProxy, AProxyMayOutliveItsLoop) {
  auto loop = std::make_unique<ProxyEventLoop>();
  auto proxy = std::make_unique<PortProxy>(*loop, tcp_to(1));
  loop.reset();
  proxy.reset();  // closes its (already closed) sockets without a thread to ask
}

}  // namespace
}  // namespace sockerless::network
