// IPv4 address management, pure logic: CIDR parsing, choosing a subnet for a new network
// from docker's default pools, and handing out addresses inside one network. Nothing here
// is persisted: the engine stores networks and endpoints and rebuilds an allocator from
// the addresses its endpoints hold (NetworkAddresses::restore).
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sockerless::network {

// An IPv4 address in host byte order.
using Ipv4 = std::uint32_t;

std::optional<Ipv4> parse_ipv4(std::string_view text);  // dotted quad only
std::string format_ipv4(Ipv4 address);
in_addr to_in_addr(Ipv4 address);
Ipv4 from_in_addr(in_addr address);

struct Cidr {
  Ipv4 address = 0;  // as written; may have host bits set ("172.20.1.5/16")
  int prefix = 0;    // 0..32

  Ipv4 mask() const { return prefix == 0 ? 0 : ~Ipv4{0} << (32 - prefix); }
  Ipv4 network() const { return address & mask(); }
  Ipv4 broadcast() const { return network() | ~mask(); }
  std::uint64_t size() const { return std::uint64_t{1} << (32 - prefix); }
  bool is_canonical() const { return address == network(); }  // no host bits set
  Cidr canonical() const { return {network(), prefix}; }
  bool contains(Ipv4 ip) const { return (ip & mask()) == network(); }
  bool contains(const Cidr& inner) const {
    return inner.prefix >= prefix && contains(inner.network());
  }
  bool overlaps(const Cidr& other) const { return contains(other) || other.contains(*this); }
  bool operator==(const Cidr&) const = default;
};

// "a.b.c.d/n". Throws InvalidArgument "invalid CIDR address: <text>" (Go's wording).
Cidr parse_cidr(std::string_view text);
std::string format_cidr(const Cidr& cidr);  // as written, host bits kept

// docker's MAC for a container address: 02:42 followed by the address's four bytes.
std::array<std::uint8_t, 6> mac_from_ipv4(Ipv4 address);
std::string format_mac(const std::array<std::uint8_t, 6>& mac);  // "02:42:ac:11:00:02"
// An Ethernet address as Go's net.ParseMAC reads a 48-bit one: six pairs of hex digits
// separated by ':' or '-', or three groups of four separated by '.'; nullopt otherwise.
std::optional<std::array<std::uint8_t, 6>> parse_mac(std::string_view text);

// A base range cut into subnets of one size, like dockerd's --default-address-pool.
struct AddressPool {
  Cidr base;
  int size = 0;  // prefix length of each subnet handed out
};

// dockerd's defaults: 172.17.0.0/16 … 172.31.0.0/16 as /16s, then 192.168.0.0/16 as /20s.
const std::vector<AddressPool>& default_address_pools();

// The first subnet of `pools`, in order, that overlaps none of `in_use` (every network's
// subnet, and whatever host routes the caller wants avoided). Throws Unavailable "could
// not find an available, non-overlapping IPv4 address pool among the defaults to assign
// to the network" when all are taken.
Cidr allocate_subnet(const std::vector<Cidr>& in_use,
                     const std::vector<AddressPool>& pools = default_address_pools());

// For a user-chosen subnet: throws Forbidden "Pool overlaps with other one on this address
// space" when it overlaps one of `in_use`.
void check_subnet_free(const Cidr& subnet, const std::vector<Cidr>& in_use);

// The addresses of one network: its subnet, its gateway, an optional IPRange to allocate
// dynamic addresses from, and which addresses endpoints hold. Network and broadcast
// addresses (for prefixes up to /30) and the gateway are never handed out. Dynamic
// allocation takes the lowest free address, as dockerd's default IPAM does.
class NetworkAddresses {
 public:
  // `subnet` must be canonical. `gateway` defaults to the first host address; it and
  // `ip_range` must lie inside the subnet. Throws InvalidArgument with dockerd's
  // wording ("invalid gateway 10.1.0.1: parent subnet 10.0.0.0/24 doesn't contain this
  // address").
  explicit NetworkAddresses(const Cidr& subnet, std::optional<Ipv4> gateway = std::nullopt,
                            std::optional<Cidr> ip_range = std::nullopt);

  // Rebuilds the state from the addresses endpoints hold (unknown/outside ones ignored).
  static NetworkAddresses restore(const Cidr& subnet, std::optional<Ipv4> gateway,
                                  std::optional<Cidr> ip_range, const std::vector<Ipv4>& allocated);

  const Cidr& subnet() const { return subnet_; }
  Ipv4 gateway() const { return gateway_; }
  const std::optional<Cidr>& ip_range() const { return ip_range_; }

  // The lowest free address in the IPRange (else the subnet). Throws Unavailable "no
  // available IPv4 addresses on this network's address pools" (the engine may append
  // dockerd's ": <name> (<id>)").
  Ipv4 allocate();
  // A requested address (docker run --ip), anywhere in the subnet. Throws dockerd 20.10's
  // Internal "Invalid address <ip>: It does not belong to any of this network's subnets"
  // outside it, Forbidden
  // "Address already in use" when an endpoint holds it or it is reserved.
  void allocate_static(Ipv4 address);
  // Gives an address back; releasing one that is not held does nothing.
  void release(Ipv4 address);

  bool is_allocated(Ipv4 address) const { return allocated_.count(address) != 0; }
  bool is_reserved(Ipv4 address) const;
  std::size_t allocated_count() const { return allocated_.size(); }

 private:
  Cidr subnet_;
  Ipv4 gateway_ = 0;
  std::optional<Cidr> ip_range_;
  std::set<Ipv4> allocated_;
};

}  // namespace sockerless::network
