// The one place typed errors become Engine API responses: status code + {"message": …}.
#pragma once

#include <exception>

#include "common/errors.h"
#include "http/message.h"

namespace sockerless::api {

int status_for(ErrorKind kind);
http::Response error_response(std::exception_ptr error);
http::Response error_response(int status, const std::string& message);

}  // namespace sockerless::api
