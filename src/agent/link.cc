#include "agent/link.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>

#include "agent/wire.h"

namespace sockerless::agent {

using nlohmann::json;

namespace {

std::array<std::uint8_t, 4> random_mask() {
  thread_local std::mt19937 rng(std::random_device{}());
  std::uint32_t v = rng();
  return {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8),
          static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 24)};
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}

std::string answer(int status, const std::string& reason, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

bool has_token(const std::string& list, const std::string& word) {
  std::string l = lower(list);
  std::size_t at = 0;
  while (at <= l.size()) {
    std::size_t comma = l.find(',', at);
    if (comma == std::string::npos) comma = l.size();
    if (trim(std::string_view(l).substr(at, comma - at)) == word) return true;
    at = comma + 1;
  }
  return false;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t w = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(w));
  }
  return true;
}

std::string read_http_head(int fd, std::string& rest) {
  std::string buf;
  char chunk[4096];
  for (;;) {
    if (auto end = buf.find("\r\n\r\n"); end != std::string::npos) {
      rest = buf.substr(end + 4);
      return buf.substr(0, end + 2);
    }
    if (buf.size() > 64 * 1024) throw HandshakeError(431, "the HTTP head is too large");
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw HandshakeError(0, "the connection closed during the handshake");
    buf.append(chunk, static_cast<std::size_t>(n));
  }
}

std::string parse_http_head(const std::string& head, std::map<std::string, std::string>& headers) {
  std::size_t eol = head.find("\r\n");
  std::string first = head.substr(0, eol);
  std::size_t at = eol + 2;
  while (at < head.size()) {
    std::size_t next = head.find("\r\n", at);
    if (next == std::string::npos) next = head.size();
    std::string line = head.substr(at, next - at);
    if (auto colon = line.find(':'); colon != std::string::npos)
      headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    at = next + 2;
  }
  return first;
}

// ---------------------------------------------------------------- Link

Link::Link(UniqueFd fd, bool client, std::string initial)
    : fd_(std::move(fd)), client_(client), buf_(std::move(initial)) {
  int one = 1;
  ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // not TCP: no effect
}

Link::~Link() {
  close();
}

bool Link::write_frame(int op, std::string_view payload) {
  if (closed_) return false;
  std::optional<std::array<std::uint8_t, 4>> mask;
  if (client_) mask = random_mask();
  std::string frame = encode_frame(static_cast<Opcode>(op), payload, true, mask);
  std::lock_guard lock(write_mu_);
  if (close_sent_) return false;
  return send_all(fd_.get(), frame);
}

bool Link::send_json(const json& message) {
  return write_frame(static_cast<int>(Opcode::Text), message.dump());
}

bool Link::send_data(std::uint8_t stream, std::uint32_t session, std::string_view payload) {
  std::string m = data_header(stream, session);
  m.append(payload);
  return write_frame(static_cast<int>(Opcode::Binary), m);
}

bool Link::ping() {
  return write_frame(static_cast<int>(Opcode::Ping), "");
}

bool Link::fill() {
  char chunk[64 * 1024];
  for (;;) {
    ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
}

std::string Link::end_reason() const {
  std::lock_guard lock(reason_mu_);
  return reason_;
}

std::optional<Message> Link::read() {
  Message message;
  bool in_message = false;
  auto end = [&](const std::string& why) -> std::optional<Message> {
    {
      std::lock_guard lock(reason_mu_);
      if (reason_.empty()) reason_ = why;
    }
    closed_ = true;
    ::shutdown(fd_.get(), SHUT_RDWR);
    return std::nullopt;
  };
  for (;;) {
    std::optional<FrameHeader> h;
    try {
      while (!(h = parse_frame_header(buf_)))
        if (!fill()) return end("the connection was lost");
      if (h->masked == client_)  // servers get masked frames, clients unmasked ones
        throw ProtocolError(client_ ? "a masked frame from the server"
                                    : "an unmasked frame from the client");
    } catch (const ProtocolError& e) {
      close(1002, e.what());
      return end(e.what());
    }
    while (buf_.size() < h->header_size + h->length)
      if (!fill()) return end("the connection was lost");
    std::string payload = buf_.substr(h->header_size, h->length);
    buf_.erase(0, h->header_size + h->length);
    if (h->masked) unmask(payload, h->mask);
    switch (h->op) {
      case Opcode::Ping:
        write_frame(static_cast<int>(Opcode::Pong), payload);
        continue;
      case Opcode::Pong:
        continue;
      case Opcode::Close: {
        std::string why = "closed by the peer";
        if (payload.size() > 2) why += ": " + payload.substr(2);
        close(1000);
        return end(why);
      }
      case Opcode::Continuation:
        if (!in_message) {
          close(1002, "a continuation frame with no message");
          return end("protocol error: a continuation frame with no message");
        }
        message.payload += payload;
        break;
      case Opcode::Text:
      case Opcode::Binary:
        if (in_message) {
          close(1002, "a new message inside a fragmented one");
          return end("protocol error: a new message inside a fragmented one");
        }
        in_message = true;
        message.binary = h->op == Opcode::Binary;
        message.payload = std::move(payload);
        break;
    }
    if (h->fin) return message;
  }
}

void Link::close(std::uint16_t code, std::string_view reason) {
  if (!close_sent_.exchange(true) && fd_) {
    std::string payload;
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    payload.append(reason.substr(0, 120));
    std::optional<std::array<std::uint8_t, 4>> mask;
    if (client_) mask = random_mask();
    std::string frame = encode_frame(Opcode::Close, payload, true, mask);
    std::lock_guard lock(write_mu_);
    send_all(fd_.get(), frame);
  }
  closed_ = true;
  if (fd_) ::shutdown(fd_.get(), SHUT_RDWR);
}

// ---------------------------------------------------------------- sockets

namespace {

bool is_unix(const std::string& address, std::string& path) {
  if (address.rfind("unix:", 0) == 0) {
    path = address.substr(5);
    while (path.rfind("//", 0) == 0)
      path.erase(0, 1);
    return true;
  }
  if (!address.empty() && address[0] == '/') {
    path = address;
    return true;
  }
  return false;
}

// A socket address for `path`; a path longer than sun_path is reached through its
// directory, opened into `dir` (/proc/self/fd/N/name).
sockaddr_un unix_address(const std::string& path, UniqueFd& dir) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::string p = path;
  if (p.size() >= sizeof sa.sun_path) {
    auto slash = p.rfind('/');
    dir = UniqueFd(
        ::open(slash == 0 ? "/" : p.substr(0, slash).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir)
      throw std::runtime_error("cannot open the directory of " + path + ": " +
                               std::strerror(errno));
    p = "/proc/self/fd/" + std::to_string(dir.get()) + "/" + p.substr(slash + 1);
  }
  if (p.size() >= sizeof sa.sun_path)
    throw std::runtime_error("unix socket path too long: " + path);
  std::memcpy(sa.sun_path, p.c_str(), p.size() + 1);
  return sa;
}

void split_host_port(const std::string& address, std::string& host, std::string& port) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("address without a port: " + address);
  host = address.substr(0, colon);
  port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
}

}  // namespace

UniqueFd dial(const std::string& address) {
  std::string path;
  if (is_unix(address, path)) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)), dir;
    sockaddr_un sa = unix_address(path, dir);
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
      throw std::runtime_error("cannot connect to " + address + ": " + std::strerror(errno));
    return fd;
  }
  std::string host, port;
  split_host_port(address, host, port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    throw std::runtime_error("cannot resolve " + host + ": " + ::gai_strerror(rc));
  std::string error = "no address";
  for (addrinfo* a = found; a; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (fd && ::connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0) {
      ::freeaddrinfo(found);
      return fd;
    }
    error = std::strerror(errno);
  }
  ::freeaddrinfo(found);
  throw std::runtime_error("cannot connect to " + address + ": " + error);
}

UniqueFd listen_on(const std::string& address) {
  std::string path;
  if (is_unix(address, path)) {
    ::unlink(path.c_str());
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)), dir;
    sockaddr_un sa = unix_address(path, dir);
    if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(fd.get(), 64) != 0)
      throw std::runtime_error("cannot listen on " + address + ": " + std::strerror(errno));
    return fd;
  }
  std::string host, port;
  split_host_port(address, host, port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      rc != 0)
    throw std::runtime_error("cannot resolve " + host + ": " + ::gai_strerror(rc));
  std::string error = "no address";
  for (addrinfo* a = found; a; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    int one = 1;
    if (fd) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd && ::bind(fd.get(), a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd.get(), 64) == 0) {
      ::freeaddrinfo(found);
      return fd;
    }
    error = std::strerror(errno);
  }
  ::freeaddrinfo(found);
  throw std::runtime_error("cannot listen on " + address + ": " + error);
}

Url parse_url(const std::string& url) {
  Url u;
  std::string rest;
  bool unix_socket = false;
  if (url.rfind("ws://", 0) == 0) {
    rest = url.substr(5);
  } else if (url.rfind("ws+unix://", 0) == 0) {
    rest = url.substr(10);
    unix_socket = true;
  } else if (url.rfind("wss://", 0) == 0) {
    rest = url.substr(6);
    u.tls = true;
  } else {
    throw std::invalid_argument("not a ws:// URL: " + url);
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.empty()) throw std::invalid_argument("no host in " + url);
  if (unix_socket) {
    u.address = "unix:" + percent_decode(authority);
    u.host = "localhost";
  } else {
    u.host = authority;
    bool has_port = authority.back() != ']' && authority.find(':') != std::string::npos &&
                    (authority[0] != '[' || authority.find("]:") != std::string::npos);
    u.address = has_port ? authority : authority + (u.tls ? ":443" : ":80");
    u.hostname = has_port ? authority.substr(0, authority.rfind(':')) : authority;
    if (u.hostname.size() >= 2 && u.hostname.front() == '[')
      u.hostname = u.hostname.substr(1, u.hostname.size() - 2);
  }
  return u;
}

std::string client_handshake(int fd, const std::string& host, const std::string& target,
                             const std::string& token) {
  std::string nonce;
  std::random_device rd;
  for (int i = 0; i < 16; ++i)
    nonce.push_back(static_cast<char>(rd() & 0xFF));
  std::string key = base64(nonce);
  std::string request =
      "GET " + target + " HTTP/1.1\r\nHost: " + host +
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
      "\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer " + token + "\r\n\r\n";
  if (!send_all(fd, request)) throw HandshakeError(0, "the connection closed during the handshake");
  std::string rest;
  std::string head = read_http_head(fd, rest);
  std::map<std::string, std::string> headers;
  std::string first = parse_http_head(head, headers);
  int status = 0;
  if (auto sp = first.find(' '); sp != std::string::npos)
    status = std::atoi(first.c_str() + sp + 1);
  if (status != 101) {
    std::string why = first.substr(first.find(' ') == std::string::npos ? 0 : first.find(' ') + 1);
    // A short body says more (our own answers carry one).
    if (auto len = headers.find("content-length"); len != headers.end()) {
      std::size_t n = std::min<std::size_t>(std::stoul(len->second), 4096);
      char chunk[4096];
      while (rest.size() < n) {
        ssize_t r = ::recv(fd, chunk, sizeof chunk, 0);
        if (r <= 0) break;
        rest.append(chunk, static_cast<std::size_t>(r));
      }
      std::string body = trim(rest.substr(0, n));
      while (!body.empty() && body.back() == '\n')
        body.pop_back();
      if (!body.empty()) why += ": " + body;
    }
    throw HandshakeError(status, "the upgrade was refused: " + why);
  }
  if (headers["sec-websocket-accept"] != websocket_accept(key))
    throw HandshakeError(0, "the upgrade answer has a wrong Sec-WebSocket-Accept");
  return rest;
}

std::string bearer_token(const std::map<std::string, std::string>& headers) {
  auto it = headers.find("authorization");
  if (it == headers.end()) return "";
  std::string v = it->second;
  if (lower(v.substr(0, 7)) != "bearer ") return "";
  return trim(v.substr(7));
}

std::string upgrade_answer(const UpgradeRequest& request, const std::string& token) {
  auto header = [&](const char* name) {
    auto it = request.headers.find(name);
    return it == request.headers.end() ? std::string() : it->second;
  };
  if (request.method != "GET" || !has_token(header("upgrade"), "websocket") ||
      !has_token(header("connection"), "upgrade") || header("sec-websocket-key").empty() ||
      header("sec-websocket-version") != "13")
    throw HandshakeError(400, "not a WebSocket upgrade");
  if (!same_token(bearer_token(request.headers), token))
    throw HandshakeError(401, "wrong or missing agent token");
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " +
         websocket_accept(header("sec-websocket-key")) + "\r\n\r\n";
}

UpgradeRequest read_upgrade_request(int fd, std::string& rest) {
  UpgradeRequest req;
  std::string head = read_http_head(fd, rest);
  std::string first = parse_http_head(head, req.headers);
  auto sp1 = first.find(' ');
  auto sp2 = first.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) {
    refuse(fd, 400, "malformed request line");
    throw HandshakeError(400, "malformed request line");
  }
  req.method = first.substr(0, sp1);
  req.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
  return req;
}

void refuse(int fd, int status, const std::string& message) {
  static const std::map<int, const char*> kReasons = {{400, "Bad Request"},
                                                      {401, "Unauthorized"},
                                                      {404, "Not Found"},
                                                      {503, "Service Unavailable"}};
  auto it = kReasons.find(status);
  std::string a = answer(status, it == kReasons.end() ? "Error" : it->second, message + "\n");
  send_all(fd, a);
}

std::string query_param(const std::string& target, const std::string& name) {
  auto q = target.find('?');
  if (q == std::string::npos) return "";
  std::string query = target.substr(q + 1);
  std::size_t at = 0;
  while (at <= query.size()) {
    std::size_t amp = query.find('&', at);
    if (amp == std::string::npos) amp = query.size();
    std::string pair = query.substr(at, amp - at);
    auto eq = pair.find('=');
    if (percent_decode(pair.substr(0, eq)) == name)
      return eq == std::string::npos ? "" : percent_decode(pair.substr(eq + 1));
    at = amp + 1;
  }
  return "";
}

std::string server_handshake(int fd, const std::string& path, const std::string& token) {
  std::string rest;
  UpgradeRequest req = read_upgrade_request(fd, rest);
  std::string target_path = req.target.substr(0, req.target.find('?'));
  try {
    if (target_path != path) throw HandshakeError(404, "no such path: " + target_path);
    std::string ok = upgrade_answer(req, token);
    if (!send_all(fd, ok)) throw HandshakeError(0, "the connection closed during the handshake");
    return rest;
  } catch (const HandshakeError& e) {
    if (e.status() != 0) refuse(fd, e.status(), e.what());
    throw;
  }
}

// ---------------------------------------------------------------- Window

std::size_t Window::take(std::size_t want) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return closed_ || credit_ > 0; });
  if (closed_) return 0;
  std::size_t n = std::min(want, credit_);
  credit_ -= n;
  return n;
}

void Window::grant(std::size_t n) {
  {
    std::lock_guard lock(mu_);
    credit_ += n;
  }
  cv_.notify_all();
}

void Window::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace sockerless::agent
