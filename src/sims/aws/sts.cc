// STS: who the caller is. The simulator's credentials belong to the account's root.
#include "sims/aws/services.h"
#include "sims/common/service.h"
#include "sims/common/simulator.h"

namespace sockerless::sims::aws {
namespace {

class Sts : public AwsService {
 public:
  Sts() {
    operation("GetCallerIdentity", [](const nlohmann::json&, const AwsContext& ctx) {
      return nlohmann::json{{"UserId", ctx.account_id},
                            {"Account", ctx.account_id},
                            {"Arn", "arn:aws:iam::" + ctx.account_id + ":root"}};
    });
  }
  std::string signing_name() const override { return "sts"; }
  Protocol protocol() const override { return Protocol::kQuery; }
  std::string xml_namespace() const override { return "https://sts.amazonaws.com/doc/2011-06-15/"; }
};

}  // namespace

std::shared_ptr<AwsService> make_sts(Simulator&) {
  return std::make_shared<Sts>();
}

}  // namespace sockerless::sims::aws
