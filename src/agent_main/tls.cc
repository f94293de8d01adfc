// wss:// for the agent's callback: TLS over the dialed TCP connection, carried by one thread
// that owns the OpenSSL object (OpenSSL objects take no concurrent reads and writes), with
// the plaintext side a socket pair that the Link uses as it uses any connection.
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "agent_main/agent.h"

namespace sockerless::agent {

namespace {

std::string ssl_error(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return what + ": " + (e ? buf : "unknown TLS error");
}

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

struct Tunnel {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{nullptr, SSL_CTX_free};
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl{nullptr, SSL_free};
  UniqueFd tcp, plain;

  // Moves bytes both ways until either side ends.
  void run() {
    set_nonblocking(tcp.get());
    set_nonblocking(plain.get());
    std::string to_tls, to_plain;
    bool plain_eof = false, tls_eof = false;
    char buf[64 * 1024];
    while (!tls_eof || !to_plain.empty()) {
      // Decrypted bytes first: OpenSSL may hold some that poll cannot see.
      for (;;) {
        if (tls_eof || to_plain.size() > (1 << 20)) break;
        int n = SSL_read(ssl.get(), buf, sizeof buf);
        if (n > 0) {
          to_plain.append(buf, static_cast<std::size_t>(n));
          continue;
        }
        int err = SSL_get_error(ssl.get(), n);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) tls_eof = true;
        break;
      }
      while (!to_plain.empty()) {
        ssize_t w = ::send(plain.get(), to_plain.data(), to_plain.size(), MSG_NOSIGNAL);
        if (w > 0) {
          to_plain.erase(0, static_cast<std::size_t>(w));
          continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) break;
        return;  // the Link's side is gone
      }
      if (!plain_eof && to_tls.size() < (1 << 20)) {
        ssize_t r = ::recv(plain.get(), buf, sizeof buf, 0);
        if (r > 0) {
          to_tls.append(buf, static_cast<std::size_t>(r));
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          plain_eof = true;
        }
      }
      while (!to_tls.empty()) {
        int n = SSL_write(ssl.get(), to_tls.data(), static_cast<int>(to_tls.size()));
        if (n > 0) {
          to_tls.erase(0, static_cast<std::size_t>(n));
          continue;
        }
        int err = SSL_get_error(ssl.get(), n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
        return;
      }
      if (plain_eof && to_tls.empty()) {
        SSL_shutdown(ssl.get());
        ::shutdown(tcp.get(), SHUT_WR);
        plain_eof = false;  // once
        tls_eof = true;
      }
      if (tls_eof && to_plain.empty()) break;
      pollfd fds[2] = {{tcp.get(), POLLIN, 0}, {plain.get(), 0, 0}};
      if (!to_tls.empty()) fds[0].events |= POLLOUT;
      if (!to_plain.empty()) fds[1].events |= POLLOUT;
      if (!plain_eof && to_tls.size() < (1 << 20)) fds[1].events |= POLLIN;
      if (SSL_pending(ssl.get()) == 0) ::poll(fds, 2, 1000);
    }
    ::shutdown(plain.get(), SHUT_RDWR);
  }
};

}  // namespace

UniqueFd tls_tunnel(UniqueFd tcp, const std::string& host, const std::string& ca_file) {
  auto t = std::make_shared<Tunnel>();
  t->ctx.reset(SSL_CTX_new(TLS_client_method()));
  if (!t->ctx) throw std::runtime_error(ssl_error("TLS"));
  SSL_CTX_set_min_proto_version(t->ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(t->ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(t->ctx.get(), ca_file.c_str(), nullptr) != 1)
      throw std::runtime_error(ssl_error("TLS: loading " + ca_file));
  } else {
    SSL_CTX_set_default_verify_paths(t->ctx.get());
  }
  t->ssl.reset(SSL_new(t->ctx.get()));
  SSL_set_mode(t->ssl.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_fd(t->ssl.get(), tcp.get());
  SSL_set1_host(t->ssl.get(), host.c_str());
  SSL_set_tlsext_host_name(t->ssl.get(), host.c_str());
  if (SSL_connect(t->ssl.get()) != 1) {
    long verify = SSL_get_verify_result(t->ssl.get());
    std::string why =
        verify != X509_V_OK ? X509_verify_cert_error_string(verify) : ssl_error("handshake");
    throw std::runtime_error("TLS with " + host + ": " + why);
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
  t->tcp = std::move(tcp);
  t->plain = UniqueFd(sv[1]);
  std::thread([t] { t->run(); }).detach();
  return UniqueFd(sv[0]);
}

}  // namespace sockerless::agent
