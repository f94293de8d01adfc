// ECS (Fargate, awsvpc): clusters, task definitions, tasks that really run, tags.
//
// A task is one workload per container definition: the first gets the task's own network
// namespace on the VPC (its address is the ENI's), the others join it, so the task's
// containers share localhost as on Fargate. The task moves PROVISIONING → PENDING →
// RUNNING → DEPROVISIONING → STOPPED on a thread of its own; an essential container's exit
// stops the rest (SIGTERM, then SIGKILL after the container's stopTimeout). `awslogs`
// configurations ship each line of the container's output to CloudWatch Logs.
#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "api/log_line.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/time.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "engine/health.h"
#include "sims/aws/logs_store.h"
#include "sims/aws/services.h"
#include "sims/common/service.h"
#include "sims/common/simulator.h"
#include "sims/common/state.h"
#include "sims/common/workloads.h"

namespace sockerless::sims::aws {
namespace {

using json = nlohmann::json;

AwsError client_error(const std::string& message) {
  return AwsError(400, "ClientException", message);
}
AwsError invalid_parameter(const std::string& message) {
  return AwsError(400, "InvalidParameterException", message);
}

std::string last_segment(const std::string& arn_or_name) {
  auto slash = arn_or_name.rfind('/');
  return slash == std::string::npos ? arn_or_name : arn_or_name.substr(slash + 1);
}

std::vector<std::string> strings(const json& v, const char* what) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (!v.is_array())
    throw AwsError(400, "SerializationException", std::string(what) + " must be a list");
  for (const auto& x : v) {
    if (!x.is_string())
      throw AwsError(400, "SerializationException",
                     std::string(what) + " must be a list of strings");
    out.push_back(x.get<std::string>());
  }
  return out;
}

// The tag list ([{key, value}]) after adding/replacing `add` and dropping `remove`.
json merge_tags(json tags, const json& add, const std::vector<std::string>& remove) {
  if (!tags.is_array()) tags = json::array();
  for (const auto& t : add) {
    if (!t.is_object() || !t.contains("key") || !t["key"].is_string())
      throw invalid_parameter("Tag keys must be strings");
    std::string k = t["key"];
    if (k.empty() || k.size() > 128)
      throw invalid_parameter("Tag key length must be between 1 and 128");
    json next = json::array();
    for (const auto& old : tags)
      if (old.value("key", "") != k) next.push_back(old);
    next.push_back({{"key", k}, {"value", t.value("value", "")}});
    tags = next;
  }
  json next = json::array();
  for (const auto& old : tags)
    if (std::find(remove.begin(), remove.end(), old.value("key", "")) == remove.end())
      next.push_back(old);
  if (next.size() > 50) throw invalid_parameter("Tags cannot exceed 50 per resource");
  return next;
}

// Fargate's valid task sizes: cpu units → the memory (MiB) allowed with them.
bool fargate_size_ok(int cpu, int memory) {
  auto between = [&](int lo, int hi, int step) {
    return memory >= lo && memory <= hi && (memory - lo) % step == 0;
  };
  switch (cpu) {
    case 256:
      return memory == 512 || memory == 1024 || memory == 2048;
    case 512:
      return between(1024, 4096, 1024);
    case 1024:
      return between(2048, 8192, 1024);
    case 2048:
      return between(4096, 16384, 1024);
    case 4096:
      return between(8192, 30720, 1024);
    case 8192:
      return between(16384, 61440, 4096);
    case 16384:
      return between(32768, 122880, 8192);
    default:
      return false;
  }
}

int size_field(const json& v, const char* what) {
  if (v.is_number_integer()) return v.get<int>();
  if (v.is_string()) {
    std::string s = v;
    // "1 vCPU", "0.25 vcpu", "2 GB" are accepted by ECS as well as plain numbers.
    try {
      std::size_t used = 0;
      double n = std::stod(s, &used);
      std::string unit = s.substr(used);
      unit.erase(0, unit.find_first_not_of(' '));
      for (auto& c : unit)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (unit.empty()) return static_cast<int>(n);
      if (unit == "vcpu") return static_cast<int>(n * 1024);
      if (unit == "gb") return static_cast<int>(n * 1024);
    } catch (const std::exception&) {
    }
  }
  throw client_error(std::string("Invalid setting for ") + what + ": " + v.dump());
}

class Ecs;

// One running task: its thread, and what StopTask needs to reach it.
struct TaskRun {
  std::mutex mu;
  std::condition_variable cv;
  bool stop_requested = false;
  std::string stop_code, stop_reason;
  std::vector<std::string> workloads;  // workload ids, by container index ("" until made)
};

class Ecs : public AwsService {
 public:
  Ecs(Simulator& sim, std::shared_ptr<LogsStore> logs) : sim_(sim), logs_(std::move(logs)) {
    operation("CreateCluster",
              [this](const json& in, const AwsContext& c) { return create_cluster(in, c); });
    operation("DescribeClusters",
              [this](const json& in, const AwsContext& c) { return describe_clusters(in, c); });
    operation("ListClusters",
              [this](const json& in, const AwsContext& c) { return list_clusters(in, c); });
    operation("DeleteCluster",
              [this](const json& in, const AwsContext& c) { return delete_cluster(in, c); });
    operation("RegisterTaskDefinition", [this](const json& in, const AwsContext& c) {
      return register_task_definition(in, c);
    });
    operation("DescribeTaskDefinition", [this](const json& in, const AwsContext& c) {
      return describe_task_definition(in, c);
    });
    operation("ListTaskDefinitions",
              [this](const json& in, const AwsContext& c) { return list_task_definitions(in, c); });
    operation("ListTaskDefinitionFamilies",
              [this](const json& in, const AwsContext& c) { return list_families(in, c); });
    operation("DeregisterTaskDefinition", [this](const json& in, const AwsContext& c) {
      return deregister_task_definition(in, c);
    });
    operation("RunTask", [this](const json& in, const AwsContext& c) { return run_task(in, c); });
    operation("DescribeTasks",
              [this](const json& in, const AwsContext& c) { return describe_tasks(in, c); });
    operation("ListTasks",
              [this](const json& in, const AwsContext& c) { return list_tasks(in, c); });
    operation("StopTask", [this](const json& in, const AwsContext& c) { return stop_task(in, c); });
    operation("TagResource",
              [this](const json& in, const AwsContext& c) { return tag_resource(in, c); });
    operation("UntagResource",
              [this](const json& in, const AwsContext& c) { return untag_resource(in, c); });
    operation("ListTagsForResource",
              [this](const json& in, const AwsContext& c) { return list_tags(in, c); });
    sim_.on_shutdown([this] { shutdown(); });
  }

  ~Ecs() override { shutdown(); }

  std::string signing_name() const override { return "ecs"; }
  Protocol protocol() const override { return Protocol::kJson; }
  std::string target_prefix() const override { return "AmazonEC2ContainerServiceV20141113"; }

  // Tasks the state holds as not yet STOPPED: re-adopted when their workloads still run,
  // otherwise stopped with the reason.
  void recover() {
    for (auto& [arn, task] : sim_.state().list("ecs", "task")) {
      if (task.value("lastStatus", "") == "STOPPED") continue;
      auto ids = task.value("sim:workloads", json::array());
      bool alive = !ids.empty();
      for (std::size_t i = 0; i < ids.size(); ++i) {
        bool essential = task["containers"][i].value("sim:essential", true);
        if (essential && !sim_.workloads().running(ids[i].get<std::string>())) alive = false;
      }
      if (alive && task.value("lastStatus", "") == "RUNNING") {
        spdlog::info("ecs: re-adopting task {}", arn);
        auto run = std::make_shared<TaskRun>();
        for (const auto& id : ids)
          run->workloads.push_back(id.get<std::string>());
        std::lock_guard lock(mu_);
        runs_[arn] = run;
        threads_.emplace_back([self = this, arn = arn, run] { self->watch(arn, run, true); });
        continue;
      }
      for (const auto& id : ids)
        sim_.workloads().remove(id.get<std::string>());
      auto now = epoch_seconds();
      task["lastStatus"] = "STOPPED";
      task["desiredStatus"] = "STOPPED";
      task["stopCode"] = "TaskFailedToStart";
      task["stoppedReason"] = "The simulator restarted and the task's processes were gone";
      task["stoppingAt"] = now;
      task["stoppedAt"] = now;
      task["executionStoppedAt"] = now;
      for (auto& c : task["containers"])
        if (c.value("lastStatus", "") != "STOPPED") c["lastStatus"] = "STOPPED";
      save_task(task);
    }
  }

 private:
  // ------------------------------------------------------------------ names and ARNs
  std::string arn(const AwsContext& ctx, const std::string& rest) const {
    return "arn:aws:ecs:" + ctx.region + ":" + ctx.account_id + ":" + rest;
  }
  // A task by ARN, or by its id within the cluster.
  std::string task_arn_of(const std::string& ref, const json& cluster) const {
    if (ref.rfind("arn:", 0) == 0) return ref;
    return "arn:aws:ecs:" + sim_.options().region + ":" + sim_.options().account_id + ":task/" +
           cluster["clusterName"].get<std::string>() + "/" + ref;
  }
  std::string cluster_arn(const std::string& name) const {
    return "arn:aws:ecs:" + sim_.options().region + ":" + sim_.options().account_id + ":cluster/" +
           name;
  }

  // A cluster by name or ARN; ClusterNotFoundException unless ACTIVE.
  json active_cluster(const std::string& ref) {
    std::string name = ref.empty() ? "default" : last_segment(ref);
    auto c = sim_.state().get("ecs", "cluster", name);
    if (!c || c->value("status", "") != "ACTIVE")
      throw AwsError(400, "ClusterNotFoundException", "Cluster not found.");
    return *c;
  }

  // A task definition by "family", "family:revision" or ARN (the latest ACTIVE revision
  // for a bare family).
  json task_definition(const std::string& ref) {
    std::string key = last_segment(ref);
    if (key.find(':') == std::string::npos) {
      auto fam = sim_.state().get("ecs", "family", key);
      if (fam)
        for (int rev = fam->value("latest", 0); rev > 0; --rev) {
          auto td = sim_.state().get("ecs", "taskdef", key + ":" + std::to_string(rev));
          if (td && td->value("status", "") == "ACTIVE") return *td;
        }
      throw client_error("Unable to describe task definition.");
    }
    auto td = sim_.state().get("ecs", "taskdef", key);
    if (!td) throw client_error("Unable to describe task definition.");
    return *td;
  }

  // ------------------------------------------------------------------ clusters
  json cluster_view(json c, bool with_tags) {
    int running = 0, pending = 0;
    for (auto& [arn, t] : sim_.state().list("ecs", "task")) {
      if (t.value("clusterArn", "") != c.value("clusterArn", "")) continue;
      std::string s = t.value("lastStatus", "");
      if (s == "RUNNING")
        ++running;
      else if (s == "PROVISIONING" || s == "PENDING" || s == "ACTIVATING")
        ++pending;
    }
    c["runningTasksCount"] = running;
    c["pendingTasksCount"] = pending;
    if (!with_tags) c.erase("tags");
    return c;
  }

  json create_cluster(const json& in, const AwsContext&) {
    std::string name = optional_string(in, "clusterName", "default");
    if (name.empty() || name.size() > 255 ||
        name.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
            std::string::npos)
      throw invalid_parameter(
          "Cluster name must be up to 255 letters (uppercase and lowercase), numbers, hyphens, and "
          "underscores.");
    json tags = merge_tags(json::array(), in.value("tags", json::array()), {});
    std::lock_guard lock(mu_);
    auto existing = sim_.state().get("ecs", "cluster", name);
    if (existing && existing->value("status", "") == "ACTIVE")
      return {{"cluster", cluster_view(*existing, true)}};  // CreateCluster is idempotent
    json settings = in.value("settings", json::array());
    if (settings.empty())
      settings = json::array({{{"name", "containerInsights"}, {"value", "disabled"}}});
    json c = {{"clusterArn", cluster_arn(name)},
              {"clusterName", name},
              {"status", "ACTIVE"},
              {"registeredContainerInstancesCount", 0},
              {"runningTasksCount", 0},
              {"pendingTasksCount", 0},
              {"activeServicesCount", 0},
              {"statistics", json::array()},
              {"tags", tags},
              {"settings", settings},
              {"capacityProviders", in.value("capacityProviders", json::array())},
              {"defaultCapacityProviderStrategy",
               in.value("defaultCapacityProviderStrategy", json::array())}};
    sim_.state().put("ecs", "cluster", name, c);
    return {{"cluster", c}};
  }

  json describe_clusters(const json& in, const AwsContext&) {
    auto refs = strings(in.value("clusters", json()), "clusters");
    if (refs.empty()) refs.push_back("default");
    auto include = strings(in.value("include", json()), "include");
    bool tags = std::find(include.begin(), include.end(), "TAGS") != include.end();
    json out = {{"clusters", json::array()}, {"failures", json::array()}};
    for (const auto& ref : refs) {
      auto c = sim_.state().get("ecs", "cluster", last_segment(ref));
      if (c)
        out["clusters"].push_back(cluster_view(*c, tags));
      else
        out["failures"].push_back(
            {{"arn", ref.rfind("arn:", 0) == 0 ? ref : cluster_arn(ref)}, {"reason", "MISSING"}});
    }
    return out;
  }

  json list_clusters(const json& in, const AwsContext&) {
    std::vector<std::string> arns;
    for (auto& [name, c] : sim_.state().list("ecs", "cluster"))
      if (c.value("status", "") == "ACTIVE") arns.push_back(c["clusterArn"]);
    auto page =
        page_of(arns.size(), optional_string(in, "nextToken"), in.value("maxResults", 0L), 100);
    json out = {
        {"clusterArns", json(std::vector<std::string>(arns.begin() + page.begin,
                                                      arns.begin() + page.begin + page.count))}};
    if (!page.next_token.empty()) out["nextToken"] = page.next_token;
    return out;
  }

  json delete_cluster(const json& in, const AwsContext&) {
    std::lock_guard lock(mu_);
    auto c = active_cluster(required_string(in, "cluster"));
    for (auto& [arn, t] : sim_.state().list("ecs", "task"))
      if (t.value("clusterArn", "") == c["clusterArn"] && t.value("lastStatus", "") != "STOPPED")
        throw AwsError(400, "ClusterContainsTasksException",
                       "The Cluster cannot be deleted while Tasks are active.");
    c["status"] = "INACTIVE";
    sim_.state().put("ecs", "cluster", c["clusterName"], c);
    return {{"cluster", cluster_view(c, false)}};
  }

  // ------------------------------------------------------------------ task definitions
  json register_task_definition(const json& in, const AwsContext& ctx) {
    std::string family = required_string(in, "family");
    if (family.empty() || family.size() > 255 ||
        family.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
            std::string::npos)
      throw client_error("Family contains invalid characters.");
    const json& defs = required(in, "containerDefinitions");
    if (!defs.is_array() || defs.empty())
      throw client_error("TaskDefinition must contain at least one container definition.");
    std::set<std::string> names;
    bool awslogs = false;
    for (const auto& d : defs) {
      if (!d.is_object()) throw client_error("Container definitions must be objects.");
      std::string name = d.value("name", "");
      if (name.empty()) throw client_error("Container.name should not be null or empty.");
      if (!names.insert(name).second)
        throw client_error("Duplicate container names are not allowed.");
      if (d.value("image", "").empty())
        throw client_error("Container.image should not be null or empty.");
      if (d.contains("logConfiguration") &&
          d["logConfiguration"].value("logDriver", "") == "awslogs")
        awslogs = true;
    }
    for (const auto& d : defs)
      for (const auto& dep : d.value("dependsOn", json::array()))
        if (!names.count(dep.value("containerName", "")))
          throw client_error("Container " + d.value("name", "") + " depends on container " +
                             dep.value("containerName", "") +
                             " which is not in the task definition.");
    std::string network_mode = optional_string(in, "networkMode", "bridge");
    auto compat = strings(in.value("requiresCompatibilities", json()), "requiresCompatibilities");
    bool fargate = std::find(compat.begin(), compat.end(), "FARGATE") != compat.end();
    if (fargate) {
      if (network_mode != "awsvpc")
        throw client_error("Fargate only supports network mode 'awsvpc'.");
      if (!in.contains("cpu") || !in.contains("memory"))
        throw client_error("Fargate requires that 'cpu' be defined at the task level.");
      int cpu = size_field(in["cpu"], "cpu"), memory = size_field(in["memory"], "memory");
      if (!fargate_size_ok(cpu, memory))
        throw client_error("No Fargate configuration exists for given values: " +
                           std::to_string(cpu) + " CPU, " + std::to_string(memory) +
                           " memory. See the Amazon ECS documentation for the valid values.");
      if (awslogs && optional_string(in, "executionRoleArn").empty())
        throw client_error(
            "Fargate requires task definition to have execution role ARN to support log driver "
            "awslogs.");
    }
    json tags = merge_tags(json::array(), in.value("tags", json::array()), {});

    std::lock_guard lock(mu_);
    auto fam = sim_.state().get("ecs", "family", family).value_or(json{{"latest", 0}});
    int revision = fam.value("latest", 0) + 1;
    fam["latest"] = revision;
    json td = in;
    td.erase("tags");
    td["family"] = family;
    td["revision"] = revision;
    td["taskDefinitionArn"] =
        arn(ctx, "task-definition/" + family + ":" + std::to_string(revision));
    td["networkMode"] = network_mode;
    td["status"] = "ACTIVE";
    td["compatibilities"] = fargate ? json::array({"EC2", "FARGATE"}) : json::array({"EC2"});
    td["requiresAttributes"] = json::array();
    td["placementConstraints"] = in.value("placementConstraints", json::array());
    td["volumes"] = in.value("volumes", json::array());
    td["registeredAt"] = epoch_seconds();
    td["registeredBy"] = "arn:aws:iam::" + ctx.account_id + ":root";
    if (in.contains("cpu")) td["cpu"] = std::to_string(size_field(in["cpu"], "cpu"));
    if (in.contains("memory")) td["memory"] = std::to_string(size_field(in["memory"], "memory"));
    for (auto& d : td["containerDefinitions"]) {
      for (const char* k :
           {"portMappings", "essential", "environment", "mountPoints", "volumesFrom"})
        if (!d.contains(k)) {
          if (std::string(k) == "essential")
            d[k] = true;
          else
            d[k] = json::array();
        }
      if (!d.contains("cpu")) d["cpu"] = 0;
      for (auto& p : d["portMappings"]) {
        if (!p.contains("protocol")) p["protocol"] = "tcp";
        if (network_mode == "awsvpc" && p.contains("containerPort") && !p.contains("hostPort"))
          p["hostPort"] = p["containerPort"];
      }
    }
    json stored = td;
    stored["sim:tags"] = tags;
    sim_.state().put("ecs", "family", family, fam);
    sim_.state().put("ecs", "taskdef", family + ":" + std::to_string(revision), stored);
    json out = {{"taskDefinition", td}};
    if (!tags.empty()) out["tags"] = tags;
    return out;
  }

  static json public_td(json td) {
    td.erase("sim:tags");
    return td;
  }

  json describe_task_definition(const json& in, const AwsContext&) {
    auto td = task_definition(required_string(in, "taskDefinition"));
    json out = {{"taskDefinition", public_td(td)}};
    auto include = strings(in.value("include", json()), "include");
    if (std::find(include.begin(), include.end(), "TAGS") != include.end())
      out["tags"] = td.value("sim:tags", json::array());
    return out;
  }

  json list_task_definitions(const json& in, const AwsContext&) {
    std::string prefix = optional_string(in, "familyPrefix");
    std::string status = optional_string(in, "status", "ACTIVE");
    std::string sort = optional_string(in, "sort", "ASC");
    if (status != "ACTIVE" && status != "INACTIVE" && status != "DELETE_IN_PROGRESS")
      throw invalid_parameter("status must be ACTIVE, INACTIVE or DELETE_IN_PROGRESS");
    std::vector<std::pair<std::pair<std::string, int>, std::string>> found;
    for (auto& [key, td] : sim_.state().list("ecs", "taskdef")) {
      std::string fam = td.value("family", "");
      if (!prefix.empty() && fam != prefix) continue;  // familyPrefix matches the whole family
      if (td.value("status", "") != status) continue;
      found.push_back({{fam, td.value("revision", 0)}, td["taskDefinitionArn"]});
    }
    std::sort(found.begin(), found.end());
    if (sort == "DESC") std::reverse(found.begin(), found.end());
    auto page =
        page_of(found.size(), optional_string(in, "nextToken"), in.value("maxResults", 0L), 100);
    json arns = json::array();
    for (std::size_t i = page.begin; i < page.begin + page.count; ++i)
      arns.push_back(found[i].second);
    json out = {{"taskDefinitionArns", arns}};
    if (!page.next_token.empty()) out["nextToken"] = page.next_token;
    return out;
  }

  json list_families(const json& in, const AwsContext&) {
    std::string prefix = optional_string(in, "familyPrefix");
    std::string status = optional_string(in, "status", "ACTIVE");
    std::vector<std::string> fams;
    for (auto& [family, f] : sim_.state().list("ecs", "family")) {
      if (family.rfind(prefix, 0) != 0) continue;
      bool active = false;
      for (int rev = 1; rev <= f.value("latest", 0); ++rev) {
        auto td = sim_.state().get("ecs", "taskdef", family + ":" + std::to_string(rev));
        if (td && td->value("status", "") == "ACTIVE") active = true;
      }
      if (status == "ALL" || (status == "ACTIVE") == active) fams.push_back(family);
    }
    std::sort(fams.begin(), fams.end());
    auto page =
        page_of(fams.size(), optional_string(in, "nextToken"), in.value("maxResults", 0L), 100);
    json out = {
        {"families", json(std::vector<std::string>(fams.begin() + page.begin,
                                                   fams.begin() + page.begin + page.count))}};
    if (!page.next_token.empty()) out["nextToken"] = page.next_token;
    return out;
  }

  json deregister_task_definition(const json& in, const AwsContext&) {
    std::string ref = required_string(in, "taskDefinition");
    if (last_segment(ref).find(':') == std::string::npos)
      throw client_error("Invalid revision number. Number: " + last_segment(ref));
    std::lock_guard lock(mu_);
    auto td = task_definition(ref);
    td["status"] = "INACTIVE";
    td["deregisteredAt"] = epoch_seconds();
    sim_.state().put("ecs", "taskdef",
                     td.value("family", "") + ":" + std::to_string(td.value("revision", 0)), td);
    return {{"taskDefinition", public_td(td)}};
  }

  // ------------------------------------------------------------------ tasks
  void save_task(const json& task) { sim_.state().put("ecs", "task", task["taskArn"], task); }

  static json public_task(json t) {
    for (auto& c : t["containers"])
      for (auto it = c.begin(); it != c.end();)
        it = it.key().rfind("sim:", 0) == 0 ? c.erase(it) : std::next(it);
    for (auto it = t.begin(); it != t.end();)
      it = it.key().rfind("sim:", 0) == 0 ? t.erase(it) : std::next(it);
    return t;
  }

  json run_task(const json& in, const AwsContext& ctx) {
    auto cluster = active_cluster(optional_string(in, "cluster"));
    auto td = task_definition(required_string(in, "taskDefinition"));
    if (td.value("status", "") != "ACTIVE") throw client_error("TaskDefinition is inactive");
    int count = in.value("count", 1);
    if (count < 1 || count > 10) throw invalid_parameter("count must be between 1 and 10.");
    std::string launch = optional_string(in, "launchType", "FARGATE");
    if (launch != "FARGATE")
      throw invalid_parameter("sockerless-sim runs tasks on FARGATE only, not " + launch);
    auto compat = td.value("compatibilities", json::array());
    if (std::find(compat.begin(), compat.end(), "FARGATE") == compat.end())
      throw invalid_parameter("Task definition does not support launch_type FARGATE.");
    json vpc =
        in.value("networkConfiguration", json::object()).value("awsvpcConfiguration", json());
    if (vpc.is_null())
      throw invalid_parameter(
          "Network Configuration must be provided when networkMode 'awsvpc' is specified.");
    auto subnets = strings(vpc.value("subnets", json()), "subnets");
    if (subnets.empty()) throw invalid_parameter("subnets can not be empty.");
    // The subnets and security groups are EC2's (the default VPC's, or ones made there).
    for (const auto& id : subnets)
      if (!sim_.state().get("ec2", "subnet", id))
        throw invalid_parameter("Error retrieving subnet information for [" + id +
                                "]: The subnet ID '" + id +
                                "' does not exist (ErrorCode: InvalidSubnetID.NotFound)");
    for (const auto& id : strings(vpc.value("securityGroups", json()), "securityGroups"))
      if (!sim_.state().get("ec2", "sg", id))
        throw invalid_parameter("Error retrieving security group information for [" + id +
                                "]: The security group '" + id +
                                "' does not exist (ErrorCode: InvalidGroup.NotFound)");
    json overrides = in.value("overrides", json::object());
    for (const auto& o : overrides.value("containerOverrides", json::array())) {
      bool known = false;
      for (const auto& d : td["containerDefinitions"])
        if (d.value("name", "") == o.value("name", "")) known = true;
      if (!known)
        throw invalid_parameter("Override for container named " + o.value("name", "") +
                                " is not a container in the TaskDefinition.");
    }
    json tags = merge_tags(json::array(), in.value("tags", json::array()), {});
    std::string propagate = optional_string(in, "propagateTags", "NONE");
    if (propagate == "TASK_DEFINITION")
      tags = merge_tags(td.value("sim:tags", json::array()), tags, {});

    json out = {{"tasks", json::array()}, {"failures", json::array()}};
    for (int i = 0; i < count; ++i) {
      std::string id = random_hex(16);
      std::string task_arn =
          arn(ctx, "task/" + cluster["clusterName"].get<std::string>() + "/" + id);
      auto now = epoch_seconds();
      std::string eni = resource_id("eni");
      std::string attachment = random_uuid();
      json containers = json::array();
      for (const auto& d : td["containerDefinitions"]) {
        json c = {
            {"containerArn", arn(ctx, "container/" + cluster["clusterName"].get<std::string>() +
                                          "/" + id + "/" + random_uuid())},
            {"taskArn", task_arn},
            {"name", d["name"]},
            {"image", d["image"]},
            {"lastStatus", "PENDING"},
            {"networkInterfaces", json::array()},
            {"networkBindings", json::array()},
            {"healthStatus", "UNKNOWN"},
            {"cpu", std::to_string(d.value("cpu", 0))},
            {"sim:essential", d.value("essential", true)}};
        if (d.contains("memory")) c["memory"] = std::to_string(d["memory"].get<int>());
        if (d.contains("memoryReservation"))
          c["memoryReservation"] = std::to_string(d["memoryReservation"].get<int>());
        containers.push_back(c);
      }
      json task = {
          {"taskArn", task_arn},
          {"clusterArn", cluster["clusterArn"]},
          {"taskDefinitionArn", td["taskDefinitionArn"]},
          {"overrides",
           json{{"containerOverrides", overrides.value("containerOverrides", json::array())},
                {"inferenceAcceleratorOverrides", json::array()}}},
          {"lastStatus", "PROVISIONING"},
          {"desiredStatus", "RUNNING"},
          {"launchType", "FARGATE"},
          {"platformVersion", "1.4.0"},
          {"platformFamily", "Linux"},
          {"cpu", td.value("cpu", "256")},
          {"memory", td.value("memory", "512")},
          {"containers", containers},
          {"createdAt", now},
          {"version", 1},
          {"connectivity", "CONNECTED"},
          {"connectivityAt", now},
          {"group", optional_string(in, "group", "family:" + td["family"].get<std::string>())},
          {"availabilityZone", ctx.region + "a"},
          {"enableExecuteCommand", in.value("enableExecuteCommand", false)},
          {"ephemeralStorage", {{"sizeInGiB", 20}}},
          {"attributes", json::array({{{"name", "ecs.cpu-architecture"}, {"value", "x86_64"}}})},
          {"tags", tags},
          {"attachments",
           json::array(
               {{{"id", attachment},
                 {"type", "ElasticNetworkInterface"},
                 {"status", "PRECREATED"},
                 {"details", json::array({{{"name", "subnetId"}, {"value", subnets.front()}}})}}})},
          {"sim:eni", eni},
          {"sim:overrides", overrides},
          {"sim:taskdef", td.value("family", "") + ":" + std::to_string(td.value("revision", 0))},
          {"sim:workloads", json::array()}};
      if (overrides.contains("cpu")) task["cpu"] = overrides["cpu"];
      if (overrides.contains("memory")) task["memory"] = overrides["memory"];
      if (in.contains("startedBy")) task["startedBy"] = in["startedBy"];
      save_task(task);
      auto run = std::make_shared<TaskRun>();
      {
        std::lock_guard lock(mu_);
        runs_[task_arn] = run;
        threads_.emplace_back([this, task_arn, run] { this->run(task_arn, run); });
      }
      out["tasks"].push_back(public_task(task));
    }
    return out;
  }

  // Reads, changes and writes a task under the lock.
  template <class F>
  json update(const std::string& task_arn, F&& change) {
    std::lock_guard lock(mu_);
    auto t = sim_.state().get("ecs", "task", task_arn);
    if (!t) throw std::runtime_error("task " + task_arn + " vanished");
    change(*t);
    (*t)["version"] = t->value("version", 1) + 1;
    save_task(*t);
    return *t;
  }

  // The workload for container i of a task: the definition with the run's overrides.
  WorkloadSpec spec_for(const json& task, const json& td, std::size_t i, const std::string& first) {
    const json& d = td["containerDefinitions"][i];
    json o = json::object();
    for (const auto& x : task["sim:overrides"].value("containerOverrides", json::array()))
      if (x.value("name", "") == d.value("name", "")) o = x;
    WorkloadSpec s;
    std::string task_id = last_segment(task["taskArn"]);
    s.name = "ecs-" + task_id + "-" + d.value("name", "");
    s.image = d.value("image", "");
    if (sim_.pull_credentials) {
      auto [u, p] = sim_.pull_credentials(s.image);
      s.registry_username = u;
      s.registry_password = p;
    }
    if (d.contains("entryPoint") && !d["entryPoint"].empty())
      s.entrypoint = strings(d["entryPoint"], "entryPoint");
    if (o.contains("command"))
      s.cmd = strings(o["command"], "command");
    else if (d.contains("command") && !d["command"].empty())
      s.cmd = strings(d["command"], "command");
    std::map<std::string, std::string> env;
    for (const auto& list :
         {d.value("environment", json::array()), o.value("environment", json::array())})
      for (const auto& e : list)
        env[e.value("name", "")] = e.value("value", "");
    // What Fargate's agent gives every container.
    env.emplace("AWS_REGION", sim_.options().region);
    env.emplace("AWS_DEFAULT_REGION", sim_.options().region);
    env.emplace("ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/" + task_id);
    for (const auto& [k, v] : env)
      s.env.push_back(k + "=" + v);
    s.user = d.value("user", "");
    s.working_dir = d.value("workingDirectory", "");
    s.share_network_of = first;
    s.stop_timeout = d.value("stopTimeout", 30);
    // The task's size is the task's cgroup; each container here gets the task's limits or
    // its own when the definition (or the override) sets them.
    int mem = o.value("memory", d.value("memory", 0));
    if (mem == 0 && task.contains("memory")) mem = size_field(task["memory"], "memory");
    s.memory_bytes = static_cast<std::int64_t>(mem) << 20;
    int cpu = o.value("cpu", d.value("cpu", 0));
    if (cpu == 0 && task.contains("cpu")) cpu = size_field(task["cpu"], "cpu");
    s.nano_cpus = static_cast<std::int64_t>(cpu) * 1000000000 / 1024;
    s.labels = {{"sockerless.sim.ecs.task", task["taskArn"]},
                {"sockerless.sim.ecs.container", d.value("name", "")}};
    for (const auto& mp : d.value("mountPoints", json::array())) {
      std::string vol = mp.value("sourceVolume", "");
      std::string dir;
      for (const auto& v : td.value("volumes", json::array()))
        if (v.value("name", "") == vol) dir = volume_dir(v, task);
      if (dir.empty()) throw client_error("Unknown volume " + vol);
      s.binds.push_back(dir + ":" + mp.value("containerPath", "") +
                        (mp.value("readOnly", false) ? ":ro" : ""));
    }
    if (d.contains("healthCheck")) {
      const json& h = d["healthCheck"];
      s.healthcheck = {
          {"Test", h.value("command", json::array())},
          {"Interval", static_cast<std::int64_t>(h.value("interval", 30)) * 1000000000},
          {"Timeout", static_cast<std::int64_t>(h.value("timeout", 5)) * 1000000000},
          {"Retries", h.value("retries", 3)},
          {"StartPeriod", static_cast<std::int64_t>(h.value("startPeriod", 0)) * 1000000000}};
    }
    for (const auto& h : d.value("extraHosts", json::array()))
      s.extra_hosts.push_back(h.value("hostname", "") + ":" + h.value("ipAddress", ""));
    return s;
  }

  // A task volume's directory: EFS volumes are directories under the data root (per file
  // system and access point, shared by every task), others the task's own scratch space.
  std::string volume_dir(const json& v, const json& task) {
    std::string root = sim_.options().data_root;
    std::string dir;
    if (v.contains("efsVolumeConfiguration")) {
      const json& e = v["efsVolumeConfiguration"];
      std::string fs = e.value("fileSystemId", "");
      std::string ap = e.value("authorizationConfig", json::object()).value("accessPointId", "");
      auto found = efs_directory(sim_, fs, ap, e.value("rootDirectory", "/"));
      if (!found)
        throw std::runtime_error(
            "ResourceInitializationError: failed to invoke EFS utils commands to set up EFS "
            "volumes: file system " +
            fs + (ap.empty() ? "" : " or access point " + ap) + " does not exist");
      dir = *found;
    } else {
      dir = root + "/task-volumes/" + last_segment(task["taskArn"]) + "/" + v.value("name", "");
    }
    std::filesystem::create_directories(dir);
    return dir;
  }

  // ------------------------------------------------------------------ a task's life
  void run(const std::string& task_arn, std::shared_ptr<TaskRun> run) {
    try {
      provision(task_arn, run);
    } catch (const std::exception& e) {
      spdlog::error("ecs: task {}: {}", task_arn, e.what());
      finish(task_arn, run, "TaskFailedToStart", e.what());
      return;
    }
    watch(task_arn, run, false);
  }

  bool stop_requested(const std::shared_ptr<TaskRun>& run) {
    std::lock_guard lock(run->mu);
    return run->stop_requested;
  }

  void provision(const std::string& task_arn, const std::shared_ptr<TaskRun>& run) {
    json task = update(task_arn, [](json& t) {
      t["lastStatus"] = "PENDING";
      t["pullStartedAt"] = epoch_seconds();
      t["attachments"][0]["status"] = "ATTACHED";
    });
    json td = *sim_.state().get("ecs", "taskdef", task["sim:taskdef"].get<std::string>());
    const json& defs = td["containerDefinitions"];
    run->workloads.assign(defs.size(), "");
    // Log groups first: a missing group without awslogs-create-group fails the task, as
    // the awslogs driver does.
    for (const auto& d : defs) {
      if (!d.contains("logConfiguration") ||
          d["logConfiguration"].value("logDriver", "") != "awslogs")
        continue;
      auto opts = d["logConfiguration"].value("options", json::object());
      std::string group = opts.value("awslogs-group", "");
      if (group.empty())
        throw std::runtime_error(
            "ResourceInitializationError: failed to validate logger args: must specify a value for "
            "log opt 'awslogs-group'");
      if (!logs_->group_exists(group)) {
        if (opts.value("awslogs-create-group", "") == "true")
          logs_->create_group(group);
        else
          throw std::runtime_error(
              "ResourceInitializationError: failed to validate logger args: create stream has been "
              "retried 1 times: "
              "failed to create Cloudwatch log stream: ResourceNotFoundException: The specified "
              "log group does not exist.");
      }
    }
    // Pull and create every container, the first on the VPC and the rest in its namespace.
    for (std::size_t i = 0; i < defs.size(); ++i) {
      if (stop_requested(run)) throw std::runtime_error("Task stopped before it started");
      WorkloadSpec spec;
      try {
        spec = spec_for(task, td, i, i == 0 ? "" : run->workloads[0]);
        run->workloads[i] = sim_.workloads().create(spec);
      } catch (const PullError& e) {
        std::string reason =
            std::string(
                "CannotPullContainerError: pull image manifest has been retried 1 time(s): ") +
            e.what();
        update(task_arn, [&](json& t) {
          t["containers"][i]["reason"] = reason;
          t["containers"][i]["lastStatus"] = "STOPPED";
        });
        throw std::runtime_error(reason);
      }
      update(task_arn, [&](json& t) {
        t["sim:workloads"] = run->workloads;
        t["containers"][i]["runtimeId"] = run->workloads[i];
      });
    }
    update(task_arn, [](json& t) { t["pullStoppedAt"] = epoch_seconds(); });
    // Start in dependency order: a container whose dependsOn conditions hold starts.
    std::vector<bool> started(defs.size(), false);
    std::size_t remaining = defs.size();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    while (remaining > 0) {
      if (stop_requested(run)) throw std::runtime_error("Task stopped before it started");
      bool progressed = false;
      for (std::size_t i = 0; i < defs.size(); ++i) {
        if (started[i] || !dependencies_met(defs, defs[i], run)) continue;
        try {
          sim_.workloads().start(run->workloads[i]);
        } catch (const std::exception& e) {
          std::string reason = std::string("CannotStartContainerError: ") + e.what();
          update(task_arn, [&](json& t) {
            t["containers"][i]["reason"] = reason;
            t["containers"][i]["lastStatus"] = "STOPPED";
          });
          throw std::runtime_error(reason);
        }
        started[i] = true;
        --remaining;
        progressed = true;
        std::string address = sim_.workloads().address(run->workloads[0]);
        update(task_arn, [&](json& t) {
          t["containers"][i]["lastStatus"] = "RUNNING";
          if (!address.empty()) {
            t["containers"][i]["networkInterfaces"] = json::array(
                {{{"attachmentId", t["attachments"][0]["id"]}, {"privateIpv4Address", address}}});
          }
        });
        start_log_shipping(task_arn, defs[i], run->workloads[i]);
      }
      if (!progressed) {
        if (std::chrono::steady_clock::now() > deadline)
          throw std::runtime_error("dependsOn conditions were not met within 10 minutes");
        std::unique_lock lock(run->mu);
        run->cv.wait_for(lock, std::chrono::milliseconds(200));
      }
    }
    std::string address = sim_.workloads().address(run->workloads[0]);
    update(task_arn, [&](json& t) {
      auto now = epoch_seconds();
      t["lastStatus"] = "RUNNING";
      t["startedAt"] = now;
      std::string mac = "0e:" + random_hex(5).substr(0, 2) + ":" + random_hex(1) + ":" +
                        random_hex(1) + ":" + random_hex(1) + ":" + random_hex(1);
      auto& details = t["attachments"][0]["details"];
      details.push_back({{"name", "networkInterfaceId"}, {"value", t["sim:eni"]}});
      details.push_back({{"name", "macAddress"}, {"value", mac}});
      details.push_back(
          {{"name", "privateDnsName"}, {"value", "ip-" + dashed(address) + ".ec2.internal"}});
      details.push_back({{"name", "privateIPv4Address"}, {"value", address}});
    });
  }

  static std::string dashed(std::string ip) {
    std::replace(ip.begin(), ip.end(), '.', '-');
    return ip;
  }

  bool dependencies_met(const json& defs, const json& d, const std::shared_ptr<TaskRun>& run) {
    for (const auto& dep : d.value("dependsOn", json::array())) {
      std::string name = dep.value("containerName", "");
      std::string condition = dep.value("condition", "START");
      std::size_t j = 0;
      while (j < defs.size() && defs[j].value("name", "") != name)
        ++j;
      if (j == defs.size()) return false;
      const std::string& id = run->workloads[j];
      bool running = sim_.workloads().running(id);
      auto state = container_state(id);
      if (condition == "START" && state.empty()) return false;
      if (condition == "START" && state == "created") return false;
      if (condition == "COMPLETE" && (state != "exited")) return false;
      if (condition == "SUCCESS" && (state != "exited" || exit_code(id) != 0)) return false;
      if (condition == "HEALTHY" && (!running || health(id) != "healthy")) return false;
    }
    return true;
  }

  std::string container_state(const std::string& id) {
    try {
      return sim_.workloads().engine().containers().get(id).state.status;
    } catch (const std::exception&) {
      return "";
    }
  }
  int exit_code(const std::string& id) {
    return sim_.workloads().engine().containers().get(id).state.exit_code;
  }
  std::string health(const std::string& id) {
    auto h = sim_.workloads().engine().health().health(id);
    return h ? h->status : "";
  }

  // Waits for the containers; an essential one's exit (or StopTask) stops the task.
  void watch(const std::string& task_arn, std::shared_ptr<TaskRun> run, bool adopted) {
    if (adopted) {
      auto task = sim_.state().get("ecs", "task", task_arn);
      json td = *sim_.state().get("ecs", "taskdef", (*task)["sim:taskdef"].get<std::string>());
      for (std::size_t i = 0; i < run->workloads.size(); ++i)
        start_log_shipping(task_arn, td["containerDefinitions"][i], run->workloads[i]);
    }
    std::vector<std::thread> waiters;
    std::string code, reason;
    for (std::size_t i = 0; i < run->workloads.size(); ++i) {
      waiters.emplace_back([this, i, run, task_arn] {
        auto exit = sim_.workloads().wait(run->workloads[i], [this] { return closing_.load(); });
        if (!exit) return;
        drain_logs(run->workloads[i]);
        bool essential = true;
        update(task_arn, [&](json& t) {
          auto& c = t["containers"][i];
          essential = c.value("sim:essential", true);
          c["lastStatus"] = "STOPPED";
          c["exitCode"] = exit->exit_code;
          if (exit->oom_killed)
            c["reason"] = "OutOfMemoryError: Container killed due to memory usage";
          else if (!exit->error.empty())
            c["reason"] = exit->error;
        });
        std::lock_guard lock(run->mu);
        if (essential && !run->stop_requested) {
          run->stop_requested = true;
          run->stop_code = "EssentialContainerExited";
          run->stop_reason = "Essential container in task exited";
        }
        run->cv.notify_all();
      });
    }
    {
      std::unique_lock lock(run->mu);
      run->cv.wait(lock, [&] {
        if (run->stop_requested || closing_) return true;
        for (const auto& id : run->workloads)
          if (sim_.workloads().running(id)) return false;
        return true;  // every container has ended (none essential kept it)
      });
      if (!run->stop_requested && !closing_) {
        run->stop_code = "EssentialContainerExited";
        run->stop_reason = "Essential container in task exited";
      }
      code = run->stop_code;
      reason = run->stop_reason;
    }
    if (closing_) {  // the simulator is shutting down: its workloads are stopped for it
      for (auto& w : waiters)
        w.join();
      return;
    }
    update(task_arn, [&](json& t) {
      t["desiredStatus"] = "STOPPED";
      t["lastStatus"] = "DEPROVISIONING";
      t["stoppingAt"] = epoch_seconds();
      t["stopCode"] = code;
      t["stoppedReason"] = reason;
    });
    auto task = sim_.state().get("ecs", "task", task_arn);
    json td = *sim_.state().get("ecs", "taskdef", (*task)["sim:taskdef"].get<std::string>());
    // The others get SIGTERM, then SIGKILL after their stopTimeout, together.
    std::vector<std::thread> stoppers;
    for (std::size_t i = 0; i < run->workloads.size(); ++i)
      stoppers.emplace_back([&, i] {
        sim_.workloads().stop(run->workloads[i],
                              td["containerDefinitions"][i].value("stopTimeout", 30));
      });
    for (auto& s : stoppers)
      s.join();
    for (auto& w : waiters)
      w.join();
    finish(task_arn, run, code, reason);
  }

  void finish(const std::string& task_arn, const std::shared_ptr<TaskRun>& run,
              const std::string& code, const std::string& reason) {
    for (const auto& id : run->workloads) {
      if (id.empty()) continue;
      drain_logs(id);
      stop_log_shipping(id);
      sim_.workloads().remove(id);
    }
    // The task's own (non-EFS) volumes go with it, as Fargate's ephemeral storage does.
    std::error_code ec;
    std::filesystem::remove_all(
        sim_.options().data_root + "/task-volumes/" + last_segment(task_arn), ec);
    update(task_arn, [&](json& t) {
      auto now = epoch_seconds();
      t["desiredStatus"] = "STOPPED";
      t["lastStatus"] = "STOPPED";
      if (!t.contains("stopCode")) t["stopCode"] = code;
      if (!t.contains("stoppedReason")) t["stoppedReason"] = reason;
      if (!t.contains("stoppingAt")) t["stoppingAt"] = now;
      t["executionStoppedAt"] = now;
      t["stoppedAt"] = now;
      t["connectivity"] = "DISCONNECTED";
      if (t["attachments"][0]["status"] == "ATTACHED") t["attachments"][0]["status"] = "DELETED";
      for (auto& c : t["containers"])
        if (c.value("lastStatus", "") != "STOPPED") c["lastStatus"] = "STOPPED";
    });
    std::lock_guard lock(mu_);
    runs_.erase(task_arn);
  }

  json describe_tasks(const json& in, const AwsContext&) {
    auto cluster = active_cluster(optional_string(in, "cluster"));
    auto refs = strings(required(in, "tasks"), "tasks");
    if (refs.empty()) throw invalid_parameter("Tasks cannot be empty.");
    if (refs.size() > 100) throw invalid_parameter("Tasks cannot have more than 100 elements.");
    json out = {{"tasks", json::array()}, {"failures", json::array()}};
    auto include = strings(in.value("include", json()), "include");
    bool tags = std::find(include.begin(), include.end(), "TAGS") != include.end();
    for (const auto& ref : refs) {
      std::string task_arn = task_arn_of(ref, cluster);
      auto t = sim_.state().get("ecs", "task", task_arn);
      if (!t || (*t)["clusterArn"] != cluster["clusterArn"]) {
        out["failures"].push_back({{"arn", task_arn}, {"reason", "MISSING"}});
        continue;
      }
      json v = public_task(*t);
      if (!tags) v.erase("tags");
      out["tasks"].push_back(v);
    }
    return out;
  }

  json list_tasks(const json& in, const AwsContext&) {
    auto cluster = active_cluster(optional_string(in, "cluster"));
    std::string family = optional_string(in, "family");
    std::string desired = optional_string(in, "desiredStatus", "RUNNING");
    std::string started_by = optional_string(in, "startedBy");
    if (desired != "RUNNING" && desired != "PENDING" && desired != "STOPPED")
      throw invalid_parameter("desiredStatus must be RUNNING, PENDING or STOPPED");
    std::vector<std::string> arns;
    for (auto& [arn, t] : sim_.state().list("ecs", "task")) {
      if (t["clusterArn"] != cluster["clusterArn"]) continue;
      if (t.value("desiredStatus", "") != desired) continue;
      if (!family.empty() && t.value("sim:taskdef", "").rfind(family + ":", 0) != 0) continue;
      if (!started_by.empty() && t.value("startedBy", "") != started_by) continue;
      arns.push_back(arn);
    }
    auto page =
        page_of(arns.size(), optional_string(in, "nextToken"), in.value("maxResults", 0L), 100);
    json out = {
        {"taskArns", json(std::vector<std::string>(arns.begin() + page.begin,
                                                   arns.begin() + page.begin + page.count))}};
    if (!page.next_token.empty()) out["nextToken"] = page.next_token;
    return out;
  }

  json stop_task(const json& in, const AwsContext&) {
    auto cluster = active_cluster(optional_string(in, "cluster"));
    std::string ref = required_string(in, "task");
    std::string task_arn = task_arn_of(ref, cluster);
    std::string reason = optional_string(in, "reason", "Task stopped by user");
    auto t = sim_.state().get("ecs", "task", task_arn);
    if (!t || (*t)["clusterArn"] != cluster["clusterArn"])
      throw invalid_parameter("The referenced task was not found.");
    std::shared_ptr<TaskRun> run;
    {
      std::lock_guard lock(mu_);
      auto it = runs_.find(task_arn);
      if (it != runs_.end()) run = it->second;
    }
    if (run) {
      std::lock_guard lock(run->mu);
      if (!run->stop_requested) {
        run->stop_requested = true;
        run->stop_code = "UserInitiated";
        run->stop_reason = reason;
      }
      run->cv.notify_all();
      json v = update(task_arn, [&](json& x) {
        x["desiredStatus"] = "STOPPED";
        if (!x.contains("stopCode")) {
          x["stopCode"] = "UserInitiated";
          x["stoppedReason"] = reason;
          x["stoppingAt"] = epoch_seconds();
        }
      });
      return {{"task", public_task(v)}};
    }
    return {{"task", public_task(*t)}};
  }

  // ------------------------------------------------------------------ tags
  // The record an ARN names: (kind, key) in the state.
  std::pair<std::string, std::string> resource_of(const std::string& resource_arn) {
    auto colon = resource_arn.find(":", resource_arn.find(":ecs:") + 5);
    colon = resource_arn.find(':', colon + 1);  // after the account
    std::string rest = colon == std::string::npos ? "" : resource_arn.substr(colon + 1);
    if (rest.rfind("cluster/", 0) == 0) return {"cluster", rest.substr(8)};
    if (rest.rfind("task-definition/", 0) == 0) return {"taskdef", rest.substr(16)};
    if (rest.rfind("task/", 0) == 0) return {"task", resource_arn};
    throw invalid_parameter("The ARN provided is invalid.");
  }

  json tags_of(const std::string& kind, const json& doc) {
    return kind == "taskdef" ? doc.value("sim:tags", json::array())
                             : doc.value("tags", json::array());
  }

  json change_tags(const json& in, const json& add, const std::vector<std::string>& remove) {
    auto [kind, key] = resource_of(required_string(in, "resourceArn"));
    std::lock_guard lock(mu_);
    auto doc = sim_.state().get("ecs", kind, key);
    if (!doc) throw invalid_parameter("The specified resource is not found.");
    json tags = merge_tags(tags_of(kind, *doc), add, remove);
    (*doc)[kind == "taskdef" ? "sim:tags" : "tags"] = tags;
    sim_.state().put("ecs", kind, key, *doc);
    return json::object();
  }

  json tag_resource(const json& in, const AwsContext&) {
    return change_tags(in, required(in, "tags"), {});
  }
  json untag_resource(const json& in, const AwsContext&) {
    return change_tags(in, json::array(), strings(required(in, "tagKeys"), "tagKeys"));
  }
  json list_tags(const json& in, const AwsContext&) {
    auto [kind, key] = resource_of(required_string(in, "resourceArn"));
    auto doc = sim_.state().get("ecs", kind, key);
    if (!doc) throw invalid_parameter("The specified resource is not found.");
    return {{"tags", tags_of(kind, *doc)}};
  }

  // ------------------------------------------------------------------ awslogs
  struct Shipper {
    std::string group, stream, path;
    std::size_t offset = 0;
    std::mutex mu;
  };

  void start_log_shipping(const std::string& task_arn, const json& d, const std::string& workload) {
    if (!d.contains("logConfiguration") ||
        d["logConfiguration"].value("logDriver", "") != "awslogs")
      return;
    auto opts = d["logConfiguration"].value("options", json::object());
    auto s = std::make_shared<Shipper>();
    s->group = opts.value("awslogs-group", "");
    std::string prefix = opts.value("awslogs-stream-prefix", "");
    std::string task_id = last_segment(task_arn);
    s->stream = prefix.empty() ? task_id : prefix + "/" + d.value("name", "") + "/" + task_id;
    s->path = sim_.workloads().log_path(workload);
    logs_->append(s->group, s->stream, {});
    {
      std::lock_guard lock(ship_mu_);
      shippers_[workload] = s;
    }
    ensure_shipping_thread();
  }

  void stop_log_shipping(const std::string& workload) {
    std::lock_guard lock(ship_mu_);
    shippers_.erase(workload);
  }

  void ship(const std::shared_ptr<Shipper>& s) {
    std::lock_guard lock(s->mu);
    std::ifstream in(s->path, std::ios::binary);
    if (!in) return;
    in.seekg(static_cast<std::streamoff>(s->offset));
    std::vector<LogEvent> events;
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // a partial line: next time
      s->offset += line.size() + 1;
      auto entry = api::parse_log_entry(line);
      if (!entry) continue;
      std::string text = entry->text;
      if (!text.empty() && text.back() == '\n') text.pop_back();
      LogEvent e;
      auto t = parse_api_timestamp(entry->time);
      e.timestamp =
          t ? unix_nanos(*t) / 1000000 : static_cast<std::int64_t>(epoch_seconds() * 1000);
      e.message = text;
      events.push_back(std::move(e));
    }
    if (!events.empty()) logs_->append(s->group, s->stream, events);
  }

  void drain_logs(const std::string& workload) {
    std::shared_ptr<Shipper> s;
    {
      std::lock_guard lock(ship_mu_);
      auto it = shippers_.find(workload);
      if (it == shippers_.end()) return;
      s = it->second;
    }
    ship(s);
  }

  void ensure_shipping_thread() {
    std::lock_guard lock(ship_mu_);
    if (shipping_.joinable()) return;
    shipping_ = std::thread([this] {
      while (!closing_) {
        std::vector<std::shared_ptr<Shipper>> all;
        {
          std::lock_guard lock(ship_mu_);
          for (auto& [id, s] : shippers_)
            all.push_back(s);
        }
        for (auto& s : all)
          ship(s);
        std::unique_lock lock(ship_mu_);
        ship_cv_.wait_for(lock, std::chrono::milliseconds(250), [this] { return closing_.load(); });
      }
    });
  }

  void shutdown() {
    if (closing_.exchange(true)) return;
    {
      std::lock_guard lock(ship_mu_);
      ship_cv_.notify_all();
    }
    std::map<std::string, std::shared_ptr<TaskRun>> runs;
    {
      std::lock_guard lock(mu_);
      runs = runs_;
    }
    for (auto& [arn, run] : runs) {
      std::lock_guard lock(run->mu);
      run->cv.notify_all();
    }
    // The tasks' threads see closing_ and end (their workloads are stopped for them).
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads)
      t.join();
    if (shipping_.joinable()) shipping_.join();
  }

  Simulator& sim_;
  std::shared_ptr<LogsStore> logs_;
  std::mutex mu_;  // task records' read-modify-write, runs_
  std::map<std::string, std::shared_ptr<TaskRun>> runs_;
  std::vector<std::thread> threads_;  // every task's, joined at shutdown
  std::atomic<bool> closing_{false};
  std::mutex ship_mu_;
  std::condition_variable ship_cv_;
  std::map<std::string, std::shared_ptr<Shipper>> shippers_;
  std::thread shipping_;
};

}  // namespace

std::shared_ptr<AwsService> make_ecs(Simulator& sim, std::shared_ptr<LogsStore> logs) {
  auto ecs = std::make_shared<Ecs>(sim, std::move(logs));
  ecs->recover();
  return ecs;
}

}  // namespace sockerless::sims::aws
