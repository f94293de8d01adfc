// Cloud Map (JSON 1.1, "Route53AutoNaming_v20170314"): private DNS namespaces on the
// simulator's VPC, their services and registered instances. Operations that AWS runs
// asynchronously (namespace create and delete, instance register and deregister) finish
// before the answer and leave an Operation that reports SUCCESS. The names are answered by
// the VPC's DNS server (cloudmap_dns.cc) through cloudmap_lookup().
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "common/ids.h"
#include "sims/aws/cloudmap.h"
#include "sims/aws/services.h"
#include "sims/common/service.h"
#include "sims/common/simulator.h"
#include "sims/common/state.h"

namespace sockerless::sims::aws {
namespace {

using json = nlohmann::json;

constexpr const char* kSvc = "servicediscovery";

AwsError invalid(const std::string& message) {
  return AwsError(400, "InvalidInput", message);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Ids as Cloud Map's: a prefix and 16 lower-case letters and digits.
std::string cloudmap_id(const std::string& prefix) {
  return random_id(prefix, "abcdefghijklmnopqrstuvwxyz0123456789", 16);
}

std::string need(const json& in, const char* field) {
  if (!in.contains(field) || !in[field].is_string() || in[field].get<std::string>().empty())
    throw invalid(std::string(field) + " is required");
  return in[field].get<std::string>();
}

// The "Arn"-shaped inputs take an id or an ARN ending in "/<id>".
std::string id_of(const std::string& id_or_arn) {
  if (id_or_arn.rfind("arn:", 0) != 0) return id_or_arn;
  return id_or_arn.substr(id_or_arn.rfind('/') + 1);
}

bool valid_dns_name(const std::string& name) {
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.back() == '.') return false;
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    if (++label > 63) return false;
  }
  return true;
}

// A filter's Values against one value: EQ (the default) and IN match any, BEGINS_WITH a
// prefix.
bool filter_matches(const json& filter, const std::string& value,
                    const std::vector<std::string>& conditions) {
  std::string condition = filter.value("Condition", "EQ");
  if (std::find(conditions.begin(), conditions.end(), condition) == conditions.end())
    throw invalid("Condition " + condition + " is not supported for filter " +
                  filter.value("Name", ""));
  const json& values = filter.value("Values", json::array());
  if (!values.is_array() || values.empty()) throw invalid("Filter Values must not be empty");
  if (condition == "EQ" && values.size() != 1)
    throw invalid("Condition EQ takes exactly one value");
  for (const auto& v : values) {
    std::string want = v.is_string() ? v.get<std::string>() : "";
    if (condition == "BEGINS_WITH" ? value.rfind(want, 0) == 0 : value == want) return true;
  }
  return false;
}

json page(const json& all, const json& in, const char* key) {
  long max = in.value("MaxResults", 0L);
  auto p = page_of(all.size(), optional_string(in, "NextToken"), max, 100, "InvalidInput");
  json out = {{key, json(std::vector<json>(all.begin() + static_cast<long>(p.begin),
                                           all.begin() + static_cast<long>(p.begin + p.count)))}};
  if (!p.next_token.empty()) out["NextToken"] = p.next_token;
  return out;
}

class ServiceDiscovery : public AwsService {
  // Every call holds the service's lock: operations read documents, change them and write
  // them back (a service's InstancesRevision, the duplicate-name checks).
  std::mutex mu_;
  void operation(const std::string& name, Operation fn) {
    AwsService::operation(name, [this, fn = std::move(fn)](const json& in, const AwsContext& ctx) {
      std::lock_guard lock(mu_);
      return fn(in, ctx);
    });
  }

 public:
  explicit ServiceDiscovery(Simulator& sim) : sim_(sim) {
    operation("CreatePrivateDnsNamespace",
              [this](const json& in, const AwsContext& ctx) { return create_namespace(in, ctx); });
    operation("GetNamespace", [this](const json& in, const AwsContext&) {
      return json{{"Namespace", view_namespace(namespace_doc(need(in, "Id")), true)}};
    });
    operation("ListNamespaces",
              [this](const json& in, const AwsContext&) { return list_namespaces(in); });
    operation("DeleteNamespace",
              [this](const json& in, const AwsContext& ctx) { return delete_namespace(in, ctx); });
    operation("CreateService",
              [this](const json& in, const AwsContext& ctx) { return create_service(in, ctx); });
    operation("GetService", [this](const json& in, const AwsContext&) {
      return json{{"Service", view_service(service_doc(need(in, "Id")), true)}};
    });
    operation("ListServices",
              [this](const json& in, const AwsContext&) { return list_services(in); });
    operation("DeleteService",
              [this](const json& in, const AwsContext&) { return delete_service(in); });
    operation("RegisterInstance",
              [this](const json& in, const AwsContext& ctx) { return register_instance(in, ctx); });
    operation("DeregisterInstance", [this](const json& in, const AwsContext& ctx) {
      return deregister_instance(in, ctx);
    });
    operation("GetInstance",
              [this](const json& in, const AwsContext& ctx) { return get_instance(in, ctx); });
    operation("ListInstances",
              [this](const json& in, const AwsContext& ctx) { return list_instances(in, ctx); });
    operation("DiscoverInstances",
              [this](const json& in, const AwsContext&) { return discover_instances(in); });
    operation("GetOperation", [this](const json& in, const AwsContext&) {
      std::string id = need(in, "OperationId");
      auto op = sim_.state().get(kSvc, "operation", id);
      if (!op) throw AwsError(400, "OperationNotFound", "Operation '" + id + "' does not exist.");
      return json{{"Operation", *op}};
    });
    operation("ListOperations",
              [this](const json& in, const AwsContext&) { return list_operations(in); });
  }

  std::string signing_name() const override { return kSvc; }
  Protocol protocol() const override { return Protocol::kJson; }
  std::string target_prefix() const override { return "Route53AutoNaming_v20170314"; }

 private:
  json namespace_doc(const std::string& id_or_arn) {
    std::string id = id_of(id_or_arn);
    auto ns = sim_.state().get(kSvc, "namespace", id);
    if (!ns) throw AwsError(400, "NamespaceNotFound", "Namespace '" + id + "' does not exist.");
    return *ns;
  }

  json service_doc(const std::string& id_or_arn) {
    std::string id = id_of(id_or_arn);
    auto s = sim_.state().get(kSvc, "service", id);
    if (!s) throw AwsError(400, "ServiceNotFound", "Service '" + id + "' does not exist.");
    return *s;
  }

  std::vector<json> services_of(const std::string& namespace_id) {
    std::vector<json> out;
    for (auto& [id, s] : sim_.state().list(kSvc, "service"))
      if (s.value("NamespaceId", "") == namespace_id) out.push_back(s);
    return out;
  }

  std::vector<json> instances_of(const std::string& service_id) {
    std::vector<json> out;
    for (auto& [key, i] : sim_.state().list(kSvc, "instance"))
      if (i.value("_ServiceId", "") == service_id) out.push_back(i);
    return out;
  }

  // The stored document without its internal ("_") fields.
  static json without_internal(json doc) {
    for (auto it = doc.begin(); it != doc.end();)
      it = it.key().front() == '_' ? doc.erase(it) : std::next(it);
    return doc;
  }

  // What Get*/List* show: no internal fields, with the counts.
  json view_namespace(json ns, bool full) {
    ns["ServiceCount"] = services_of(ns["Id"]).size();
    ns = without_internal(ns);
    if (!full) ns.erase("CreatorRequestId");
    return ns;
  }

  json view_service(json s, bool full) {
    s["InstanceCount"] = instances_of(s["Id"]).size();
    s = without_internal(s);
    if (!full) {
      s.erase("CreatorRequestId");
      s.erase("NamespaceId");
    }
    return s;
  }

  std::string record_operation(const std::string& type, const json& targets,
                               const AwsContext& ctx) {
    std::string id = random_hex(16) + "-" + random_hex(4);
    double now = epoch_seconds();
    sim_.state().put(kSvc, "operation", id,
                     {{"Id", id},
                      {"OwnerAccount", ctx.account_id},
                      {"Type", type},
                      {"Status", "SUCCESS"},
                      {"CreateDate", now},
                      {"UpdateDate", now},
                      {"Targets", targets}});
    return id;
  }

  json create_namespace(const json& in, const AwsContext& ctx) {
    std::string name = need(in, "Name");
    std::string vpc = need(in, "Vpc");
    std::string request = optional_string(in, "CreatorRequestId");
    if (!valid_dns_name(name)) throw invalid("Name '" + name + "' is not a valid DNS name");
    if (!sim_.state().get("ec2", "vpc", vpc)) throw invalid("VPC '" + vpc + "' does not exist.");
    for (auto& [id, ns] : sim_.state().list(kSvc, "namespace")) {
      if (!request.empty() && ns.value("CreatorRequestId", "") == request) {
        if (lower(ns.value("Name", "")) == lower(name) && ns.value("_Vpc", "") == vpc)
          return {{"OperationId", ns.value("_Operation", "")}};  // a retried create
        throw AwsError(400, "DuplicateRequest",
                       "CreatorRequestId '" + request + "' was used for another namespace.");
      }
      if (lower(ns.value("Name", "")) == lower(name) && ns.value("_Vpc", "") == vpc)
        throw AwsError(400, "NamespaceAlreadyExists",
                       "Namespace '" + name + "' already exists in " + vpc + " as " + id + ".");
    }
    std::string id = cloudmap_id("ns-");
    std::string zone = "Z" + random_hex(7).substr(0, 13);
    std::transform(zone.begin(), zone.end(), zone.begin(),
                   [](unsigned char c) { return std::toupper(c); });
    json dns = {{"HostedZoneId", zone}};
    json props = in.value("Properties", json::object());
    if (props.contains("DnsProperties") && props["DnsProperties"].contains("SOA"))
      dns["SOA"] = props["DnsProperties"]["SOA"];
    json ns = {{"Id", id},
               {"Arn", "arn:aws:servicediscovery:" + ctx.region + ":" + ctx.account_id +
                           ":namespace/" + id},
               {"ResourceOwner", ctx.account_id},
               {"Name", name},
               {"Type", "DNS_PRIVATE"},
               {"Properties", {{"DnsProperties", dns}, {"HttpProperties", {{"HttpName", name}}}}},
               {"CreateDate", epoch_seconds()},
               {"_Vpc", vpc}};
    if (in.contains("Description")) ns["Description"] = in["Description"];
    if (!request.empty()) ns["CreatorRequestId"] = request;
    std::string op = record_operation("CREATE_NAMESPACE", {{"NAMESPACE", id}}, ctx);
    ns["_Operation"] = op;
    sim_.state().put(kSvc, "namespace", id, ns);
    return {{"OperationId", op}};
  }

  json list_namespaces(const json& in) {
    json filters = in.value("Filters", json::array());
    json all = json::array();
    for (auto& [id, ns] : sim_.state().list(kSvc, "namespace")) {
      bool keep = true;
      for (const auto& f : filters) {
        std::string name = f.value("Name", "");
        if (name == "TYPE")
          keep = keep && filter_matches(f, ns.value("Type", ""), {"EQ", "IN"});
        else if (name == "NAME" || name == "HTTP_NAME")
          keep = keep && filter_matches(f, ns.value("Name", ""), {"EQ", "BEGINS_WITH"});
        else if (name == "RESOURCE_OWNER")
          keep = keep && filter_matches(f, "SELF", {"EQ"});
        else
          throw invalid("Unknown namespace filter " + name);
      }
      if (keep) all.push_back(view_namespace(ns, false));
    }
    return page(all, in, "Namespaces");
  }

  json delete_namespace(const json& in, const AwsContext& ctx) {
    json ns = namespace_doc(need(in, "Id"));
    std::string id = ns["Id"];
    if (!services_of(id).empty())
      throw AwsError(400, "ResourceInUse", "Namespace '" + id + "' has services.");
    sim_.state().erase(kSvc, "namespace", id);
    return {{"OperationId", record_operation("DELETE_NAMESPACE", {{"NAMESPACE", id}}, ctx)}};
  }

  json create_service(const json& in, const AwsContext& ctx) {
    std::string name = need(in, "Name");
    json dns = in.value("DnsConfig", json());
    std::string ns_id = optional_string(in, "NamespaceId");
    if (ns_id.empty() && dns.is_object()) ns_id = optional_string(dns, "NamespaceId");
    if (ns_id.empty()) throw invalid("NamespaceId is required");
    json ns = namespace_doc(ns_id);
    ns_id = ns["Id"];
    if (!valid_dns_name(name) || name.find('.') != std::string::npos)
      throw invalid("Name '" + name + "' is not a valid DNS label");
    std::string type = optional_string(in, "Type");
    if (!type.empty() && type != "HTTP") throw invalid("Type must be HTTP");
    if (in.contains("HealthCheckConfig"))
      throw invalid("HealthCheckConfig is not valid for a private DNS namespace");
    if (type != "HTTP") {
      if (!dns.is_object()) throw invalid("DnsConfig is required in a DNS namespace");
      const json& records = dns.value("DnsRecords", json::array());
      if (!records.is_array() || records.empty()) throw invalid("DnsConfig.DnsRecords is required");
      for (const auto& r : records) {
        std::string t = r.value("Type", "");
        if (t != "A" && t != "AAAA" && t != "SRV" && t != "CNAME")
          throw invalid("DnsRecord Type '" + t + "' is not A, AAAA, SRV or CNAME");
        if (!r.contains("TTL") || !r["TTL"].is_number_integer() || r["TTL"].get<long>() < 0 ||
            r["TTL"].get<long>() > 2147483647)
          throw invalid("DnsRecord TTL must be from 0 to 2147483647");
      }
      std::string policy = dns.value("RoutingPolicy", "MULTIVALUE");
      if (policy != "MULTIVALUE" && policy != "WEIGHTED")
        throw invalid("RoutingPolicy must be MULTIVALUE or WEIGHTED");
      dns["RoutingPolicy"] = policy;
      dns["NamespaceId"] = ns_id;
    } else {
      dns = json();
    }
    std::string request = optional_string(in, "CreatorRequestId");
    for (const auto& s : services_of(ns_id))
      if (lower(s.value("Name", "")) == lower(name))
        throw AwsError(400, "ServiceAlreadyExists",
                       "Service '" + name + "' already exists as " + s.value("Id", "") + ".");
    std::string id = cloudmap_id("srv-");
    json s = {
        {"Id", id},
        {"Arn", "arn:aws:servicediscovery:" + ctx.region + ":" + ctx.account_id + ":service/" + id},
        {"ResourceOwner", ctx.account_id},
        {"Name", name},
        {"NamespaceId", ns_id},
        {"Type", dns.is_null() ? "HTTP" : "DNS_HTTP"},
        {"CreateDate", epoch_seconds()},
        {"CreatedByAccount", ctx.account_id},
        {"_Revision", 1}};
    if (!dns.is_null()) s["DnsConfig"] = dns;
    if (in.contains("Description")) s["Description"] = in["Description"];
    if (in.contains("HealthCheckCustomConfig"))
      s["HealthCheckCustomConfig"] = in["HealthCheckCustomConfig"];
    if (!request.empty()) s["CreatorRequestId"] = request;
    sim_.state().put(kSvc, "service", id, s);
    return {{"Service", view_service(s, true)}};
  }

  json list_services(const json& in) {
    json filters = in.value("Filters", json::array());
    json all = json::array();
    for (auto& [id, s] : sim_.state().list(kSvc, "service")) {
      bool keep = true;
      for (const auto& f : filters) {
        std::string name = f.value("Name", "");
        if (name == "NAMESPACE_ID")
          keep = keep && filter_matches(f, s.value("NamespaceId", ""), {"EQ", "IN"});
        else if (name == "RESOURCE_OWNER")
          keep = keep && filter_matches(f, "SELF", {"EQ"});
        else
          throw invalid("Unknown service filter " + name);
      }
      if (keep) all.push_back(view_service(s, false));
    }
    return page(all, in, "Services");
  }

  json delete_service(const json& in) {
    json s = service_doc(need(in, "Id"));
    std::string id = s["Id"];
    if (!instances_of(id).empty())
      throw AwsError(400, "ResourceInUse", "Service '" + id + "' has registered instances.");
    sim_.state().erase(kSvc, "service", id);
    return json::object();
  }

  void bump_revision(json s) {
    s["_Revision"] = s.value("_Revision", 1) + 1;
    sim_.state().put(kSvc, "service", s["Id"], s);
  }

  json register_instance(const json& in, const AwsContext& ctx) {
    json s = service_doc(need(in, "ServiceId"));
    std::string sid = s["Id"];
    std::string iid = need(in, "InstanceId");
    if (!in.contains("Attributes") || !in["Attributes"].is_object())
      throw invalid("Attributes is required");
    json attrs = in["Attributes"];
    for (const auto& [k, v] : attrs.items())
      if (!v.is_string()) throw invalid("Attribute " + k + " must be a string");
    bool wants_a = false;
    if (s.contains("DnsConfig"))
      for (const auto& r : s["DnsConfig"]["DnsRecords"])
        if (r.value("Type", "") == "A") wants_a = true;
    std::string ipv4 = attrs.value("AWS_INSTANCE_IPV4", "");
    in_addr parsed{};
    if (!ipv4.empty() && ::inet_pton(AF_INET, ipv4.c_str(), &parsed) != 1)
      throw invalid("AWS_INSTANCE_IPV4 '" + ipv4 + "' is not an IPv4 address");
    if (wants_a && ipv4.empty())
      throw invalid("AWS_INSTANCE_IPV4 is required: service " + sid + " has an A record");
    json inst = {{"Id", iid},
                 {"Attributes", attrs},
                 {"CreatedByAccount", ctx.account_id},
                 {"_ServiceId", sid}};
    if (in.contains("CreatorRequestId")) inst["CreatorRequestId"] = in["CreatorRequestId"];
    sim_.state().put(kSvc, "instance", sid + "/" + iid, inst);
    bump_revision(s);
    return {{"OperationId",
             record_operation("REGISTER_INSTANCE", {{"SERVICE", sid}, {"INSTANCE", iid}}, ctx)}};
  }

  json deregister_instance(const json& in, const AwsContext& ctx) {
    json s = service_doc(need(in, "ServiceId"));
    std::string sid = s["Id"];
    std::string iid = need(in, "InstanceId");
    if (!sim_.state().erase(kSvc, "instance", sid + "/" + iid))
      throw AwsError(400, "InstanceNotFound", "Instance '" + iid + "' is not registered.");
    bump_revision(s);
    return {{"OperationId",
             record_operation("DEREGISTER_INSTANCE", {{"SERVICE", sid}, {"INSTANCE", iid}}, ctx)}};
  }

  json get_instance(const json& in, const AwsContext& ctx) {
    json s = service_doc(need(in, "ServiceId"));
    std::string iid = need(in, "InstanceId");
    auto i = sim_.state().get(kSvc, "instance", s["Id"].get<std::string>() + "/" + iid);
    if (!i) throw AwsError(400, "InstanceNotFound", "Instance '" + iid + "' is not registered.");
    return {{"ResourceOwner", ctx.account_id}, {"Instance", without_internal(*i)}};
  }

  json list_instances(const json& in, const AwsContext& ctx) {
    json s = service_doc(need(in, "ServiceId"));
    json all = json::array();
    for (auto& i : instances_of(s["Id"])) {
      json v = without_internal(i);
      v.erase("CreatorRequestId");
      all.push_back(v);
    }
    json out = page(all, in, "Instances");
    out["ResourceOwner"] = ctx.account_id;
    return out;
  }

  json discover_instances(const json& in) {
    std::string ns_name = need(in, "NamespaceName");
    std::string svc_name = need(in, "ServiceName");
    std::string health = optional_string(in, "HealthStatus", "ALL");
    if (health != "ALL" && health != "HEALTHY" && health != "UNHEALTHY" &&
        health != "HEALTHY_OR_ELSE_ALL")
      throw invalid("HealthStatus must be HEALTHY, UNHEALTHY, ALL or HEALTHY_OR_ELSE_ALL");
    std::optional<json> ns;
    for (auto& [id, n] : sim_.state().list(kSvc, "namespace"))
      if (lower(n.value("Name", "")) == lower(ns_name)) ns = n;
    if (!ns)
      throw AwsError(400, "NamespaceNotFound", "Namespace '" + ns_name + "' does not exist.");
    std::optional<json> svc;
    for (const auto& s : services_of((*ns)["Id"]))
      if (lower(s.value("Name", "")) == lower(svc_name)) svc = s;
    if (!svc) throw AwsError(400, "ServiceNotFound", "Service '" + svc_name + "' does not exist.");
    auto matches = [](const json& attrs, const json& want) {
      if (!want.is_object()) return true;
      for (const auto& [k, v] : want.items())
        if (!attrs.contains(k) || attrs[k] != v) return false;
      return true;
    };
    json query = in.value("QueryParameters", json::object());
    json optional = in.value("OptionalParameters", json::object());
    std::vector<json> found, preferred;
    for (const auto& i : instances_of((*svc)["Id"])) {
      if (!matches(i["Attributes"], query)) continue;
      found.push_back(i);
      if (matches(i["Attributes"], optional)) preferred.push_back(i);
    }
    if (!preferred.empty()) found = preferred;  // optional parameters narrow only when they can
    // Every instance is healthy: the simulator runs no health checks.
    if (health == "UNHEALTHY") found.clear();
    long max = in.value("MaxResults", 100L);
    if (max < 1 || max > 1000) throw invalid("MaxResults must be from 1 to 1000");
    json out = json::array();
    for (const auto& i : found) {
      if (static_cast<long>(out.size()) >= max) break;
      out.push_back({{"InstanceId", i["Id"]},
                     {"NamespaceName", (*ns)["Name"]},
                     {"ServiceName", (*svc)["Name"]},
                     {"HealthStatus", "HEALTHY"},
                     {"Attributes", i["Attributes"]}});
    }
    return {{"Instances", out}, {"InstancesRevision", svc->value("_Revision", 1)}};
  }

  json list_operations(const json& in) {
    json filters = in.value("Filters", json::array());
    json all = json::array();
    for (auto& [id, op] : sim_.state().list(kSvc, "operation")) {
      bool keep = true;
      for (const auto& f : filters) {
        std::string name = f.value("Name", "");
        const json& targets = op["Targets"];
        if (name == "NAMESPACE_ID")
          keep = keep && filter_matches(f, targets.value("NAMESPACE", ""), {"EQ"});
        else if (name == "SERVICE_ID")
          keep = keep && filter_matches(f, targets.value("SERVICE", ""), {"EQ"});
        else if (name == "STATUS")
          keep = keep && filter_matches(f, op.value("Status", ""), {"EQ", "IN"});
        else if (name == "TYPE")
          keep = keep && filter_matches(f, op.value("Type", ""), {"EQ", "IN"});
        else
          throw invalid("Unsupported operation filter " + name);
      }
      if (keep) all.push_back({{"Id", id}, {"Status", op.value("Status", "")}});
    }
    return page(all, in, "Operations");
  }

  Simulator& sim_;
};

}  // namespace

std::optional<CloudMapAnswer> cloudmap_lookup(Simulator& sim, const std::string& name) {
  std::string want = lower(name);
  std::optional<json> ns;
  for (auto& [id, n] : sim.state().list(kSvc, "namespace")) {
    std::string zone = lower(n.value("Name", ""));
    if (want == zone || (want.size() > zone.size() && want.ends_with("." + zone)))
      if (!ns || zone.size() > lower((*ns)["Name"]).size()) ns = n;
  }
  if (!ns) return std::nullopt;
  CloudMapAnswer answer;
  std::string zone = lower((*ns)["Name"]);
  if (want == zone) {
    answer.exists = true;  // the zone's apex: no A records of its own
    return answer;
  }
  std::string label = want.substr(0, want.size() - zone.size() - 1);
  for (auto& [id, s] : sim.state().list(kSvc, "service")) {
    if (s.value("NamespaceId", "") != (*ns)["Id"] || lower(s.value("Name", "")) != label ||
        !s.contains("DnsConfig"))
      continue;
    answer.exists = true;
    for (const auto& r : s["DnsConfig"]["DnsRecords"])
      if (r.value("Type", "") == "A") answer.ttl = r.value("TTL", 60u);
    for (auto& [key, i] : sim.state().list(kSvc, "instance")) {
      if (i.value("_ServiceId", "") != id) continue;
      in_addr a{};
      if (::inet_pton(AF_INET, i["Attributes"].value("AWS_INSTANCE_IPV4", "").c_str(), &a) == 1)
        answer.ipv4.push_back(a);
    }
  }
  return answer;
}

std::shared_ptr<AwsService> make_servicediscovery(Simulator& sim) {
  start_cloudmap_dns(sim);
  return std::make_shared<ServiceDiscovery>(sim);
}

}  // namespace sockerless::sims::aws
