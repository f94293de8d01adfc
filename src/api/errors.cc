#include "api/errors.h"

#include <spdlog/spdlog.h>

#include "api/respond.h"

namespace sockerless::api {

int status_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidArgument:
      return 400;
    case ErrorKind::Unauthorized:
      return 401;
    case ErrorKind::Forbidden:
      return 403;
    case ErrorKind::NotFound:
      return 404;
    case ErrorKind::Conflict:
      return 409;
    case ErrorKind::NotModified:
      return 304;
    case ErrorKind::Internal:
      return 500;
    case ErrorKind::NotImplemented:
      return 501;
    case ErrorKind::BadGateway:
      return 502;
    case ErrorKind::Unavailable:
      return 503;
  }
  return 500;
}

http::Response error_response(int status, const std::string& message) {
  return json_response(status, {{"message", message}});
}

http::Response error_response(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    int status = status_for(e.kind());
    if (status == 304) return http::Response::empty(304);
    return error_response(status, e.what());
  } catch (const nlohmann::json::exception& e) {
    // A body that is not the JSON the route expects is the client's mistake.
    return error_response(400, std::string("invalid JSON: ") + e.what());
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    return error_response(500, e.what());
  } catch (...) {
    spdlog::error("internal error of unknown type");
    return error_response(500, "internal error");
  }
}

}  // namespace sockerless::api
