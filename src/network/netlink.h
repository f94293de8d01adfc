// A small rtnetlink client: the handful of link, address and route operations a bridge
// network needs. Each call is one request answered by the kernel's ACK; a refusal throws
// NetError naming the operation and the link ("create veth vethab12: File exists").
// A client acts in the network namespace its socket was opened in: Netlink() in the
// caller's, Netlink::in_netns(fd) in another one (e.g. a container's), from any thread.
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <string>

#include "common/unique_fd.h"

namespace sockerless::network {

using MacAddress = std::array<std::uint8_t, 6>;

class Netlink {
 public:
  Netlink();  // in the calling thread's network namespace
  static Netlink in_netns(int ns_fd);

  Netlink(Netlink&&) = default;
  Netlink& operator=(Netlink&&) = default;

  // Links. `mtu` 0 keeps the kernel's default.
  void create_bridge(const std::string& name, int mtu = 0);
  // A veth pair; with peer_ns_fd the peer is made right inside that network namespace
  // (moving a link between namespaces afterwards costs the kernel an RCU grace period).
  void create_veth(const std::string& name, const std::string& peer, int mtu = 0,
                   int peer_ns_fd = -1);
  void delete_link(const std::string& name);
  void set_up(const std::string& name);
  void set_down(const std::string& name);
  void set_mac(const std::string& name, const MacAddress& mac);
  void rename(const std::string& name, const std::string& new_name);  // link must be down
  // Moves the link into the namespace `ns_fd`; it disappears from this one.
  void move_to_netns(const std::string& name, int ns_fd);
  // Enslaves `name` to the bridge `master`; an empty master detaches it.
  void set_master(const std::string& name, const std::string& master);

  // Lookups. ifindex throws NetError(ENODEV) for an unknown name.
  int ifindex(const std::string& name);
  bool link_exists(const std::string& name);

  // Addresses and routes (IPv4).
  void add_address(const std::string& name, in_addr address, int prefix_length);
  // A default route via `gateway`, leaving through `device` (or wherever the kernel finds
  // the gateway reachable, when empty).
  void add_default_route(in_addr gateway, const std::string& device = "");

 private:
  explicit Netlink(UniqueFd fd);
  class Request;
  void send_and_ack(Request& request, const std::string& operation, int* ifindex_out = nullptr);
  void change_flags(const std::string& name, unsigned flags, unsigned change, const char* what);

  UniqueFd fd_;
  std::uint32_t seq_ = 0;
};

}  // namespace sockerless::network
