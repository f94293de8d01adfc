// A raw unix-socket HTTP client for tests: the point is to see the exact bytes on the wire.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <string>

namespace sockerless::test_support {

// A hijacked stream's other end for tests: sends back what arrives upper-cased until the
// peer half-closes, then "bye".
inline void shout_back(int fd) {
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; ++i)
      buf[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(buf[i])));
    (void)!::write(fd, buf, static_cast<std::size_t>(n));
  }
  (void)!::write(fd, "bye", 3);
}

class RawClient {
 public:
  explicit RawClient(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      ADD_FAILURE() << "connect";
  }
  ~RawClient() { ::close(fd_); }
  void send(const std::string& s) {
    ASSERT_EQ(::write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  void half_close() { ::shutdown(fd_, SHUT_WR); }
  // Reads until `needle` appears, EOF, or the timeout; returns everything read so far.
  std::string read_until(const std::string& needle, int timeout_ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (buf_.find(needle) == std::string::npos) {
      if (!read_some(deadline)) break;
    }
    return take(needle);
  }
  std::string read_to_eof(int timeout_ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (read_some(deadline)) {
    }
    std::string out = buf_;
    buf_.clear();
    return out;
  }
  // Reads exactly n bytes (fewer on EOF or timeout).
  std::string read_exact(std::size_t n, int timeout_ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (buf_.size() < n) {
      if (!read_some(deadline)) break;
    }
    std::string out = buf_.substr(0, n);
    buf_.erase(0, out.size());
    return out;
  }
  bool eof() const { return eof_; }

 private:
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) return false;
    char tmp[4096];
    ssize_t n = ::read(fd_, tmp, sizeof tmp);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }
  std::string take(const std::string& needle) {
    auto pos = buf_.find(needle);
    std::size_t n = pos == std::string::npos ? buf_.size() : pos + needle.size();
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }
  int fd_;
  std::string buf_;
  bool eof_ = false;
};

}  // namespace sockerless::test_support
