// A simulated AWS service: its signing name, its protocol, and its operations by name.
// Services register with the Simulator (sims/common/simulator.h) in one place per cloud.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/message.h"
#include "sims/common/aws_protocol.h"

namespace sockerless::sims {

class AwsService {
 public:
  using Operation = std::function<nlohmann::json(const nlohmann::json& input, const AwsContext&)>;

  virtual ~AwsService() = default;

  // The name in the credential scope ("ecs", "logs", "sts") and the model's name for
  // messages ("Amazon EC2 Container Service").
  virtual std::string signing_name() const = 0;
  virtual Protocol protocol() const = 0;
  // JSON 1.1: the X-Amz-Target prefix ("AmazonEC2ContainerServiceV20141113").
  virtual std::string target_prefix() const { return {}; }
  virtual std::string json_content_type() const { return "application/x-amz-json-1.1"; }
  // Query/EC2: the XML namespace of answers.
  virtual std::string xml_namespace() const { return {}; }
  // REST-JSON: the path prefixes the service serves ("/2015-03-31/functions").
  virtual std::vector<std::string> rest_prefixes() const { return {}; }

  // JSON 1.1, Query and EC2: runs an operation. Unknown operations answer 501 naming it.
  nlohmann::json call(const std::string& operation, const nlohmann::json& input,
                      const AwsContext& ctx) const;
  // REST-JSON: the whole request (path, query, headers, body).
  virtual http::Response rest(http::Request& request, const AwsContext& ctx);

 protected:
  void operation(const std::string& name, Operation fn) { operations_[name] = std::move(fn); }

 private:
  std::map<std::string, Operation> operations_;
};

}  // namespace sockerless::sims
