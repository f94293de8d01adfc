// The embedded DNS server: wire format by hand, and the server against a fake upstream,
// all on 127.0.0.1.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "common/unique_fd.h"
#include "network/dns.h"
#include "network/dns_message.h"
#include "network/net_error.h"
#include "network/sockets.h"

namespace sockerless::network {
namespace {

using dns::Bytes;

in_addr addr(const char* text) {
  in_addr a{};
  ::inet_pton(AF_INET, text, &a);
  return a;
}
std::string text(in_addr a) {
  char buf[INET_ADDRSTRLEN];
  return ::inet_ntop(AF_INET, &a, buf, sizeof buf);
}
const in_addr kLoopback = addr("127.0.0.1");
constexpr int kGuardMs = 10000;  // only so a broken server fails the test instead of hanging

TEST(NetworkDnsMessage, ParsesAQueryCaseInsensitively) {
  Bytes q = dns::build_query(0x1234, "Web.Example.", dns::kTypeA);
  auto parsed = dns::parse_query(q);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->id, 0x1234);
  EXPECT_EQ(parsed->name, "web.example");
  EXPECT_EQ(parsed->type, dns::kTypeA);
  EXPECT_EQ(parsed->klass, dns::kClassIn);
  EXPECT_EQ(parsed->question_end, q.size());
}

TEST(NetworkDnsMessage, FollowsCompressionPointers) {
  Bytes p(12, 0);  // a header's worth of padding
  const std::string labels = "\3foo\7Example\3com";
  p.insert(p.end(), labels.begin(), labels.end());
  p.push_back(0);
  std::size_t second = p.size();
  p.insert(p.end(), {3, 'b', 'a', 'r', 0xc0, 16});  // "bar" + a pointer to "example.com"
  p.push_back(0xaa);
  std::size_t offset = second;
  EXPECT_EQ(dns::read_name(p, offset), "bar.example.com");
  EXPECT_EQ(offset, second + 6);  // past the pointer, not past its target
  offset = 12;
  EXPECT_EQ(dns::read_name(p, offset), "foo.example.com");

  Bytes loop(12, 0);
  loop.insert(loop.end(), {0xc0, 12});
  offset = 12;
  EXPECT_FALSE(dns::read_name(loop, offset));
  Bytes truncated(12, 0);
  truncated.insert(truncated.end(), {5, 'a', 'b'});
  offset = 12;
  EXPECT_FALSE(dns::read_name(truncated, offset));
}

TEST(NetworkDnsMessage, RejectsWhatIsNotOneStandardQuery) {
  EXPECT_FALSE(dns::parse_query(Bytes(5, 0)));
  Bytes two = dns::build_query(1, "a", dns::kTypeA);
  two[5] = 2;  // QDCOUNT
  EXPECT_FALSE(dns::parse_query(two));
  Bytes response = dns::build_query(1, "a", dns::kTypeA);
  response[2] |= 0x80;
  EXPECT_FALSE(dns::parse_query(response));
}

TEST(NetworkDnsMessage, BuildsAnswersAndErrors) {
  Bytes q = dns::build_query(7, "web", dns::kTypeA);
  auto query = dns::parse_query(q).value();
  auto r =
      dns::parse_response(dns::build_answer(q, query, {addr("10.0.0.2"), addr("10.0.0.3")}, 600));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, 7);
  EXPECT_EQ(r->rcode, dns::Rcode::NoError);
  EXPECT_TRUE(r->authoritative);
  ASSERT_EQ(r->a_records.size(), 2u);
  EXPECT_EQ(text(r->a_records[1]), "10.0.0.3");
  EXPECT_EQ(r->ttls[0], 600u);

  std::vector<in_addr> many(100, addr("10.0.0.9"));
  auto small = dns::parse_response(dns::build_answer(q, query, many, 600, dns::kMaxUdpSize));
  ASSERT_TRUE(small);
  EXPECT_TRUE(small->truncated);
  EXPECT_LT(small->a_records.size(), 100u);

  auto err = dns::parse_response(dns::build_error(q, &query, dns::Rcode::ServFail));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->rcode, dns::Rcode::ServFail);
  EXPECT_EQ(err->answer_count, 0);
}

TEST(NetworkDns, ReadsNameserversFromResolvConf) {
  auto found = parse_resolv_conf_nameservers(
      "# comment\nnameserver 127.0.0.53\nnameserver 10.1.2.3\nnameserver ::1\nsearch x\n"
      "nameserver 8.8.4.4 \n");
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(format_sockaddr(found[0]), "10.1.2.3:53");
  EXPECT_EQ(format_sockaddr(found[1]), "8.8.4.4:53");
  EXPECT_FALSE(default_dns_upstreams().empty());
}

// Answers every A query with 1.2.3.4, over UDP and TCP, and counts what it saw.
class FakeUpstream {
 public:
  FakeUpstream() {
    udp_ = bind_socket(SOCK_DGRAM | SOCK_NONBLOCK, make_sockaddr(kLoopback, 0));
    tcp_ = bind_socket(SOCK_STREAM | SOCK_NONBLOCK, make_sockaddr(kLoopback, 0));
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    stop_read_ = UniqueFd(fds[0]);
    stop_write_ = UniqueFd(fds[1]);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeUpstream() {
    [[maybe_unused]] auto n = ::write(stop_write_.get(), "x", 1);
    thread_.join();
  }
  sockaddr_in udp() const { return make_sockaddr(kLoopback, local_port(udp_.get())); }
  sockaddr_in tcp() const { return make_sockaddr(kLoopback, local_port(tcp_.get())); }
  int queries() const { return queries_; }

 private:
  Bytes reply(const Bytes& q) {
    ++queries_;
    auto query = dns::parse_query(q);
    if (!query) return {};
    return dns::build_answer(q, *query, {addr("1.2.3.4")}, 30);
  }
  void serve() {
    pollfd fds[3] = {
        {udp_.get(), POLLIN, 0}, {tcp_.get(), POLLIN, 0}, {stop_read_.get(), POLLIN, 0}};
    while (::poll(fds, 3, -1) >= 0 && !fds[2].revents) {
      if (fds[0].revents) {
        Bytes q(4096);
        sockaddr_in from{};
        socklen_t len = sizeof from;
        ssize_t n =
            ::recvfrom(udp_.get(), q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n > 0) {
          q.resize(static_cast<std::size_t>(n));
          Bytes r = reply(q);
          ::sendto(udp_.get(), r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
        }
      }
      if (fds[1].revents) {
        UniqueFd conn(::accept(tcp_.get(), nullptr, nullptr));
        std::uint8_t len[2];
        if (conn && read_full(conn.get(), len, 2, -1, kGuardMs)) {
          Bytes q(static_cast<std::size_t>(len[0] << 8 | len[1]));
          if (read_full(conn.get(), q.data(), q.size(), -1, kGuardMs)) {
            Bytes r = reply(q);
            std::uint8_t out[2] = {static_cast<std::uint8_t>(r.size() >> 8),
                                   static_cast<std::uint8_t>(r.size())};
            write_full(conn.get(), out, 2, -1, kGuardMs);
            write_full(conn.get(), r.data(), r.size(), -1, kGuardMs);
          }
        }
      }
    }
  }
  UniqueFd udp_, tcp_, stop_read_, stop_write_;
  std::atomic<int> queries_{0};
  std::thread thread_;
};

std::optional<dns::Response> ask_udp(std::uint16_t port, const std::string& name,
                                     std::uint16_t type, std::uint16_t id = 42) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  auto server = make_sockaddr(kLoopback, port);
  Bytes q = dns::build_query(id, name, type);
  ::sendto(fd.get(), q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&server), sizeof server);
  if (!wait_ready(fd.get(), POLLIN, -1, kGuardMs)) return std::nullopt;
  Bytes r(65535);
  ssize_t n = ::recv(fd.get(), r.data(), r.size(), 0);
  if (n <= 0) return std::nullopt;
  r.resize(static_cast<std::size_t>(n));
  return dns::parse_response(r);
}

std::optional<dns::Response> ask_tcp(std::uint16_t port, const std::string& name) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto server = make_sockaddr(kLoopback, port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&server), sizeof server) != 0) return {};
  std::optional<dns::Response> last;
  for (int i = 0; i < 2; ++i) {  // two queries on one connection
    Bytes q = dns::build_query(static_cast<std::uint16_t>(100 + i), name, dns::kTypeA);
    std::uint8_t len[2] = {0, static_cast<std::uint8_t>(q.size())};
    if (!write_full(fd.get(), len, 2, -1, kGuardMs) ||
        !write_full(fd.get(), q.data(), q.size(), -1, kGuardMs) ||
        !read_full(fd.get(), len, 2, -1, kGuardMs))
      return std::nullopt;
    Bytes r(static_cast<std::size_t>(len[0] << 8 | len[1]));
    if (!read_full(fd.get(), r.data(), r.size(), -1, kGuardMs)) return std::nullopt;
    last = dns::parse_response(r);
    if (!last || last->id != 100 + i) return std::nullopt;
  }
  return last;
}

struct Seen {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> queries;  // client, name
};

DnsServerConfig config_for(Seen& seen, std::vector<sockaddr_in> upstreams) {
  DnsServerConfig config;
  config.address = kLoopback;
  config.port = 0;
  config.upstreams = std::move(upstreams);
  config.upstream_timeout_ms = 2000;
  config.resolver = [&seen](const in_addr& client,
                            const std::string& name) -> std::optional<std::vector<in_addr>> {
    std::lock_guard lock(seen.mutex);
    seen.queries.emplace_back(text(client), name);
    if (name == "web") return std::vector<in_addr>{addr("10.0.0.2"), addr("10.0.0.3")};
    if (name == "empty") return std::vector<in_addr>{};
    return std::nullopt;
  };
  return config;
}

TEST(NetworkDns, AnswersKnownNamesItself) {
  FakeUpstream upstream;
  Seen seen;
  DnsServer server(config_for(seen, {upstream.udp()}));
  ASSERT_NE(server.port(), 0);
  for (const char* name : {"web", "WEB.", "Web"}) {
    auto r = ask_udp(server.port(), name, dns::kTypeA);
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r->id, 42);
    EXPECT_EQ(r->rcode, dns::Rcode::NoError);
    ASSERT_EQ(r->a_records.size(), 2u);
    EXPECT_EQ(text(r->a_records[0]), "10.0.0.2");
    EXPECT_EQ(r->ttls[0], 600u);
  }
  auto v6 = ask_udp(server.port(), "web", dns::kTypeAAAA);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->rcode, dns::Rcode::NoError);
  EXPECT_EQ(v6->answer_count, 0);
  EXPECT_EQ(upstream.queries(), 0);
  std::lock_guard lock(seen.mutex);
  ASSERT_FALSE(seen.queries.empty());
  EXPECT_EQ(seen.queries[0].first, "127.0.0.1");
  EXPECT_EQ(seen.queries[1].second, "web");  // "WEB." as the resolver sees it
}

TEST(NetworkDns, ForwardsUnknownNamesUpstream) {
  FakeUpstream upstream;
  Seen seen;
  DnsServer server(config_for(seen, {upstream.udp()}));
  auto r = ask_udp(server.port(), "example.com", dns::kTypeA, 777);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, 777);
  ASSERT_EQ(r->a_records.size(), 1u);
  EXPECT_EQ(text(r->a_records[0]), "1.2.3.4");
  EXPECT_EQ(r->ttls[0], 30u);                           // relayed as the upstream said
  auto mx = ask_udp(server.port(), "example.com", 15);  // not A/AAAA: straight upstream
  ASSERT_TRUE(mx);
  EXPECT_EQ(upstream.queries(), 2);
}

TEST(NetworkDns, ServesTcpAndForwardsOverTcp) {
  FakeUpstream upstream;
  Seen seen;
  auto config = config_for(seen, {upstream.udp()});
  // The same port for both protocols at the upstream is what real resolvers do; the fake
  // has two, so give the TCP one: a TCP client's query is forwarded over TCP.
  config.upstreams = std::vector<sockaddr_in>{upstream.tcp()};
  DnsServer server(std::move(config));
  auto known = ask_tcp(server.port(), "web");
  ASSERT_TRUE(known);
  EXPECT_EQ(known->a_records.size(), 2u);
  auto forwarded = ask_tcp(server.port(), "example.org");
  ASSERT_TRUE(forwarded);
  ASSERT_EQ(forwarded->a_records.size(), 1u);
  EXPECT_EQ(text(forwarded->a_records[0]), "1.2.3.4");
}

TEST(NetworkDns, TriesTheNextUpstreamAndServfailsWhenNoneAnswers) {
  FakeUpstream upstream;
  // A port nobody listens on: connection refused, at once, on loopback.
  auto dead = bind_socket(SOCK_DGRAM, make_sockaddr(kLoopback, 0));
  auto dead_address = make_sockaddr(kLoopback, local_port(dead.get()));
  dead.reset();
  Seen seen;
  {
    DnsServer server(config_for(seen, {dead_address, upstream.udp()}));
    auto r = ask_udp(server.port(), "example.com", dns::kTypeA);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->a_records.size(), 1u);
  }
  DnsServer lonely(config_for(seen, {dead_address}));
  auto r = ask_udp(lonely.port(), "example.com", dns::kTypeA, 9);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, 9);
  EXPECT_EQ(r->rcode, dns::Rcode::ServFail);
  auto known = ask_udp(lonely.port(), "empty", dns::kTypeA);  // known, no addresses
  ASSERT_TRUE(known);
  EXPECT_EQ(known->rcode, dns::Rcode::NoError);
  EXPECT_EQ(known->answer_count, 0);
}

TEST(NetworkDns, AnswersGarbageWithFormerrAndStopsCleanly) {
  Seen seen;
  DnsServer server(config_for(seen, {}));
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  auto address = make_sockaddr(kLoopback, server.port());
  Bytes junk = dns::build_query(5, "x", dns::kTypeA);
  junk[5] = 0;  // no question
  ::sendto(fd.get(), junk.data(), junk.size(), 0, reinterpret_cast<sockaddr*>(&address),
           sizeof address);
  ASSERT_TRUE(wait_ready(fd.get(), POLLIN, -1, kGuardMs));
  Bytes r(512);
  ssize_t n = ::recv(fd.get(), r.data(), r.size(), 0);
  ASSERT_GT(n, 0);
  r.resize(static_cast<std::size_t>(n));
  EXPECT_EQ(dns::parse_response(r)->rcode, dns::Rcode::FormErr);

  // An idle TCP client must not keep stop() waiting.
  UniqueFd idle(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(idle.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  server.stop();
  server.stop();
}

TEST(NetworkDns, BindFailureIsReported) {
  auto taken = bind_socket(SOCK_DGRAM, make_sockaddr(kLoopback, 0));
  Seen seen;
  auto config = config_for(seen, {});
  config.port = local_port(taken.get());
  try {
    DnsServer server(std::move(config));
    FAIL() << "bound a taken port";
  } catch (const NetError& e) {
    EXPECT_EQ(e.code(), EADDRINUSE);
  }
}

}  // namespace
}  // namespace sockerless::network
