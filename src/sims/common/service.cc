#include "sims/common/service.h"

namespace sockerless::sims {

nlohmann::json AwsService::call(const std::string& operation, const nlohmann::json& input,
                                const AwsContext& ctx) const {
  auto it = operations_.find(operation);
  if (it == operations_.end())
    throw AwsError(501, "NotImplemented",
                   "sockerless-sim does not implement " + signing_name() + " " +
                       (operation.empty() ? std::string("(no operation named)") : operation));
  return it->second(input, ctx);
}

http::Response AwsService::rest(http::Request& request, const AwsContext&) {
  throw AwsError(501, "NotImplemented",
                 "sockerless-sim does not implement " + signing_name() + " " + request.method +
                     " " + request.path);
}

}  // namespace sockerless::sims
