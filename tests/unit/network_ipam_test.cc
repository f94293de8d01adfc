// IPv4 address management: CIDR parsing, docker's default pools, per-network allocation.
#include <gtest/gtest.h>

#include "common/errors.h"
#include "network/ipam.h"

namespace sockerless::network {
namespace {

Ipv4 ip(const char* text) {
  return parse_ipv4(text).value();
}

template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(NetworkIpam, ParsesAndFormatsIpv4) {
  EXPECT_EQ(parse_ipv4("172.17.0.2"), (172u << 24) | (17u << 16) | 2u);
  EXPECT_EQ(format_ipv4(ip("10.0.255.1")), "10.0.255.1");
  EXPECT_EQ(parse_ipv4("0.0.0.0"), 0u);
  EXPECT_EQ(parse_ipv4("255.255.255.255"), 0xffffffffu);
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.4 ", "a.b.c.d",
                          "1..2.3", "-1.2.3.4"})
    EXPECT_FALSE(parse_ipv4(bad)) << bad;
  EXPECT_EQ(from_in_addr(to_in_addr(ip("192.168.1.7"))), ip("192.168.1.7"));
}

TEST(NetworkIpam, ParsesCidrsWithGosWording) {
  Cidr c = parse_cidr("172.20.1.5/16");
  EXPECT_EQ(c.address, ip("172.20.1.5"));
  EXPECT_EQ(c.prefix, 16);
  EXPECT_EQ(format_cidr(c), "172.20.1.5/16");
  EXPECT_FALSE(c.is_canonical());
  EXPECT_EQ(format_cidr(c.canonical()), "172.20.0.0/16");
  EXPECT_EQ(format_ipv4(c.broadcast()), "172.20.255.255");
  EXPECT_EQ(c.size(), 65536u);
  EXPECT_EQ(parse_cidr("0.0.0.0/0").mask(), 0u);
  EXPECT_EQ(parse_cidr("1.2.3.4/32").mask(), 0xffffffffu);
  for (const char* bad :
       {"172.20.0.0", "172.20.0.0/33", "172.20.0.0/", "x/16", "1.2.3.4/1a", "1.2.3.4/-1"})
    EXPECT_EQ(error_of<InvalidArgument>([&] { parse_cidr(bad); }),
              std::string("invalid CIDR address: ") + bad);
}

TEST(NetworkIpam, CidrContainmentAndOverlap) {
  Cidr big = parse_cidr("10.0.0.0/8"), small = parse_cidr("10.1.2.0/24");
  EXPECT_TRUE(big.contains(small));
  EXPECT_FALSE(small.contains(big));
  EXPECT_TRUE(big.overlaps(small) && small.overlaps(big));
  EXPECT_FALSE(small.overlaps(parse_cidr("10.1.3.0/24")));
  EXPECT_TRUE(small.contains(ip("10.1.2.255")));
  EXPECT_FALSE(small.contains(ip("10.1.3.0")));
}

TEST(NetworkIpam, MacFromIpLikeDocker) {
  EXPECT_EQ(format_mac(mac_from_ipv4(ip("172.17.0.2"))), "02:42:ac:11:00:02");
  EXPECT_EQ(format_mac(mac_from_ipv4(ip("192.168.255.10"))), "02:42:c0:a8:ff:0a");
}

TEST(NetworkIpam, DefaultPoolsAreDockers) {
  const auto& pools = default_address_pools();
  ASSERT_EQ(pools.size(), 16u);
  EXPECT_EQ(format_cidr(pools.front().base), "172.17.0.0/16");
  EXPECT_EQ(format_cidr(pools[14].base), "172.31.0.0/16");
  EXPECT_EQ(format_cidr(pools.back().base), "192.168.0.0/16");
  EXPECT_EQ(pools.back().size, 20);
}

TEST(NetworkIpam, AllocatesTheFirstSubnetOverlappingNothing) {
  EXPECT_EQ(format_cidr(allocate_subnet({})), "172.17.0.0/16");
  EXPECT_EQ(format_cidr(allocate_subnet({parse_cidr("172.17.0.0/16")})), "172.18.0.0/16");
  // A user subnet inside a default one takes all of it; a supernet takes many.
  EXPECT_EQ(
      format_cidr(allocate_subnet({parse_cidr("172.17.0.0/16"), parse_cidr("172.18.5.0/24")})),
      "172.19.0.0/16");
  EXPECT_EQ(format_cidr(allocate_subnet({parse_cidr("172.16.0.0/12")})), "192.168.0.0/20");
  EXPECT_EQ(format_cidr(allocate_subnet({parse_cidr("172.16.0.0/12"), parse_cidr("192.168.0.0/20"),
                                         parse_cidr("192.168.17.0/24")})),
            "192.168.32.0/20");
  // A freed subnet is reused.
  EXPECT_EQ(format_cidr(allocate_subnet({parse_cidr("172.18.0.0/16")})), "172.17.0.0/16");
}

TEST(NetworkIpam, RunningOutOfPoolsIsUnavailable) {
  std::vector<Cidr> everything{parse_cidr("172.16.0.0/12"), parse_cidr("192.168.0.0/16")};
  EXPECT_EQ(error_of<Unavailable>([&] { allocate_subnet(everything); }),
            "could not find an available, non-overlapping IPv4 address pool among the defaults "
            "to assign to the network");
  EXPECT_EQ(format_cidr(allocate_subnet(everything, {{parse_cidr("10.10.0.0/16"), 24}})),
            "10.10.0.0/24");
}

TEST(NetworkIpam, UserSubnetsMustNotOverlap) {
  std::vector<Cidr> in_use{parse_cidr("172.17.0.0/16")};
  EXPECT_NO_THROW(check_subnet_free(parse_cidr("172.18.0.0/16"), in_use));
  EXPECT_EQ(error_of<Forbidden>([&] { check_subnet_free(parse_cidr("172.17.3.0/24"), in_use); }),
            "Pool overlaps with other one on this address space");
  EXPECT_THROW(check_subnet_free(parse_cidr("172.0.0.0/8"), in_use), Forbidden);
}

TEST(NetworkIpam, AllocatesLowestFreeAddressAfterTheGateway) {
  NetworkAddresses n(parse_cidr("172.18.0.0/16"));
  EXPECT_EQ(format_ipv4(n.gateway()), "172.18.0.1");
  EXPECT_EQ(format_ipv4(n.allocate()), "172.18.0.2");
  EXPECT_EQ(format_ipv4(n.allocate()), "172.18.0.3");
  n.release(ip("172.18.0.2"));
  n.release(ip("172.18.0.200"));  // not held: nothing happens
  EXPECT_EQ(format_ipv4(n.allocate()), "172.18.0.2");
  EXPECT_EQ(format_ipv4(n.allocate()), "172.18.0.4");
  EXPECT_EQ(n.allocated_count(), 3u);
}

TEST(NetworkIpam, ReservesNetworkBroadcastAndGateway) {
  NetworkAddresses n(parse_cidr("10.0.0.0/24"), ip("10.0.0.254"));
  EXPECT_TRUE(n.is_reserved(ip("10.0.0.0")));
  EXPECT_TRUE(n.is_reserved(ip("10.0.0.255")));
  EXPECT_TRUE(n.is_reserved(ip("10.0.0.254")));
  EXPECT_FALSE(n.is_reserved(ip("10.0.0.1")));
  EXPECT_EQ(format_ipv4(n.allocate()), "10.0.0.1");
  for (const char* reserved : {"10.0.0.0", "10.0.0.255", "10.0.0.254"})
    EXPECT_EQ(error_of<Forbidden>([&] { n.allocate_static(ip(reserved)); }),
              "Address already in use");
}

TEST(NetworkIpam, ExhaustionSaysSoInDockersWords) {
  NetworkAddresses n(parse_cidr("10.0.0.0/30"));  // .1 gateway, .2 the only host left
  EXPECT_EQ(format_ipv4(n.allocate()), "10.0.0.2");
  EXPECT_EQ(error_of<Unavailable>([&] { n.allocate(); }),
            "no available IPv4 addresses on this network's address pools");
  n.release(ip("10.0.0.2"));
  EXPECT_EQ(format_ipv4(n.allocate()), "10.0.0.2");
}

TEST(NetworkIpam, IpRangeLimitsDynamicButNotStaticAddresses) {
  NetworkAddresses n(parse_cidr("172.20.0.0/16"), std::nullopt, parse_cidr("172.20.5.128/25"));
  EXPECT_EQ(format_ipv4(n.gateway()), "172.20.0.1");
  EXPECT_EQ(format_ipv4(n.allocate()), "172.20.5.128");
  n.allocate_static(ip("172.20.5.129"));
  EXPECT_EQ(format_ipv4(n.allocate()), "172.20.5.130");
  EXPECT_NO_THROW(n.allocate_static(ip("172.20.9.9")));  // outside the range, inside the subnet
  NetworkAddresses tiny(parse_cidr("172.20.0.0/16"), std::nullopt, parse_cidr("172.20.5.4/31"));
  tiny.allocate();
  tiny.allocate();
  EXPECT_THROW(tiny.allocate(), Unavailable);
}

TEST(NetworkIpam, StaticAddressesMustBeInsideAndFree) {
  NetworkAddresses n(parse_cidr("172.20.0.0/16"));
  n.allocate_static(ip("172.20.0.2"));
  EXPECT_EQ(format_ipv4(n.allocate()), "172.20.0.3");  // dynamic skips the static one
  EXPECT_EQ(error_of<Forbidden>([&] { n.allocate_static(ip("172.20.0.2")); }),
            "Address already in use");
  EXPECT_EQ(error_of<Internal>([&] { n.allocate_static(ip("10.0.0.5")); }),
            "Invalid address 10.0.0.5: It does not belong to any of this network's subnets");
}

TEST(NetworkIpam, ValidatesGatewayRangeAndSubnet) {
  EXPECT_EQ(error_of<InvalidArgument>(
                [] { NetworkAddresses(parse_cidr("10.0.0.0/24"), parse_ipv4("10.1.0.1")); }),
            "invalid gateway 10.1.0.1: parent subnet 10.0.0.0/24 doesn't contain this address");
  EXPECT_EQ(error_of<InvalidArgument>([] {
              NetworkAddresses(parse_cidr("10.0.0.0/24"), std::nullopt, parse_cidr("10.0.0.0/16"));
            }),
            "invalid ip-range 10.0.0.0/16: parent subnet 10.0.0.0/24 doesn't contain ip-range");
  EXPECT_EQ(error_of<InvalidArgument>([] { NetworkAddresses(parse_cidr("10.0.0.7/24")); }),
            "invalid subnet 10.0.0.7/24: it should be 10.0.0.0/24");
}

TEST(NetworkIpam, RestoresFromTheAddressesEndpointsHold) {
  auto n = NetworkAddresses::restore(
      parse_cidr("172.21.0.0/16"), std::nullopt, std::nullopt,
      {ip("172.21.0.2"), ip("172.21.0.4"), ip("10.0.0.1"), ip("172.21.0.1")});
  EXPECT_EQ(n.allocated_count(), 2u);  // outside and reserved ones ignored
  EXPECT_TRUE(n.is_allocated(ip("172.21.0.4")));
  EXPECT_EQ(format_ipv4(n.allocate()), "172.21.0.3");
  EXPECT_EQ(format_ipv4(n.allocate()), "172.21.0.5");
}

TEST(NetworkIpam, PointToPointPrefixes) {
  NetworkAddresses p2p(parse_cidr("10.9.0.0/31"));
  EXPECT_EQ(format_ipv4(p2p.gateway()), "10.9.0.0");
  EXPECT_EQ(format_ipv4(p2p.allocate()), "10.9.0.1");
  NetworkAddresses single(parse_cidr("10.9.0.5/32"));
  EXPECT_THROW(single.allocate(), Unavailable);
}

}  // namespace
}  // namespace sockerless::network
