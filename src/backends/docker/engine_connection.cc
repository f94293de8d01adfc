#include "backends/docker/engine_connection.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/errors.h"
#include "common/unique_fd.h"

namespace sockerless::backends::docker {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// Waits for a non-blocking connect to finish; returns 0 or the errno it failed with.
int finish_connect(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLOUT, 0};
  int r;
  do {
    r = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (r < 0 && errno == EINTR);
  if (r == 0) return ETIMEDOUT;
  if (r < 0) return errno;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err;
}

UniqueFd connect_socket(const EngineAddress& a, std::chrono::milliseconds timeout) {
  auto fail = [&a](const std::string& why) -> BadGateway {
    return BadGateway("docker backend: cannot connect to the Docker engine at " + a.url + ": " +
                      why);
  };
  if (!a.unix_path.empty()) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw fail(errno_text(errno));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (a.unix_path.size() >= sizeof sa.sun_path) throw fail("socket path too long");
    std::memcpy(sa.sun_path, a.unix_path.c_str(), a.unix_path.size() + 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
      throw fail(errno_text(errno));
    return fd;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(a.host.c_str(), a.port.c_str(), &hints, &found); rc != 0)
    throw fail(gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, ::freeaddrinfo);
  std::string last = "no address";
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
      last = errno_text(errno);
      continue;
    }
    int err = 0;
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0)
      err = errno == EINPROGRESS ? finish_connect(fd.get(), timeout) : errno;
    if (err != 0) {
      last = errno_text(err);
      continue;
    }
    int flags = ::fcntl(fd.get(), F_GETFL);
    ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }
  throw fail(last);
}

class PlainConnection final : public EngineConnection {
 public:
  explicit PlainConnection(UniqueFd fd) : fd_(std::move(fd)) {}

  std::size_t read_some(char* data, std::size_t size) override {
    for (;;) {
      ssize_t n = ::read(fd_.get(), data, size);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "read from the Docker engine");
    }
  }
  void write_all(const char* data, std::size_t size) override {
    while (size > 0) {
      ssize_t n = ::send(fd_.get(), data, size, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "write to the Docker engine");
      }
      data += n;
      size -= static_cast<std::size_t>(n);
    }
  }
  void shutdown_write() override { ::shutdown(fd_.get(), SHUT_WR); }
  int fd() const override { return fd_.get(); }
  bool buffered() const override { return false; }

 private:
  UniqueFd fd_;
};

class TlsConnection final : public EngineConnection {
 public:
  TlsConnection(UniqueFd fd, const EngineAddress& a) : fd_(std::move(fd)) {
    auto fail = [&a](const std::string& why) {
      return BadGateway("docker backend: TLS with the Docker engine at " + a.url +
                        " failed: " + why);
    };
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) throw fail(openssl_error());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    if (a.verify) {
      if (SSL_CTX_load_verify_locations(ctx_, a.ca_file.c_str(), nullptr) != 1)
        throw fail("cannot load CA " + a.ca_file + ": " + openssl_error());
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    } else {
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    }
    std::error_code ec;
    if (!a.cert_file.empty() && std::filesystem::exists(a.cert_file, ec)) {
      if (SSL_CTX_use_certificate_chain_file(ctx_, a.cert_file.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(ctx_, a.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
        throw fail("cannot load client certificate " + a.cert_file + ": " + openssl_error());
    }
    ssl_ = SSL_new(ctx_);
    if (!ssl_) throw fail(openssl_error());
    SSL_set_fd(ssl_, fd_.get());
    SSL_set_tlsext_host_name(ssl_, a.host.c_str());
    if (a.verify) SSL_set1_host(ssl_, a.host.c_str());
    if (SSL_connect(ssl_) != 1) {
      long verify = SSL_get_verify_result(ssl_);
      std::string why =
          verify != X509_V_OK ? X509_verify_cert_error_string(verify) : openssl_error();
      throw fail(why);
    }
  }
  ~TlsConnection() override {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
  }

  std::size_t read_some(char* data, std::size_t size) override {
    int n = SSL_read(ssl_, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
    if (n > 0) return static_cast<std::size_t>(n);
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_ZERO_RETURN) return 0;
    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return 0;  // closed without notify
    throw std::runtime_error("TLS read from the Docker engine: " + openssl_error());
  }
  void write_all(const char* data, std::size_t size) override {
    while (size > 0) {
      int n = SSL_write(ssl_, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
      if (n <= 0) throw std::runtime_error("TLS write to the Docker engine: " + openssl_error());
      data += n;
      size -= static_cast<std::size_t>(n);
    }
  }
  // TLS has no half-close of its own: close_notify, then the socket's write side.
  void shutdown_write() override {
    SSL_shutdown(ssl_);
    ::shutdown(fd_.get(), SHUT_WR);
  }
  int fd() const override { return fd_.get(); }
  bool buffered() const override { return SSL_pending(ssl_) > 0; }

 private:
  UniqueFd fd_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

std::string cert_file(const EngineTls& tls, const char* name) {
  return (std::filesystem::path(tls.cert_path) / name).string();
}

}  // namespace

EngineAddress parse_engine_address(const std::string& host, const EngineTls& tls) {
  EngineAddress a;
  std::string h = host;
  if (!h.empty() && h.front() == '/') h = "unix://" + h;
  if (h.rfind("unix://", 0) == 0) {
    a.unix_path = h.substr(7);
    if (a.unix_path.empty()) throw InvalidArgument("docker host " + host + " has no socket path");
    a.url = h;
    return a;
  }
  if (h.rfind("tcp://", 0) != 0)
    throw InvalidArgument("docker host " + host +
                          " is not supported: use unix:///path or tcp://host[:port]");
  a.tls = tls.tls || tls.verify;
  a.verify = tls.verify;
  std::string rest = h.substr(6);
  if (auto slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
  auto bracket = rest.rfind(']');
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    a.host = rest.substr(0, colon);
    a.port = rest.substr(colon + 1);
  } else {
    a.host = rest;
    a.port = a.tls ? "2376" : "2375";
  }
  if (a.host.size() >= 2 && a.host.front() == '[') a.host = a.host.substr(1, a.host.size() - 2);
  if (a.host.empty() || a.port.empty())
    throw InvalidArgument("docker host " + host + " needs a host and port");
  a.url = "tcp://" + (a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host) + ":" +
          a.port;
  if (a.tls) {
    a.ca_file = cert_file(tls, "ca.pem");
    a.cert_file = cert_file(tls, "cert.pem");
    a.key_file = cert_file(tls, "key.pem");
  }
  return a;
}

std::unique_ptr<EngineConnection> EngineConnection::open(const EngineAddress& address,
                                                         std::chrono::milliseconds timeout) {
  UniqueFd fd = connect_socket(address, timeout);
  if (address.tls) return std::make_unique<TlsConnection>(std::move(fd), address);
  return std::make_unique<PlainConnection>(std::move(fd));
}

}  // namespace sockerless::backends::docker
