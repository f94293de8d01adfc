// Namespaces, links and NAT, for real: every test works inside network namespaces it
// creates (never on the host's interfaces or iptables) and removes them even on failure.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "network/ipam.h"
#include "network/nat.h"
#include "network/net_error.h"
#include "network/netlink.h"
#include "network/netns.h"
#include "network/sockets.h"

namespace sockerless::network {
namespace {

namespace fs = std::filesystem;
constexpr int kGuardMs = 10000;

#define NETWORK_REQUIRE_ROOT() \
  if (::geteuid() != 0) GTEST_SKIP() << "network namespaces need root"

class NetnsDir {
 public:
  NetnsDir() {
    std::string tmpl = (fs::temp_directory_path() / "network-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~NetnsDir() {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(path_, ec)) {
      try {
        remove_netns(entry.path());  // a test that failed half-way
      } catch (...) {
      }
    }
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string own_netns() {
  return fs::read_symlink("/proc/thread-self/ns/net").string();
}
in_addr ip(const char* text) {
  return to_in_addr(parse_ipv4(text).value());
}

std::string read_sysctl(const std::string& path) {
  std::ifstream in(path);
  std::string value;
  in >> value;
  return value;
}

TEST(NetworkNetns, CreatesAndRemovesPersistentNamespaces) {
  NETWORK_REQUIRE_ROOT();
  NetnsDir dir;
  std::string before = own_netns();
  std::string path = dir / "one";
  create_netns(path);
  EXPECT_TRUE(fs::exists(path));
  try {
    create_netns(path);
    ADD_FAILURE() << "created over an existing file";
  } catch (const NetError& e) {
    EXPECT_EQ(e.code(), EEXIST);
  }
  {
    auto fd = open_netns(path);
    std::string inside = call_in_netns(fd.get(), [] { return own_netns(); });
    EXPECT_NE(inside, before);
    // lo is up in there, and is the only link.
    bool lo_up = call_in_netns(fd.get(), [] {
      UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      auto any = make_sockaddr(ip("127.0.0.1"), 0);
      return ::bind(s.get(), reinterpret_cast<sockaddr*>(&any), sizeof any) == 0 &&
             ::listen(s.get(), 1) == 0;
    });
    EXPECT_TRUE(lo_up);
    auto nl = Netlink::in_netns(fd.get());
    EXPECT_TRUE(nl.link_exists("lo"));
    EXPECT_FALSE(nl.link_exists("eth0"));
    EXPECT_THROW(run_in_netns(fd.get(), [] { throw std::runtime_error("boom"); }),
                 std::runtime_error);
  }
  EXPECT_EQ(own_netns(), before);  // this thread never moved
  remove_netns(path);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_NO_THROW(remove_netns(path));  // idempotent
  EXPECT_THROW(open_netns(path), NetError);
}

TEST(NetworkNetlink, BridgeVethAndRoutesConnectTwoNamespaces) {
  NETWORK_REQUIRE_ROOT();
  NetnsDir dir;
  ScopedNetns host(dir / "host"), container(dir / "container");
  auto h = Netlink::in_netns(host.fd());
  auto c = Netlink::in_netns(container.fd());

  // The engine's order: bridge, veth, peer into the container, eth0, address, route.
  h.create_bridge("br-test", 1500);
  EXPECT_TRUE(h.link_exists("br-test"));
  h.add_address("br-test", ip("10.99.0.1"), 24);
  h.set_up("br-test");
  h.create_veth("veth-h", "veth-c", 1500);
  h.set_master("veth-h", "br-test");
  h.set_up("veth-h");
  h.move_to_netns("veth-c", container.fd());
  EXPECT_FALSE(h.link_exists("veth-c"));
  EXPECT_TRUE(c.link_exists("veth-c"));
  c.rename("veth-c", "eth0");
  EXPECT_FALSE(c.link_exists("veth-c"));
  EXPECT_GT(c.ifindex("eth0"), 0);
  c.set_mac("eth0", mac_from_ipv4(parse_ipv4("10.99.0.2").value()));
  c.add_address("eth0", ip("10.99.0.2"), 24);
  c.set_up("eth0");
  c.add_default_route(ip("10.99.0.1"), "eth0");
  // An address off the subnet, reachable from the container only via the default route.
  h.add_address("lo", ip("10.98.0.1"), 32);

  std::string mac = call_in_netns(container.fd(), [] {
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq req{};
    std::strncpy(req.ifr_name, "eth0", IFNAMSIZ - 1);
    if (::ioctl(s.get(), SIOCGIFHWADDR, &req) != 0) return std::string("<ioctl failed>");
    MacAddress m;
    std::memcpy(m.data(), req.ifr_hwaddr.sa_data, 6);
    return format_mac(m);
  });
  EXPECT_EQ(mac, "02:42:0a:63:00:02");

  for (const char* target : {"10.99.0.1", "10.98.0.1"}) {
    auto listener = call_in_netns(
        host.fd(), [&] { return bind_socket(SOCK_STREAM, make_sockaddr(ip(target), 0)); });
    auto client = call_in_netns(
        container.fd(), [] { return UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)); });
    auto address = make_sockaddr(ip(target), local_port(listener.get()));
    ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0)
        << target << ": " << std::strerror(errno);
    ASSERT_TRUE(wait_ready(listener.get(), POLLIN, -1, kGuardMs));
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    UniqueFd accepted(::accept(listener.get(), reinterpret_cast<sockaddr*>(&peer), &len));
    ASSERT_TRUE(accepted);
    EXPECT_EQ(format_sockaddr(peer).rfind("10.99.0.2:", 0), 0u) << format_sockaddr(peer);
    ASSERT_TRUE(write_full(client.get(), "ping", 4, -1, kGuardMs));
    char buf[4];
    ASSERT_TRUE(read_full(accepted.get(), buf, 4, -1, kGuardMs));
    EXPECT_EQ(std::string(buf, 4), "ping");
  }

  h.set_master("veth-h", "");
  h.set_down("veth-h");
  h.delete_link("veth-h");  // takes eth0 with it
  EXPECT_FALSE(c.link_exists("eth0"));
}

TEST(NetworkNetlink, RefusalsNameTheOperationAndErrno) {
  NETWORK_REQUIRE_ROOT();
  NetnsDir dir;
  ScopedNetns ns(dir / "errors");
  auto nl = Netlink::in_netns(ns.fd());
  nl.create_bridge("br-dup");
  try {
    nl.create_bridge("br-dup");
    ADD_FAILURE() << "created a bridge twice";
  } catch (const NetError& e) {
    EXPECT_EQ(e.code(), EEXIST);
    EXPECT_EQ(std::string(e.what()), "create bridge br-dup: File exists");
  }
  try {
    nl.delete_link("nope0");
    ADD_FAILURE() << "deleted a missing link";
  } catch (const NetError& e) {
    EXPECT_EQ(e.code(), ENODEV);
    EXPECT_EQ(std::string(e.what()).rfind("find link nope0: ", 0), 0u) << e.what();
  }
  EXPECT_FALSE(nl.link_exists("nope0"));
  nl.add_address("br-dup", ip("10.1.0.1"), 24);
  EXPECT_THROW(nl.add_address("br-dup", ip("10.1.0.1"), 24), NetError);
  EXPECT_THROW(nl.set_master("br-dup", "nope0"), NetError);
  nl.delete_link("br-dup");
  EXPECT_FALSE(nl.link_exists("br-dup"));
}

int count_lines_with(const std::string& text, const std::string& needle) {
  std::istringstream lines(text);
  std::string line;
  int count = 0;
  while (std::getline(lines, line))
    if (line.find(needle) != std::string::npos) ++count;
  return count;
}

TEST(NetworkNat, AddsAndRemovesRulesIdempotentlyInsideANamespace) {
  NETWORK_REQUIRE_ROOT();
  NetnsDir dir;
  ScopedNetns ns(dir / "nat");
  std::string why;
  if (!call_in_netns(ns.fd(), [&] { return iptables_usable(&why); })) GTEST_SKIP() << why;
  std::string host_forwarding = read_sysctl("/proc/sys/net/ipv4/ip_forward");

  ns.run([] {
    enable_ip_forward();
    EXPECT_EQ(read_sysctl("/proc/sys/net/ipv4/ip_forward"), "1");
    add_nat_rules("10.99.0.0/24", "br-nat");
    add_nat_rules("10.99.0.0/24", "br-nat");  // idempotent
    auto nat = run_iptables({"-t", "nat", "-S", "POSTROUTING"});
    ASSERT_EQ(nat.exit_code, 0) << nat.output;
    EXPECT_EQ(count_lines_with(nat.output, "MASQUERADE"), 1) << nat.output;
    EXPECT_EQ(count_lines_with(nat.output, "-s 10.99.0.0/24 ! -o br-nat -j MASQUERADE"), 1)
        << nat.output;
    auto forward = run_iptables({"-S", "FORWARD"});
    EXPECT_EQ(count_lines_with(forward.output, "br-nat"), 3) << forward.output;
    add_isolation_rules("br-nat", "br-other");
    EXPECT_EQ(count_lines_with(run_iptables({"-S", "FORWARD"}).output, "DROP"), 2);

    remove_isolation_rules("br-nat", "br-other");
    remove_nat_rules("10.99.0.0/24", "br-nat");
    remove_nat_rules("10.99.0.0/24", "br-nat");  // nothing left: no error
    EXPECT_EQ(count_lines_with(run_iptables({"-t", "nat", "-S"}).output, "MASQUERADE"), 0);
    EXPECT_EQ(count_lines_with(run_iptables({"-S"}).output, "br-"), 0);
  });
  EXPECT_EQ(read_sysctl("/proc/sys/net/ipv4/ip_forward"), host_forwarding);  // the host's untouched
}

TEST(NetworkNat, ReportsIptablesFailures) {
  NETWORK_REQUIRE_ROOT();
  NetnsDir dir;
  ScopedNetns ns(dir / "natfail");
  if (!call_in_netns(ns.fd(), [] { return iptables_usable(); })) GTEST_SKIP() << "no iptables";
  ns.run([] {
    EXPECT_THROW(add_nat_rules("not-a-subnet", "br-x"), Internal);
    auto bad = run_iptables({"--no-such-flag"});
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_FALSE(bad.output.empty());
  });
}

}  // namespace
}  // namespace sockerless::network
