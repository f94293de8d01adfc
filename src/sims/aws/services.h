// The AWS simulator's services, registered with a Simulator in one place (services.cc).
#pragma once

#include <memory>

namespace sockerless::sims {
class Simulator;
class AwsService;
}  // namespace sockerless::sims

namespace sockerless::sims::aws {

class LogsStore;

// Registers every AWS service the simulator serves.
void add_services(Simulator& sim);

// One factory per service (each in its own file).
std::shared_ptr<AwsService> make_ecs(Simulator& sim, std::shared_ptr<LogsStore> logs);
std::shared_ptr<AwsService> make_sts(Simulator& sim);
std::shared_ptr<AwsService> make_logs(Simulator& sim, std::shared_ptr<LogsStore> store);
std::shared_ptr<AwsService> make_ecr(Simulator& sim);
std::shared_ptr<AwsService> make_iam(Simulator& sim);
std::shared_ptr<AwsService> make_ec2(Simulator& sim);

}  // namespace sockerless::sims::aws
