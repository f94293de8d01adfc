// Typed errors. Anything that reaches a client is one of these; the API layer maps each
// kind to the Engine API's status code in exactly one place (api/errors.cc).
#pragma once

#include <stdexcept>
#include <string>

namespace sockerless {

enum class ErrorKind {
  InvalidArgument,  // 400
  Unauthorized,     // 401
  Forbidden,        // 403
  NotFound,         // 404
  Conflict,         // 409
  NotModified,      // 304
  Internal,         // 500
  NotImplemented,   // 501
  BadGateway,       // 502
  Unavailable,      // 503
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

#define SOCKERLESS_ERROR_TYPE(Name)                                                \
  class Name : public Error {                                                      \
   public:                                                                         \
    explicit Name(const std::string& message) : Error(ErrorKind::Name, message) {} \
  }

SOCKERLESS_ERROR_TYPE(InvalidArgument);
SOCKERLESS_ERROR_TYPE(Unauthorized);
SOCKERLESS_ERROR_TYPE(Forbidden);
SOCKERLESS_ERROR_TYPE(NotFound);
SOCKERLESS_ERROR_TYPE(Conflict);
SOCKERLESS_ERROR_TYPE(NotModified);
SOCKERLESS_ERROR_TYPE(Internal);
SOCKERLESS_ERROR_TYPE(NotImplemented);
SOCKERLESS_ERROR_TYPE(BadGateway);
SOCKERLESS_ERROR_TYPE(Unavailable);

#undef SOCKERLESS_ERROR_TYPE

}  // namespace sockerless
