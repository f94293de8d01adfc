// The userland port publisher behind `docker run -p`: a listener on a host address and
// port that relays every TCP connection (both ways, half-closes included) or UDP flow to
// a container's address and port. All proxies share one event thread, owned by a
// ProxyEventLoop the engine creates once.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/errors.h"

namespace sockerless::network {

enum class Protocol { Tcp, Udp };
std::string to_string(Protocol protocol);  // "tcp", "udp"

struct PortMapping {
  Protocol protocol = Protocol::Tcp;
  in_addr host_ip{};            // INADDR_ANY for 0.0.0.0
  std::uint16_t host_port = 0;  // 0: an ephemeral port, see PortProxy::host_port()
  in_addr target_ip{};
  std::uint16_t target_port = 0;
};

// Binding the host side failed. what() is dockerd's tail, "Bind for 0.0.0.0:8080 failed:
// port is already allocated" (EADDRINUSE) or "... failed: <strerror>"; the engine
// prefixes "driver failed programming external connectivity on endpoint <name> (<id>): ".
class PortBindError : public Error {
 public:
  PortBindError(const PortMapping& mapping, int code);
  int code() const { return code_; }  // errno
  const PortMapping& mapping() const { return mapping_; }

 private:
  PortMapping mapping_;
  int code_;
};

// The shared event thread. Destroy it after (or before: they then just close their
// sockets) the proxies using it.
class ProxyEventLoop {
 public:
  ProxyEventLoop();
  ~ProxyEventLoop();  // stops the thread; every connection still open is closed
  ProxyEventLoop(const ProxyEventLoop&) = delete;
  ProxyEventLoop& operator=(const ProxyEventLoop&) = delete;

  struct Impl;

 private:
  friend class PortProxy;
  std::shared_ptr<Impl> impl_;
};

class PortProxy {
 public:
  // Binds the host side now (throws PortBindError) and starts relaying.
  PortProxy(ProxyEventLoop& loop, const PortMapping& mapping);
  // Stops: closes the listener and every connection and flow it relays; when it returns,
  // the host port is free.
  ~PortProxy();
  PortProxy(const PortProxy&) = delete;
  PortProxy& operator=(const PortProxy&) = delete;

  std::uint16_t host_port() const { return mapping_.host_port; }  // the bound one
  const PortMapping& mapping() const { return mapping_; }

 private:
  std::shared_ptr<ProxyEventLoop::Impl> loop_;
  PortMapping mapping_;
  std::uint64_t id_ = 0;
};

}  // namespace sockerless::network
