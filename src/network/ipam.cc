#include "network/ipam.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>

#include "common/errors.h"

namespace sockerless::network {

std::optional<Ipv4> parse_ipv4(std::string_view text) {
  Ipv4 value = 0;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
    if (p == end || *p < '0' || *p > '9') return std::nullopt;
    if (*p == '0' && p + 1 != end && p[1] >= '0' && p[1] <= '9') return std::nullopt;  // 01
    unsigned octet = 0;
    auto [next, ec] = std::from_chars(p, end, octet);
    if (ec != std::errc() || octet > 255) return std::nullopt;
    value = value << 8 | octet;
    p = next;
  }
  if (p != end) return std::nullopt;
  return value;
}

std::string format_ipv4(Ipv4 a) {
  return std::to_string(a >> 24) + '.' + std::to_string((a >> 16) & 0xff) + '.' +
         std::to_string((a >> 8) & 0xff) + '.' + std::to_string(a & 0xff);
}

in_addr to_in_addr(Ipv4 address) {
  return in_addr{htonl(address)};
}
Ipv4 from_in_addr(in_addr address) {
  return ntohl(address.s_addr);
}

Cidr parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  auto fail = [&]() -> Cidr {
    throw InvalidArgument("invalid CIDR address: " + std::string(text));
  };
  if (slash == std::string_view::npos) return fail();
  auto address = parse_ipv4(text.substr(0, slash));
  auto digits = text.substr(slash + 1);
  int prefix = -1;
  if (digits.empty() || digits.size() > 2) return fail();
  auto [next, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
  if (!address || ec != std::errc() || next != digits.data() + digits.size() || prefix < 0 ||
      prefix > 32)
    return fail();
  return Cidr{*address, prefix};
}

std::string format_cidr(const Cidr& cidr) {
  return format_ipv4(cidr.address) + '/' + std::to_string(cidr.prefix);
}

std::array<std::uint8_t, 6> mac_from_ipv4(Ipv4 a) {
  return {0x02,
          0x42,
          static_cast<std::uint8_t>(a >> 24),
          static_cast<std::uint8_t>(a >> 16),
          static_cast<std::uint8_t>(a >> 8),
          static_cast<std::uint8_t>(a)};
}

std::string format_mac(const std::array<std::uint8_t, 6>& mac) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return text;
}

std::optional<std::array<std::uint8_t, 6>> parse_mac(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  // Either 2 digits per group and ':'/'-' between (17 chars), or 4 and '.' (14 chars).
  std::size_t group = text.size() == 17 ? 2 : text.size() == 14 ? 4 : 0;
  if (group == 0) return std::nullopt;
  char sep = text[group];
  if ((group == 2 && sep != ':' && sep != '-') || (group == 4 && sep != '.')) return std::nullopt;
  std::array<std::uint8_t, 6> mac{};
  std::size_t byte = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (i > 0 && text[i++] != sep) return std::nullopt;
    for (std::size_t k = 0; k < group; k += 2, i += 2) {
      int hi = hex(text[i]), lo = hex(text[i + 1]);
      if (hi < 0 || lo < 0) return std::nullopt;
      mac[byte++] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
  }
  return mac;
}

const std::vector<AddressPool>& default_address_pools() {
  static const std::vector<AddressPool> pools = [] {
    std::vector<AddressPool> result;
    for (Ipv4 second = 17; second <= 31; ++second)
      result.push_back({Cidr{(172u << 24) | (second << 16), 16}, 16});
    result.push_back({Cidr{(192u << 24) | (168u << 16), 16}, 20});
    return result;
  }();
  return pools;
}

namespace {
bool overlaps_any(const Cidr& candidate, const std::vector<Cidr>& in_use) {
  for (const auto& used : in_use)
    if (candidate.overlaps(used)) return true;
  return false;
}
}  // namespace

Cidr allocate_subnet(const std::vector<Cidr>& in_use, const std::vector<AddressPool>& pools) {
  for (const auto& pool : pools) {
    if (pool.size < pool.base.prefix || pool.size > 32) continue;
    std::uint64_t step = std::uint64_t{1} << (32 - pool.size);
    Ipv4 first = pool.base.network();
    for (std::uint64_t offset = 0; offset < pool.base.size(); offset += step) {
      Cidr candidate{static_cast<Ipv4>(first + offset), pool.size};
      if (!overlaps_any(candidate, in_use)) return candidate;
    }
  }
  throw Unavailable(
      "could not find an available, non-overlapping IPv4 address pool among the defaults to "
      "assign to the network");
}

void check_subnet_free(const Cidr& subnet, const std::vector<Cidr>& in_use) {
  if (overlaps_any(subnet, in_use))
    throw Forbidden("Pool overlaps with other one on this address space");
}

NetworkAddresses::NetworkAddresses(const Cidr& subnet, std::optional<Ipv4> gateway,
                                   std::optional<Cidr> ip_range)
    : subnet_(subnet), ip_range_(ip_range) {
  if (!subnet.is_canonical())
    throw InvalidArgument("invalid subnet " + format_cidr(subnet) + ": it should be " +
                          format_cidr(subnet.canonical()));
  if (ip_range_ && !subnet_.contains(*ip_range_))
    throw InvalidArgument("invalid ip-range " + format_cidr(*ip_range_) + ": parent subnet " +
                          format_cidr(subnet_) + " doesn't contain ip-range");
  if (ip_range_) ip_range_ = ip_range_->canonical();
  if (gateway) {
    if (!subnet_.contains(*gateway))
      throw InvalidArgument("invalid gateway " + format_ipv4(*gateway) + ": parent subnet " +
                            format_cidr(subnet_) + " doesn't contain this address");
    gateway_ = *gateway;
  } else {
    gateway_ = subnet_.prefix >= 31 ? subnet_.network() : subnet_.network() + 1;
  }
}

NetworkAddresses NetworkAddresses::restore(const Cidr& subnet, std::optional<Ipv4> gateway,
                                           std::optional<Cidr> ip_range,
                                           const std::vector<Ipv4>& allocated) {
  NetworkAddresses result(subnet, gateway, ip_range);
  for (Ipv4 address : allocated)
    if (result.subnet_.contains(address) && !result.is_reserved(address))
      result.allocated_.insert(address);
  return result;
}

bool NetworkAddresses::is_reserved(Ipv4 address) const {
  if (address == gateway_) return true;
  if (subnet_.prefix >= 31) return false;  // point-to-point: every address is a host
  return address == subnet_.network() || address == subnet_.broadcast();
}

Ipv4 NetworkAddresses::allocate() {
  const Cidr& range = ip_range_ ? *ip_range_ : subnet_;
  for (std::uint64_t ip = range.network(); ip <= range.broadcast(); ++ip) {
    auto address = static_cast<Ipv4>(ip);
    if (!is_reserved(address) && !is_allocated(address)) {
      allocated_.insert(address);
      return address;
    }
  }
  throw Unavailable("no available IPv4 addresses on this network's address pools");
}

void NetworkAddresses::allocate_static(Ipv4 address) {
  if (!subnet_.contains(address))
    throw Internal("Invalid address " + format_ipv4(address) +
                   ": It does not belong to any of this network's subnets");
  // dockerd marks the reserved addresses as taken, so asking for one reads the same.
  if (is_reserved(address) || !allocated_.insert(address).second)
    throw Forbidden("Address already in use");
}

void NetworkAddresses::release(Ipv4 address) {
  allocated_.erase(address);
}

}  // namespace sockerless::network
