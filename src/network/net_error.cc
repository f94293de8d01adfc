#include "network/net_error.h"

#include <cerrno>
#include <cstring>

namespace sockerless::network {

NetError::NetError(const std::string& operation, int code)
    : Error(ErrorKind::Internal, operation + ": " + std::strerror(code)), code_(code) {}

void throw_errno(const std::string& operation) {
  throw NetError(operation, errno);
}

}  // namespace sockerless::network
