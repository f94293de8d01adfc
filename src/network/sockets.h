// Socket plumbing shared by the DNS server and the port proxy.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "common/unique_fd.h"

namespace sockerless::network {

sockaddr_in make_sockaddr(in_addr address, std::uint16_t port);
std::string format_sockaddr(const sockaddr_in& address);  // "10.0.0.1:53"

// A socket of `type` (SOCK_STREAM/SOCK_DGRAM, plus SOCK_NONBLOCK if wanted) bound to
// `address`, listening if a stream. Throws NetError("bind <addr>", errno).
UniqueFd bind_socket(int type, const sockaddr_in& address);
std::uint16_t local_port(int fd);

// Waits until `fd` is ready for `events` (POLLIN/POLLOUT): true; false on timeout or when
// `stop_fd` (an eventfd, -1 for none) became readable. timeout_ms < 0: no timeout.
bool wait_ready(int fd, short events, int stop_fd, int timeout_ms);

// Reads/writes exactly `len` bytes on a blocking or non-blocking stream, waiting with
// wait_ready between partial transfers. False on EOF, error, timeout or stop.
bool read_full(int fd, void* data, std::size_t len, int stop_fd, int timeout_ms);
bool write_full(int fd, const void* data, std::size_t len, int stop_fd, int timeout_ms);

}  // namespace sockerless::network
