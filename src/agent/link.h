// One agent connection: a WebSocket (RFC 6455) over a connected socket, with the opening
// handshake of either side, and the per-stream credit windows of the protocol's flow
// control. Blocking and thread-based on purpose: one thread reads, any thread sends (a
// mutex keeps frames whole), so both the static agent and the daemon use it as is.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace sockerless::agent {

inline constexpr std::size_t kInitialWindow = 1 << 20;
inline constexpr std::size_t kChunk = 64 << 10;

struct Message {
  bool binary = false;
  std::string payload;
};

class Link {
 public:
  // `client`: we dialed, so our frames are masked. `initial`: bytes already read past the
  // handshake.
  Link(UniqueFd fd, bool client, std::string initial = "");
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Thread-safe; false once the connection is gone.
  bool send_json(const nlohmann::json& message);
  bool send_data(std::uint8_t stream, std::uint32_t session, std::string_view payload);
  bool ping();

  // For the one reading thread: the next message, or nullopt once the connection has ended
  // (close, EOF, error, protocol violation). Pings are answered here.
  std::optional<Message> read();

  // Sends a close frame (once) and shuts the socket down both ways: a blocked reader
  // returns. Thread-safe.
  void close(std::uint16_t code = 1000, std::string_view reason = "");
  bool closed() const { return closed_; }
  // Why the connection ended, when we know ("" otherwise).
  std::string end_reason() const;

 private:
  bool write_frame(int op, std::string_view payload);
  bool fill();  // reads more into buf_; false at EOF or error

  UniqueFd fd_;
  bool client_;
  std::mutex write_mu_;
  std::string buf_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> close_sent_{false};
  mutable std::mutex reason_mu_;
  std::string reason_;
};

// An HTTP head read to its blank line (`rest` gets what came after it), and split into
// its first line and lower-cased header fields. Throw HandshakeError on EOF or a head
// over 64 KiB.
std::string read_http_head(int fd, std::string& rest);
std::string parse_http_head(const std::string& head, std::map<std::string, std::string>& headers);

// send(2) with MSG_NOSIGNAL until everything is sent; false when the socket fails.
bool send_all(int fd, std::string_view data);

// A connected socket to "host:port" (TCP) or "unix:/path" / "/path" (a unix socket).
// Throws std::runtime_error naming the address.
UniqueFd dial(const std::string& address);
// A listening socket on the same forms of address.
UniqueFd listen_on(const std::string& address);

// A ws:// or wss:// URL (or ws+unix://<percent-encoded socket path>/<target>) split for
// dialing.
struct Url {
  std::string address;   // as dial() takes it
  std::string host;      // for the Host header
  std::string hostname;  // the host without its port, for TLS
  std::string target;    // path and query
  bool tls = false;
};
Url parse_url(const std::string& url);  // throws std::invalid_argument

// The opening handshake as the dialing side: the upgrade request carrying the token, the
// 101 answer checked. Returns bytes read past the answer. Throws HandshakeError.
class HandshakeError : public std::runtime_error {
 public:
  HandshakeError(int status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};
std::string client_handshake(int fd, const std::string& host, const std::string& target,
                             const std::string& token);

// The opening handshake as the accepting side (the agent's --listen): reads the request,
// answers 401 without upgrading when the bearer token differs (constant-time compare),
// 404 for another path, 400 for a request that is not an upgrade, and 101 otherwise.
// Returns the bytes read past the request when it upgraded; throws HandshakeError when it
// did not (the answer has been sent).
std::string server_handshake(int fd, const std::string& path, const std::string& token);

// The request head a server read, for callers that read it themselves (the daemon).
struct UpgradeRequest {
  std::string method, target;
  std::map<std::string, std::string> headers;  // names lower-cased
};
// Reads an upgrade request's head from `fd` (`rest` gets what came after it).
// Throws HandshakeError.
UpgradeRequest read_upgrade_request(int fd, std::string& rest);
// Answers a request that is not upgraded: `status` with `message` as a text body.
void refuse(int fd, int status, const std::string& message);
// The value of a query parameter of a request target ("" when absent).
std::string query_param(const std::string& target, const std::string& name);
// Checks an upgrade request and returns the 101 answer's head to send, or throws
// HandshakeError(status) saying why not.
std::string upgrade_answer(const UpgradeRequest& request, const std::string& token);
// The token an Authorization header carries ("Bearer <token>"), "" when none.
std::string bearer_token(const std::map<std::string, std::string>& headers);

// Flow control for one stream of one session: the sender takes credit before sending, the
// receiver grants it back as it hands data on.
class Window {
 public:
  explicit Window(std::size_t initial = kInitialWindow) : credit_(initial) {}
  // Blocks until some credit is there; returns how much of `want` may go now (0: closed).
  std::size_t take(std::size_t want);
  void grant(std::size_t n);
  void close();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t credit_;
  bool closed_ = false;
};

}  // namespace sockerless::agent
