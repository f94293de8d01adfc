// The AWS simulator's services, registered with a Simulator in one place (services.cc).
#pragma once

#include <memory>
#include <optional>
#include <string>

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
std::shared_ptr<AwsService> make_iam(Simulator& sim);
std::shared_ptr<AwsService> make_ec2(Simulator& sim);
std::shared_ptr<AwsService> make_efs(Simulator& sim);
std::shared_ptr<AwsService> make_logs(Simulator& sim, std::shared_ptr<LogsStore> store);
std::shared_ptr<AwsService> make_ecr(Simulator& sim);
std::shared_ptr<AwsService> make_servicediscovery(Simulator& sim);
std::shared_ptr<AwsService> make_lambda(Simulator& sim, std::shared_ptr<LogsStore> logs);

// The directory an ECS task's EFS volume mounts (nullopt: no such file system or access
// point): the access point's root directory, else `root_directory` of the file system.
std::optional<std::string> efs_directory(Simulator& sim, const std::string& file_system,
                                         const std::string& access_point,
                                         const std::string& root_directory);

}  // namespace sockerless::sims::aws
