// IAM, as far as the container services' setup needs it: roles (an ECS task's execution and
// task roles, a Lambda function's role) and the managed policies attached to them. Nothing
// is enforced: no call is checked against a policy (iam:PassRole included; see the README).
#include <algorithm>

#include "cloud/aws/sigv4.h"
#include "http/message.h"
#include "sims/aws/services.h"
#include "sims/common/service.h"
#include "sims/common/simulator.h"
#include "sims/common/state.h"

namespace sockerless::sims::aws {
namespace {

using json = nlohmann::json;

AwsError no_such_role(const std::string& name) {
  return AwsError(404, "NoSuchEntity", "The role with name " + name + " cannot be found.");
}

class Iam : public AwsService {
 public:
  explicit Iam(Simulator& sim) : sim_(sim) {
    operation("CreateRole",
              [this](const json& in, const AwsContext& c) { return create_role(in, c); });
    operation("GetRole", [this](const json& in, const AwsContext&) {
      return json{{"Role", role(required_string(in, "RoleName"))}};
    });
    operation("DeleteRole", [this](const json& in, const AwsContext&) { return delete_role(in); });
    operation("ListRoles", [this](const json& in, const AwsContext&) { return list_roles(in); });
    operation("AttachRolePolicy",
              [this](const json& in, const AwsContext&) { return attach(in, true); });
    operation("DetachRolePolicy",
              [this](const json& in, const AwsContext&) { return attach(in, false); });
    operation("ListAttachedRolePolicies",
              [this](const json& in, const AwsContext&) { return attached(in); });
  }

  std::string signing_name() const override { return "iam"; }
  Protocol protocol() const override { return Protocol::kQuery; }
  std::string xml_namespace() const override { return "https://iam.amazonaws.com/doc/2010-05-08/"; }

 private:
  // IAM answers a role's trust policy URL-encoded, as AWS does.
  static json view(json r) {
    r.erase("sim:policies");
    if (r.contains("AssumeRolePolicyDocument"))
      r["AssumeRolePolicyDocument"] =
          cloud::aws::uri_encode(r["AssumeRolePolicyDocument"].get<std::string>());
    return r;
  }

  json role(const std::string& name) {
    auto r = sim_.state().get("iam", "role", name);
    if (!r) throw no_such_role(name);
    return view(*r);
  }

  json create_role(const json& in, const AwsContext& ctx) {
    std::string name = required_string(in, "RoleName");
    std::string policy = required_string(in, "AssumeRolePolicyDocument");
    if (name.empty() || name.size() > 64 ||
        name.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-") !=
            std::string::npos)
      throw AwsError(400, "ValidationError",
                     "1 validation error detected: Value '" + name +
                         "' at 'roleName' failed to satisfy constraint: Member must satisfy "
                         "regular expression pattern: [\\w+=,.@-]+");
    if (json::parse(policy, nullptr, false).is_discarded())
      throw AwsError(400, "MalformedPolicyDocument", "This policy contains invalid Json");
    std::string path = optional_string(in, "Path", "/");
    if (path.front() != '/' || path.back() != '/')
      throw AwsError(400, "ValidationError",
                     "The specified value for path is invalid. It must begin and end with / and "
                     "contain only alphanumeric characters and/or / characters.");
    json r = {{"Path", path},
              {"RoleName", name},
              {"RoleId", random_id("AROA", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17)},
              {"Arn", "arn:aws:iam::" + ctx.account_id + ":role" + path + name},
              {"CreateDate", iso8601_now()},
              {"AssumeRolePolicyDocument", policy},
              {"MaxSessionDuration", std::stoi(optional_string(in, "MaxSessionDuration", "3600"))},
              {"sim:policies", json::array()}};
    if (in.contains("Description")) r["Description"] = in["Description"];
    if (in.contains("Tags")) r["Tags"] = in["Tags"];
    if (!sim_.state().insert("iam", "role", name, r))
      throw AwsError(409, "EntityAlreadyExists", "Role with name " + name + " already exists.");
    return {{"Role", view(r)}};
  }

  json delete_role(const json& in) {
    std::string name = required_string(in, "RoleName");
    auto r = sim_.state().get("iam", "role", name);
    if (!r) throw no_such_role(name);
    if (!r->value("sim:policies", json::array()).empty())
      throw AwsError(409, "DeleteConflict",
                     "Cannot delete entity, must detach all policies first.");
    sim_.state().erase("iam", "role", name);
    return nullptr;
  }

  json list_roles(const json& in) {
    std::string prefix = optional_string(in, "PathPrefix", "/");
    json all = json::array();
    for (auto& [name, r] : sim_.state().list("iam", "role"))
      if (r.value("Path", "/").rfind(prefix, 0) == 0) all.push_back(view(r));
    auto page = page_of(all.size(), optional_string(in, "Marker"),
                        std::stol(optional_string(in, "MaxItems", "0")), 100, "ValidationError");
    json roles = json::array();
    for (std::size_t i = page.begin; i < page.begin + page.count; ++i)
      roles.push_back(all[i]);
    json out = {{"Roles", roles}, {"IsTruncated", !page.next_token.empty()}};
    if (!page.next_token.empty()) out["Marker"] = page.next_token;
    return out;
  }

  json attach(const json& in, bool on) {
    std::string name = required_string(in, "RoleName");
    std::string policy = required_string(in, "PolicyArn");
    if (policy.rfind("arn:aws:iam::", 0) != 0 || policy.find(":policy/") == std::string::npos)
      throw AwsError(400, "InvalidInput", "ARN " + policy + " is not valid.");
    auto r = sim_.state().get("iam", "role", name);
    if (!r) throw no_such_role(name);
    json list = r->value("sim:policies", json::array());
    auto it = std::find(list.begin(), list.end(), policy);
    if (on && it == list.end()) list.push_back(policy);
    if (!on) {
      if (it == list.end())
        throw AwsError(404, "NoSuchEntity", "Policy " + policy + " was not found.");
      list.erase(it);
    }
    (*r)["sim:policies"] = list;
    sim_.state().put("iam", "role", name, *r);
    return nullptr;
  }

  json attached(const json& in) {
    std::string name = required_string(in, "RoleName");
    auto r = sim_.state().get("iam", "role", name);
    if (!r) throw no_such_role(name);
    json out = json::array();
    for (const auto& p : r->value("sim:policies", json::array())) {
      std::string arn = p.get<std::string>();
      out.push_back({{"PolicyName", arn.substr(arn.rfind('/') + 1)}, {"PolicyArn", arn}});
    }
    return {{"AttachedPolicies", out}, {"IsTruncated", false}};
  }

  Simulator& sim_;
};

}  // namespace

std::shared_ptr<AwsService> make_iam(Simulator& sim) {
  return std::make_shared<Iam>(sim);
}

}  // namespace sockerless::sims::aws
