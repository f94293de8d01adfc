#include "sims/aws/services.h"

#include "sims/aws/logs_store.h"
#include "sims/common/simulator.h"

namespace sockerless::sims::aws {

void add_services(Simulator& sim) {
  auto logs =
      std::make_shared<LogsStore>(sim.state(), sim.options().region, sim.options().account_id);
  sim.add(make_sts(sim));
  sim.add(make_iam(sim));
  sim.add(make_ec2(sim));
  sim.add(make_efs(sim));
  sim.add(make_ecs(sim, logs));
  sim.add(make_logs(sim, logs));
  sim.add(make_ecr(sim));
  sim.add(make_servicediscovery(sim));
  sim.add(make_lambda(sim, logs));
}

}  // namespace sockerless::sims::aws
