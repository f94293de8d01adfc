// EC2, as far as the container services need it: the default VPC (the simulator's VPC
// bridge and its range), its subnets (one per availability zone, as a default VPC has) and
// security groups. Tasks' ENIs get their addresses from the VPC bridge.
#include <algorithm>
#include <functional>
#include <optional>
#include <set>

#include "common/ids.h"
#include "network/ipam.h"
#include "sims/aws/services.h"
#include "sims/common/service.h"
#include "sims/common/simulator.h"
#include "sims/common/state.h"
#include "sims/common/workloads.h"

namespace sockerless::sims::aws {
namespace {

using json = nlohmann::json;

std::vector<std::string> values(const json& v) {
  std::vector<std::string> out;
  if (v.is_string()) out.push_back(v.get<std::string>());
  if (v.is_array())
    for (const auto& x : v)
      if (x.is_string()) out.push_back(x.get<std::string>());
  return out;
}

// EC2's filters: [{Name, Value: [..]}]; a resource passes when every filter matches one of
// its values. `fields` gives a resource's value for a filter name (nullopt: unknown filter).
bool passes(
    const json& filters,
    const std::function<std::optional<std::vector<std::string>>(const std::string&)>& fields) {
  for (const auto& f : filters.is_array() ? filters : json::array()) {
    std::string name = f.value("Name", "");
    auto have = fields(name);
    if (!have) throw AwsError(400, "InvalidParameterValue", "The filter '" + name + "' is invalid");
    bool any = false;
    for (const auto& want : values(f.value("Value", json())))
      for (const auto& h : *have)
        if (h == want) any = true;
    if (!any) return false;
  }
  return true;
}

class Ec2 : public AwsService {
 public:
  explicit Ec2(Simulator& sim) : sim_(sim) {
    ensure_defaults();
    operation("DescribeVpcs",
              [this](const json& in, const AwsContext& c) { return describe_vpcs(in, c); });
    operation("DescribeSubnets",
              [this](const json& in, const AwsContext& c) { return describe_subnets(in, c); });
    operation("CreateSubnet",
              [this](const json& in, const AwsContext& c) { return create_subnet(in, c); });
    operation("DeleteSubnet",
              [this](const json& in, const AwsContext& c) { return delete_subnet(in, c); });
    operation("DescribeSecurityGroups",
              [this](const json& in, const AwsContext& c) { return describe_groups(in, c); });
    operation("CreateSecurityGroup",
              [this](const json& in, const AwsContext& c) { return create_group(in, c); });
    operation("DeleteSecurityGroup",
              [this](const json& in, const AwsContext& c) { return delete_group(in, c); });
    operation("AuthorizeSecurityGroupIngress", [this](const json& in, const AwsContext& c) {
      return authorize(in, c, "ipPermissions");
    });
    operation("AuthorizeSecurityGroupEgress", [this](const json& in, const AwsContext& c) {
      return authorize(in, c, "ipPermissionsEgress");
    });
    operation("DescribeAvailabilityZones",
              [this](const json& in, const AwsContext& c) { return describe_zones(in, c); });
  }

  std::string signing_name() const override { return "ec2"; }
  Protocol protocol() const override { return Protocol::kEc2; }
  std::string xml_namespace() const override { return "http://ec2.amazonaws.com/doc/2016-11-15/"; }

 private:
  std::vector<std::string> zones() const {
    const std::string& r = sim_.options().region;
    return {r + "a", r + "b", r + "c"};
  }

  std::string owner() const { return sim_.options().account_id; }

  // The default VPC is the simulator's VPC; its default subnets cut the range into four
  // (three zones' default subnets and room for more), its default security group allows
  // everything from itself.
  void ensure_defaults() {
    auto& st = sim_.state();
    if (!st.list("ec2", "vpc").empty()) return;
    std::string cidr = sim_.workloads().vpc_cidr();
    auto range = network::parse_cidr(cidr);
    std::string vpc = resource_id("vpc");
    st.put("ec2", "vpc", vpc,
           {{"vpcId", vpc},
            {"state", "available"},
            {"cidrBlock", cidr},
            {"cidrBlockAssociationSet",
             json::array({{{"associationId", resource_id("vpc-cidr-assoc")},
                           {"cidrBlock", cidr},
                           {"cidrBlockState", {{"state", "associated"}}}}})},
            {"dhcpOptionsId", resource_id("dopt")},
            {"instanceTenancy", "default"},
            {"isDefault", true},
            {"ownerId", owner()}});
    int prefix = std::min(range.prefix + 2, 28);
    auto z = zones();
    for (std::size_t i = 0; i < z.size(); ++i) {
      network::Cidr sub{range.network() + static_cast<network::Ipv4>(i << (32 - prefix)), prefix};
      add_subnet(vpc, network::format_cidr(sub), z[i], true);
    }
    std::string sg = resource_id("sg");
    json self_rule = {{"ipProtocol", "-1"},
                      {"groups", json::array({{{"groupId", sg}, {"userId", owner()}}})},
                      {"ipRanges", json::array()},
                      {"ipv6Ranges", json::array()},
                      {"prefixListIds", json::array()}};
    st.put("ec2", "sg", sg,
           group_doc(sg, "default", "default VPC security group", vpc, json::array({self_rule})));
  }

  // A security group as EC2 describes it; egress to anywhere, as a new group has.
  json group_doc(const std::string& id, const std::string& name, const std::string& description,
                 const std::string& vpc, json ingress) const {
    json egress = {{"ipProtocol", "-1"},
                   {"groups", json::array()},
                   {"ipRanges", json::array({{{"cidrIp", "0.0.0.0/0"}}})},
                   {"ipv6Ranges", json::array()},
                   {"prefixListIds", json::array()}};
    return {{"ownerId", owner()},
            {"groupId", id},
            {"groupName", name},
            {"groupDescription", description},
            {"vpcId", vpc},
            {"securityGroupArn",
             "arn:aws:ec2:" + sim_.options().region + ":" + owner() + ":security-group/" + id},
            {"tagSet", json::array()},
            {"ipPermissions", std::move(ingress)},
            {"ipPermissionsEgress", json::array({egress})}};
  }

  json add_subnet(const std::string& vpc, const std::string& cidr, const std::string& zone,
                  bool default_for_az) {
    std::string id = resource_id("subnet");
    auto range = network::parse_cidr(cidr);
    json s = {
        {"subnetId", id},
        {"subnetArn", "arn:aws:ec2:" + sim_.options().region + ":" + owner() + ":subnet/" + id},
        {"state", "available"},
        {"vpcId", vpc},
        {"cidrBlock", cidr},
        {"availableIpAddressCount", static_cast<std::int64_t>(range.size()) - 5},
        {"availabilityZone", zone},
        {"availabilityZoneId", "use1-az" + std::to_string(zone.back() - 'a' + 1)},
        {"defaultForAz", default_for_az},
        {"mapPublicIpOnLaunch", default_for_az},
        {"ownerId", owner()},
        {"privateDnsNameOptionsOnLaunch",
         {{"hostnameType", "ip-name"},
          {"enableResourceNameDnsARecord", false},
          {"enableResourceNameDnsAAAARecord", false}}}};
    sim_.state().put("ec2", "subnet", id, s);
    return s;
  }

  json describe_vpcs(const json& in, const AwsContext&) {
    auto ids = values(in.value("VpcId", json()));
    json out = json::array();
    std::set<std::string> seen;
    for (auto& [id, v] : sim_.state().list("ec2", "vpc")) {
      if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) continue;
      seen.insert(id);
      bool ok = passes(
          in.value("Filter", json()),
          [&](const std::string& n) -> std::optional<std::vector<std::string>> {
            if (n == "vpc-id") return std::vector<std::string>{id};
            if (n == "is-default")
              return std::vector<std::string>{v.value("isDefault", false) ? "true" : "false"};
            if (n == "cidr" || n == "cidr-block-association.cidr-block")
              return std::vector<std::string>{v.value("cidrBlock", "")};
            if (n == "state") return std::vector<std::string>{"available"};
            if (n == "owner-id") return std::vector<std::string>{owner()};
            return std::nullopt;
          });
      if (ok) out.push_back(v);
    }
    for (const auto& id : ids)
      if (!seen.count(id))
        throw AwsError(400, "InvalidVpcID.NotFound", "The vpc ID '" + id + "' does not exist");
    return {{"vpcSet", out}};
  }

  json describe_subnets(const json& in, const AwsContext&) {
    auto ids = values(in.value("SubnetId", json()));
    json out = json::array();
    std::set<std::string> seen;
    for (auto& [id, s] : sim_.state().list("ec2", "subnet")) {
      if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) continue;
      seen.insert(id);
      bool ok = passes(
          in.value("Filter", json()),
          [&](const std::string& n) -> std::optional<std::vector<std::string>> {
            if (n == "subnet-id") return std::vector<std::string>{id};
            if (n == "vpc-id") return std::vector<std::string>{s.value("vpcId", "")};
            if (n == "availability-zone")
              return std::vector<std::string>{s.value("availabilityZone", "")};
            if (n == "default-for-az" || n == "defaultForAz")
              return std::vector<std::string>{s.value("defaultForAz", false) ? "true" : "false"};
            if (n == "cidr-block" || n == "cidrBlock" || n == "cidr")
              return std::vector<std::string>{s.value("cidrBlock", "")};
            if (n == "state") return std::vector<std::string>{"available"};
            return std::nullopt;
          });
      if (ok) out.push_back(s);
    }
    for (const auto& id : ids)
      if (!seen.count(id))
        throw AwsError(400, "InvalidSubnetID.NotFound",
                       "The subnet ID '" + id + "' does not exist");
    return {{"subnetSet", out}};
  }

  json create_subnet(const json& in, const AwsContext&) {
    std::string vpc = required_string(in, "VpcId");
    std::string cidr = required_string(in, "CidrBlock");
    auto v = sim_.state().get("ec2", "vpc", vpc);
    if (!v) throw AwsError(400, "InvalidVpcID.NotFound", "The vpc ID '" + vpc + "' does not exist");
    network::Cidr range;
    try {
      range = network::parse_cidr(cidr);
    } catch (const std::exception&) {
      throw AwsError(400, "InvalidParameterValue",
                     "Value (" + cidr +
                         ") for parameter cidrBlock is invalid. This is not a valid CIDR block.");
    }
    if (!network::parse_cidr((*v)["cidrBlock"].get<std::string>()).contains(range) ||
        range.prefix > 28 || range.prefix < 16)
      throw AwsError(400, "InvalidSubnet.Range", "The CIDR '" + cidr + "' is invalid.");
    for (auto& [id, s] : sim_.state().list("ec2", "subnet"))
      if (network::parse_cidr(s.value("cidrBlock", "")).overlaps(range))
        throw AwsError(400, "InvalidSubnet.Conflict",
                       "The CIDR '" + cidr + "' conflicts with another subnet");
    std::string zone = optional_string(in, "AvailabilityZone", zones().front());
    auto z = zones();
    if (std::find(z.begin(), z.end(), zone) == z.end())
      throw AwsError(400, "InvalidParameterValue",
                     "Value (" + zone +
                         ") for parameter availabilityZone is invalid. Subnets can currently only "
                         "be created in the following availability zones: " +
                         z[0] + ", " + z[1] + ", " + z[2] + ".");
    return {{"subnet", add_subnet(vpc, network::format_cidr(range.canonical()), zone, false)}};
  }

  json delete_subnet(const json& in, const AwsContext&) {
    std::string id = required_string(in, "SubnetId");
    if (!sim_.state().erase("ec2", "subnet", id))
      throw AwsError(400, "InvalidSubnetID.NotFound", "The subnet ID '" + id + "' does not exist");
    return {{"return", true}};
  }

  json describe_groups(const json& in, const AwsContext&) {
    auto ids = values(in.value("GroupId", json()));
    auto names = values(in.value("GroupName", json()));
    json out = json::array();
    std::set<std::string> seen;
    for (auto& [id, g] : sim_.state().list("ec2", "sg")) {
      if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) continue;
      if (!names.empty() &&
          std::find(names.begin(), names.end(), g.value("groupName", "")) == names.end())
        continue;
      seen.insert(id);
      seen.insert(g.value("groupName", ""));
      bool ok = passes(in.value("Filter", json()),
                       [&](const std::string& n) -> std::optional<std::vector<std::string>> {
                         if (n == "group-id") return std::vector<std::string>{id};
                         if (n == "group-name")
                           return std::vector<std::string>{g.value("groupName", "")};
                         if (n == "vpc-id") return std::vector<std::string>{g.value("vpcId", "")};
                         if (n == "description")
                           return std::vector<std::string>{g.value("groupDescription", "")};
                         if (n == "owner-id") return std::vector<std::string>{owner()};
                         return std::nullopt;
                       });
      if (ok) out.push_back(g);
    }
    for (const auto& id : ids)
      if (!seen.count(id))
        throw AwsError(400, "InvalidGroup.NotFound",
                       "The security group '" + id + "' does not exist");
    for (const auto& n : names)
      if (!seen.count(n))
        throw AwsError(
            400, "InvalidGroup.NotFound",
            "The security group '" + n + "' does not exist in default VPC '" + default_vpc() + "'");
    return {{"securityGroupInfo", out}};
  }

  std::string default_vpc() {
    for (auto& [id, v] : sim_.state().list("ec2", "vpc"))
      if (v.value("isDefault", false)) return id;
    return "";
  }

  json create_group(const json& in, const AwsContext&) {
    std::string name = required_string(in, "GroupName");
    std::string description = required_string(in, "GroupDescription");
    std::string vpc = optional_string(in, "VpcId", default_vpc());
    if (!sim_.state().get("ec2", "vpc", vpc))
      throw AwsError(400, "InvalidVpcID.NotFound", "The vpc ID '" + vpc + "' does not exist");
    if (name.rfind("sg-", 0) == 0)
      throw AwsError(
          400, "InvalidParameterValue",
          "Value (" + name +
              ") for parameter GroupName is invalid. Group names may not be in the format sg-*.");
    for (auto& [id, g] : sim_.state().list("ec2", "sg"))
      if (g.value("groupName", "") == name && g.value("vpcId", "") == vpc)
        throw AwsError(400, "InvalidGroup.Duplicate",
                       "The security group '" + name + "' already exists for VPC '" + vpc + "'");
    std::string id = resource_id("sg");
    sim_.state().put("ec2", "sg", id, group_doc(id, name, description, vpc, json::array()));
    return {{"return", true}, {"groupId", id}};
  }

  json delete_group(const json& in, const AwsContext&) {
    std::string id = optional_string(in, "GroupId");
    if (id.empty()) {
      std::string name = required_string(in, "GroupName");
      for (auto& [gid, g] : sim_.state().list("ec2", "sg"))
        if (g.value("groupName", "") == name) id = gid;
      if (id.empty())
        throw AwsError(400, "InvalidGroup.NotFound",
                       "The security group '" + name + "' does not exist");
    }
    auto g = sim_.state().get("ec2", "sg", id);
    if (!g)
      throw AwsError(400, "InvalidGroup.NotFound",
                     "The security group '" + id + "' does not exist");
    if (g->value("groupName", "") == "default")
      throw AwsError(
          400, "CannotDelete",
          "the specified group: \"" + id + "\" name: \"default\" cannot be deleted by a user");
    sim_.state().erase("ec2", "sg", id);
    return {{"return", true}, {"groupId", id}};
  }

  // Rules are recorded (and shown); the VPC bridge does not enforce them (see the README).
  json authorize(const json& in, const AwsContext&, const char* field) {
    std::string id = required_string(in, "GroupId");
    auto g = sim_.state().get("ec2", "sg", id);
    if (!g)
      throw AwsError(400, "InvalidGroup.NotFound",
                     "The security group '" + id + "' does not exist");
    json rules = (*g)[field];
    for (const auto& p : in.value("IpPermissions", json::array())) {
      json r = {{"ipProtocol", p.value("IpProtocol", "-1")}};
      if (p.contains("FromPort")) r["fromPort"] = std::stoi(p["FromPort"].get<std::string>());
      if (p.contains("ToPort")) r["toPort"] = std::stoi(p["ToPort"].get<std::string>());
      json ranges = json::array();
      for (const auto& x : p.value("IpRanges", json::array()))
        ranges.push_back({{"cidrIp", x.value("CidrIp", "")}});
      r["ipRanges"] = ranges;
      r["ipv6Ranges"] = json::array();
      r["prefixListIds"] = json::array();
      r["groups"] = json::array();
      rules.push_back(r);
    }
    (*g)[field] = rules;
    sim_.state().put("ec2", "sg", id, *g);
    return {{"return", true}};
  }

  json describe_zones(const json&, const AwsContext& ctx) {
    json out = json::array();
    for (const auto& z : zones())
      out.push_back({{"zoneName", z},
                     {"zoneState", "available"},
                     {"regionName", ctx.region},
                     {"zoneId", "use1-az" + std::to_string(z.back() - 'a' + 1)},
                     {"zoneType", "availability-zone"}});
    return {{"availabilityZoneInfo", out}};
  }

  Simulator& sim_;
};

}  // namespace

std::shared_ptr<AwsService> make_ec2(Simulator& sim) {
  return std::make_shared<Ec2>(sim);
}

}  // namespace sockerless::sims::aws
