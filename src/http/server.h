// The HTTP/1.1 server: unix, TCP and TLS listeners, one coroutine per connection,
// keep-alive, chunked bodies both ways, streamed responses, hijacked connections and
// WebSockets.
// It knows nothing of Docker; the API layer supplies the resolver and error mapping.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "http/handler.h"

namespace sockerless::http {

struct TlsOptions {
  std::string cert_file, key_file;
  std::string ca_file;         // with verify_client: the CA client certificates must chain to
  bool verify_client = false;  // mutual TLS, like dockerd --tlsverify
};

struct ListenerOptions {
  std::string address;  // "unix:///path", "tcp://host:port" (also "fd://" is refused)
  std::optional<TlsOptions> tls;
  unsigned unix_mode = 0660;
  gid_t unix_group = static_cast<gid_t>(-1);  // -1: leave as created
};

// What the server reports when a request is done, for logs and metrics.
struct Completion {
  const Request& request;
  int status;
  std::chrono::steady_clock::duration elapsed;
};

struct ServerHooks {
  // Picks the handler for a request whose head has been read. Sets request.path, params,
  // api version and route as it sees fit. Must not throw (answer errors via the handler).
  std::function<RouteTarget(Request&)> resolve;
  // Turns an exception thrown by a handler into the response the client gets.
  std::function<Response(std::exception_ptr)> error_response;
  // Fields added to every response that is not hijacked.
  Headers default_headers;
  std::function<void(const Completion&)> on_complete;
  std::size_t max_body_bytes = 64 << 20;
};

class Server {
 public:
  Server(ServerHooks hooks, std::size_t io_threads);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds now; throws std::runtime_error with a clear message on failure (address in use,
  // another daemon on the socket, unreadable certificates, …).
  void listen(const ListenerOptions& options);
  // The bound addresses (with the real port for "tcp://…:0").
  std::vector<std::string> addresses() const;
  void start();
  // Stops accepting, lets requests in flight finish for up to `grace`, then closes every
  // connection; streams, hijacked connections and WebSockets see their descriptors close.
  void stop(std::chrono::milliseconds grace);
  // The first step of stop() on its own: no new connections; open ones carry on.
  void close_listeners();
  // True once stop() began: long-running handlers should wind down.
  bool stopping() const;

  struct Impl;  // opaque: defined in server.cc, where the connections use it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sockerless::http
