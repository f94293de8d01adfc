#include "network/netlink.h"

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "network/net_error.h"
#include "network/netns.h"

namespace sockerless::network {

// One request message: a header, the family-specific body, then attributes (possibly
// nested), built in place in an aligned buffer.
class Netlink::Request {
 public:
  Request(std::uint16_t type, std::uint16_t flags) {
    hdr()->nlmsg_len = NLMSG_LENGTH(0);
    hdr()->nlmsg_type = type;
    hdr()->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  }
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_); }

  template <class T>
  T* body(const T& value) {
    return static_cast<T*>(append(&value, sizeof(T)));
  }
  void attr(std::uint16_t type, const void* data, std::size_t len) {
    std::size_t start = hdr()->nlmsg_len;
    std::size_t total = RTA_LENGTH(len);
    if (start + RTA_ALIGN(total) > sizeof buf_) throw NetError("netlink request", EMSGSIZE);
    auto* a = reinterpret_cast<rtattr*>(buf_ + start);
    a->rta_type = type;
    a->rta_len = static_cast<std::uint16_t>(total);
    if (len > 0) std::memcpy(RTA_DATA(a), data, len);
    hdr()->nlmsg_len = NLMSG_ALIGN(start + total);
  }
  // A new link's header, name and MTU: how a link, and a veth's peer, are described.
  void new_link(const std::string& name, int mtu) {
    ifinfomsg info{};
    info.ifi_family = AF_UNSPEC;
    body(info);
    attr_string(IFLA_IFNAME, name);
    if (mtu > 0) attr_u32(IFLA_MTU, static_cast<std::uint32_t>(mtu));
  }
  void attr_string(std::uint16_t type, const std::string& s) {
    attr(type, s.c_str(), s.size() + 1);
  }
  void attr_u32(std::uint16_t type, std::uint32_t v) { attr(type, &v, sizeof v); }
  // Nested attributes: begin() returns the offset end() needs to fix the length up.
  std::size_t begin(std::uint16_t type) {
    std::size_t start = hdr()->nlmsg_len;
    attr(type, nullptr, 0);
    return start;
  }
  void end(std::size_t start) {
    reinterpret_cast<rtattr*>(buf_ + start)->rta_len =
        static_cast<std::uint16_t>(hdr()->nlmsg_len - start);
  }

 private:
  void* append(const void* data, std::size_t len) {
    std::size_t start = hdr()->nlmsg_len;
    if (start + NLMSG_ALIGN(len) > sizeof buf_) throw NetError("netlink request", EMSGSIZE);
    std::memcpy(buf_ + start, data, len);
    hdr()->nlmsg_len = NLMSG_ALIGN(start + len);
    return buf_ + start;
  }
  alignas(NLMSG_ALIGNTO) char buf_[4096] = {};
};

namespace {

UniqueFd open_route_socket() {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) throw_errno("open netlink socket");
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
    throw_errno("bind netlink socket");
  return fd;
}

ifinfomsg link_message(int index = 0) {
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = index;
  return info;
}

}  // namespace

Netlink::Netlink() : fd_(open_route_socket()) {}
Netlink::Netlink(UniqueFd fd) : fd_(std::move(fd)) {}

Netlink Netlink::in_netns(int ns_fd) {
  return Netlink(call_in_netns(ns_fd, [] { return open_route_socket(); }));
}

void Netlink::send_and_ack(Request& request, const std::string& operation, int* ifindex_out) {
  nlmsghdr* hdr = request.hdr();
  hdr->nlmsg_seq = ++seq_;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = ::sendto(fd_.get(), hdr, hdr->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
                    sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) throw_errno(operation + ": netlink send");

  alignas(NLMSG_ALIGNTO) char buf[32768];
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(operation + ": netlink receive");
    }
    int len = static_cast<int>(n);
    // NLMSG_OK, with its comparisons of signed and unsigned made explicit.
    auto fits = [&len](const nlmsghdr* m) {
      return len >= static_cast<int>(sizeof(nlmsghdr)) && m->nlmsg_len >= sizeof(nlmsghdr) &&
             m->nlmsg_len <= static_cast<unsigned>(len);
    };
    for (auto* msg = reinterpret_cast<nlmsghdr*>(buf); fits(msg); msg = NLMSG_NEXT(msg, len)) {
      if (msg->nlmsg_seq != seq_) continue;  // a late answer to an earlier request
      if (msg->nlmsg_type == NLMSG_ERROR) {
        auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(msg));
        if (err->error != 0) throw NetError(operation, -err->error);
        return;
      }
      if (msg->nlmsg_type == RTM_NEWLINK && ifindex_out)
        *ifindex_out = static_cast<ifinfomsg*>(NLMSG_DATA(msg))->ifi_index;
    }
  }
}

int Netlink::ifindex(const std::string& name) {
  Request req(RTM_GETLINK, 0);
  req.body(link_message());
  req.attr_string(IFLA_IFNAME, name);
  int index = 0;
  send_and_ack(req, "find link " + name, &index);
  if (index <= 0) throw NetError("find link " + name, ENODEV);
  return index;
}

bool Netlink::link_exists(const std::string& name) {
  try {
    ifindex(name);
    return true;
  } catch (const NetError& e) {
    if (e.code() == ENODEV) return false;
    throw;
  }
}

void Netlink::create_bridge(const std::string& name, int mtu) {
  Request req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  req.new_link(name, mtu);
  auto info = req.begin(IFLA_LINKINFO);
  req.attr_string(IFLA_INFO_KIND, "bridge");
  req.end(info);
  send_and_ack(req, "create bridge " + name);
}

void Netlink::create_veth(const std::string& name, const std::string& peer, int mtu,
                          int peer_ns_fd) {
  Request req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  req.new_link(name, mtu);
  auto info = req.begin(IFLA_LINKINFO);
  req.attr_string(IFLA_INFO_KIND, "veth");
  auto data = req.begin(IFLA_INFO_DATA);
  auto peer_info = req.begin(VETH_INFO_PEER);
  req.new_link(peer, mtu);
  if (peer_ns_fd >= 0) req.attr_u32(IFLA_NET_NS_FD, static_cast<std::uint32_t>(peer_ns_fd));
  req.end(peer_info);
  req.end(data);
  req.end(info);
  send_and_ack(req, "create veth " + name);
}

void Netlink::delete_link(const std::string& name) {
  int index = ifindex(name);
  Request req(RTM_DELLINK, 0);
  req.body(link_message(index));
  send_and_ack(req, "delete link " + name);
}

void Netlink::change_flags(const std::string& name, unsigned flags, unsigned change,
                           const char* what) {
  int index = ifindex(name);
  Request req(RTM_NEWLINK, 0);
  auto* info = req.body(link_message(index));
  info->ifi_flags = flags;
  info->ifi_change = change;
  send_and_ack(req, std::string(what) + " " + name);
}

void Netlink::set_up(const std::string& name) {
  change_flags(name, IFF_UP, IFF_UP, "set up");
}
void Netlink::set_down(const std::string& name) {
  change_flags(name, 0, IFF_UP, "set down");
}

void Netlink::set_mac(const std::string& name, const MacAddress& mac) {
  Request req(RTM_NEWLINK, 0);
  req.body(link_message(ifindex(name)));
  req.attr(IFLA_ADDRESS, mac.data(), mac.size());
  send_and_ack(req, "set mac address of " + name);
}

void Netlink::rename(const std::string& name, const std::string& new_name) {
  Request req(RTM_NEWLINK, 0);
  req.body(link_message(ifindex(name)));
  req.attr_string(IFLA_IFNAME, new_name);
  send_and_ack(req, "rename " + name + " to " + new_name);
}

void Netlink::move_to_netns(const std::string& name, int ns_fd) {
  Request req(RTM_NEWLINK, 0);
  req.body(link_message(ifindex(name)));
  req.attr_u32(IFLA_NET_NS_FD, static_cast<std::uint32_t>(ns_fd));
  send_and_ack(req, "move " + name + " to netns");
}

void Netlink::set_master(const std::string& name, const std::string& master) {
  std::uint32_t master_index = master.empty() ? 0 : static_cast<std::uint32_t>(ifindex(master));
  Request req(RTM_NEWLINK, 0);
  req.body(link_message(ifindex(name)));
  req.attr_u32(IFLA_MASTER, master_index);
  send_and_ack(req, master.empty() ? "detach " + name : "attach " + name + " to " + master);
}

void Netlink::add_address(const std::string& name, in_addr address, int prefix_length) {
  if (prefix_length < 0 || prefix_length > 32) throw NetError("add address to " + name, EINVAL);
  Request req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  ifaddrmsg msg{};
  msg.ifa_family = AF_INET;
  msg.ifa_prefixlen = static_cast<unsigned char>(prefix_length);
  msg.ifa_scope = RT_SCOPE_UNIVERSE;
  msg.ifa_index = static_cast<unsigned>(ifindex(name));
  req.body(msg);
  req.attr(IFA_LOCAL, &address, sizeof address);
  req.attr(IFA_ADDRESS, &address, sizeof address);
  if (prefix_length < 31) {
    std::uint32_t host_mask = prefix_length == 0 ? 0xffffffffu : (1u << (32 - prefix_length)) - 1;
    in_addr broadcast{htonl(ntohl(address.s_addr) | host_mask)};
    req.attr(IFA_BROADCAST, &broadcast, sizeof broadcast);
  }
  send_and_ack(req, "add address to " + name);
}

void Netlink::add_default_route(in_addr gateway, const std::string& device) {
  int oif = device.empty() ? 0 : ifindex(device);
  Request req(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
  rtmsg msg{};
  msg.rtm_family = AF_INET;
  msg.rtm_table = RT_TABLE_MAIN;
  msg.rtm_protocol = RTPROT_BOOT;
  msg.rtm_scope = RT_SCOPE_UNIVERSE;
  msg.rtm_type = RTN_UNICAST;
  req.body(msg);
  req.attr(RTA_GATEWAY, &gateway, sizeof gateway);
  if (oif > 0) req.attr_u32(RTA_OIF, static_cast<std::uint32_t>(oif));
  send_and_ack(req, "add default route");
}

}  // namespace sockerless::network
