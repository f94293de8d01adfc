// A failed system or netlink call in the network module, named like the sandbox's
// errors: "create bridge br-1a2b: File exists". Carries the errno so callers can tell
// EEXIST or EADDRINUSE apart; reaches a client as a 500, as dockerd's driver errors do.
#pragma once

#include <string>

#include "common/errors.h"

namespace sockerless::network {

class NetError : public Error {
 public:
  NetError(const std::string& operation, int code);
  int code() const { return code_; }

 private:
  int code_;
};

// Throws NetError(operation, errno).
[[noreturn]] void throw_errno(const std::string& operation);

}  // namespace sockerless::network
