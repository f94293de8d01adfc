#include "network/sockets.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "network/net_error.h"

namespace sockerless::network {

sockaddr_in make_sockaddr(in_addr address, std::uint16_t port) {
  sockaddr_in result{};
  result.sin_family = AF_INET;
  result.sin_addr = address;
  result.sin_port = htons(port);
  return result;
}

std::string format_sockaddr(const sockaddr_in& address) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
  return std::string(text) + ":" + std::to_string(ntohs(address.sin_port));
}

UniqueFd bind_socket(int type, const sockaddr_in& address) {
  UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket");
  if ((type & SOCK_STREAM) == SOCK_STREAM) {
    int one = 1;  // rebinding while old connections sit in TIME_WAIT, as Go's net.Listen
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    throw_errno("bind " + format_sockaddr(address));
  if ((type & SOCK_STREAM) == SOCK_STREAM && ::listen(fd.get(), SOMAXCONN) != 0)
    throw_errno("listen " + format_sockaddr(address));
  return fd;
}

std::uint16_t local_port(int fd) {
  sockaddr_in address{};
  socklen_t len = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &len) != 0)
    throw_errno("getsockname");
  return ntohs(address.sin_port);
}

bool wait_ready(int fd, short events, int stop_fd, int timeout_ms) {
  pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
  for (;;) {
    int n = ::poll(fds, stop_fd >= 0 ? 2 : 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (stop_fd >= 0 && fds[1].revents) return false;
    return fds[0].revents != 0;
  }
}

bool read_full(int fd, void* data, std::size_t len, int stop_fd, int timeout_ms) {
  auto* p = static_cast<char*>(data);
  while (len > 0) {
    if (!wait_ready(fd, POLLIN, stop_fd, timeout_ms)) return false;
    ssize_t n = ::recv(fd, p, len, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

bool write_full(int fd, const void* data, std::size_t len, int stop_fd, int timeout_ms) {
  const auto* p = static_cast<const char*>(data);
  while (len > 0) {
    if (!wait_ready(fd, POLLOUT, stop_fd, timeout_ms)) return false;
    ssize_t n = ::send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace sockerless::network
