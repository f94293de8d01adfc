#include "http/handler.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace sockerless::http {

bool StreamWriter::write(std::string_view data) {
  while (!data.empty()) {
    if (!fd_) return false;
    ssize_t n = ::write(fd_.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void StreamWriter::abort() {
  if (aborted_) aborted_->store(true);
  fd_.reset();
}

bool StreamWriter::client_gone() const {
  return wait_client_gone(0);
}

bool StreamWriter::wait_client_gone(int timeout_ms) const {
  if (!fd_) return true;
  // The server closes the read end of our pipe when the client leaves; a pipe's write
  // end then reports POLLERR. Ask only for error conditions, so writability does not wake us.
  pollfd p{fd_.get(), 0, 0};
  int r = ::poll(&p, 1, timeout_ms);
  return r > 0 && (p.revents & (POLLERR | POLLHUP)) != 0;
}

}  // namespace sockerless::http
