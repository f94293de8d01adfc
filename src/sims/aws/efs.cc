// EFS (REST-JSON): file systems, access points and mount targets, backed by directories
// under the data root. A file system is <data-root>/efs/<id>/root; an access point is a
// directory of it (its RootDirectory.Path, made with CreationInfo's owner and mode), and ECS
// tasks naming either mount that directory (efs_directory()).
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/ids.h"
#include "sims/aws/services.h"
#include "sims/common/service.h"
#include "sims/common/simulator.h"
#include "sims/common/state.h"

namespace sockerless::sims::aws {
namespace {

using json = nlohmann::json;

constexpr const char* kBase = "/2015-02-01/";

AwsError fs_not_found(const std::string& id) {
  return AwsError(404, "FileSystemNotFound", "File system '" + id + "' does not exist.");
}

std::string fs_root(const Simulator& sim, const std::string& fs) {
  return sim.options().data_root + "/efs/" + fs + "/root";
}

class Efs : public AwsService {
 public:
  explicit Efs(Simulator& sim) : sim_(sim) {}

  std::string signing_name() const override { return "elasticfilesystem"; }
  Protocol protocol() const override { return Protocol::kRestJson; }
  std::vector<std::string> rest_prefixes() const override {
    return {"/2015-02-01/file-systems", "/2015-02-01/access-points", "/2015-02-01/mount-targets"};
  }

  http::Response rest(http::Request& req, const AwsContext& ctx) override {
    std::string path = req.path.substr(std::string(kBase).size());
    auto slash = path.find('/');
    std::string collection = path.substr(0, slash);
    std::string id = slash == std::string::npos ? "" : path.substr(slash + 1);
    json in = json::object();
    if (!req.body.empty()) {
      in = json::parse(req.body, nullptr, false);
      if (in.is_discarded() || !in.is_object())
        throw AwsError(400, "BadRequest", "The request body is not a JSON object");
    }
    auto answer = [&](int status, const json& body) {
      return json_answer(status, body, "application/json", ctx.request_id);
    };
    if (collection == "file-systems") {
      if (req.method == "POST" && id.empty()) return answer(201, create_fs(in, ctx));
      if (req.method == "GET" && id.empty()) return answer(200, describe_fs(req, ctx));
      if (req.method == "DELETE" && !id.empty()) {
        delete_fs(id);
        return http::Response::empty(204);
      }
    } else if (collection == "access-points") {
      if (req.method == "POST" && id.empty()) return answer(200, create_ap(in, ctx));
      if (req.method == "GET" && id.empty()) return answer(200, describe_aps(req));
      if (req.method == "DELETE" && !id.empty()) {
        if (!sim_.state().erase("efs", "ap", id))
          throw AwsError(404, "AccessPointNotFound", "Access point '" + id + "' does not exist.");
        return http::Response::empty(204);
      }
    } else if (collection == "mount-targets") {
      if (req.method == "POST" && id.empty()) return answer(200, create_mt(in, ctx));
      if (req.method == "GET" && id.empty()) return answer(200, describe_mts(req));
      if (req.method == "DELETE" && !id.empty()) {
        if (!sim_.state().erase("efs", "mt", id))
          throw AwsError(404, "MountTargetNotFound", "Mount target '" + id + "' does not exist.");
        return http::Response::empty(204);
      }
    }
    return AwsService::rest(req, ctx);
  }

 private:
  json view_fs(json fs) {
    int targets = 0;
    for (auto& [id, mt] : sim_.state().list("efs", "mt"))
      if (mt.value("FileSystemId", "") == fs.value("FileSystemId", "")) ++targets;
    fs["NumberOfMountTargets"] = targets;
    std::uintmax_t bytes = 0;
    std::error_code ec;
    for (auto it =
             std::filesystem::recursive_directory_iterator(fs_root(sim_, fs["FileSystemId"]), ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file(ec)) bytes += it->file_size(ec);
    fs["SizeInBytes"] = {{"Value", bytes}, {"ValueInStandard", bytes}, {"ValueInIA", 0}};
    return fs;
  }

  json create_fs(const json& in, const AwsContext& ctx) {
    std::string token = required_string(in, "CreationToken");
    for (auto& [id, fs] : sim_.state().list("efs", "fs"))
      if (fs.value("CreationToken", "") == token)
        throw AwsError(
            409, "FileSystemAlreadyExists",
            "File system '" + id + "' already exists with creation token '" + token + "'");
    std::string mode = optional_string(in, "PerformanceMode", "generalPurpose");
    if (mode != "generalPurpose" && mode != "maxIO")
      throw AwsError(400, "BadRequest", "Invalid PerformanceMode " + mode);
    std::string id = resource_id("fs");
    json tags = in.value("Tags", json::array());
    json fs = {{"OwnerId", ctx.account_id},
               {"CreationToken", token},
               {"FileSystemId", id},
               {"FileSystemArn", "arn:aws:elasticfilesystem:" + ctx.region + ":" + ctx.account_id +
                                     ":file-system/" + id},
               {"CreationTime", epoch_seconds()},
               {"LifeCycleState", "available"},
               {"NumberOfMountTargets", 0},
               {"SizeInBytes", {{"Value", 0}}},
               {"PerformanceMode", mode},
               {"Encrypted", in.value("Encrypted", false)},
               {"ThroughputMode", optional_string(in, "ThroughputMode", "bursting")},
               {"Tags", tags},
               {"FileSystemProtection", {{"ReplicationOverwriteProtection", "ENABLED"}}}};
    for (const auto& t : tags)
      if (t.value("Key", "") == "Name") fs["Name"] = t.value("Value", "");
    std::filesystem::create_directories(fs_root(sim_, id));
    sim_.state().put("efs", "fs", id, fs);
    return view_fs(fs);
  }

  json describe_fs(const http::Request& req, const AwsContext&) {
    auto want = req.query.get("FileSystemId");
    auto token = req.query.get("CreationToken");
    json all = json::array();
    for (auto& [id, fs] : sim_.state().list("efs", "fs")) {
      if (want && *want != id) continue;
      if (token && *token != fs.value("CreationToken", "")) continue;
      all.push_back(view_fs(fs));
    }
    if (want && all.empty()) throw fs_not_found(*want);
    long max = std::stol(req.query.get("MaxItems").value_or("0"));
    auto page = page_of(all.size(), req.query.get("Marker").value_or(""), max, 100, "BadRequest");
    json out = {{"FileSystems", json(std::vector<json>(
                                    all.begin() + static_cast<long>(page.begin),
                                    all.begin() + static_cast<long>(page.begin + page.count)))}};
    if (req.query.has("Marker")) out["Marker"] = *req.query.get("Marker");
    if (!page.next_token.empty()) out["NextMarker"] = page.next_token;
    return out;
  }

  void delete_fs(const std::string& id) {
    if (!sim_.state().get("efs", "fs", id)) throw fs_not_found(id);
    for (auto& [mid, mt] : sim_.state().list("efs", "mt"))
      if (mt.value("FileSystemId", "") == id)
        throw AwsError(409, "FileSystemInUse", "File system '" + id + "' has mount targets.");
    for (auto& [aid, ap] : sim_.state().list("efs", "ap"))
      if (ap.value("FileSystemId", "") == id) sim_.state().erase("efs", "ap", aid);
    sim_.state().erase("efs", "fs", id);
    std::error_code ec;
    std::filesystem::remove_all(sim_.options().data_root + "/efs/" + id, ec);
  }

  json create_ap(const json& in, const AwsContext& ctx) {
    std::string token = required_string(in, "ClientToken");
    std::string fs = required_string(in, "FileSystemId");
    if (!sim_.state().get("efs", "fs", fs)) throw fs_not_found(fs);
    for (auto& [id, ap] : sim_.state().list("efs", "ap"))
      if (ap.value("ClientToken", "") == token) {
        if (ap.value("FileSystemId", "") != fs)
          throw AwsError(409, "IncorrectFileSystemLifeCycleState", "Client token in use");
        return ap;  // a retried create
      }
    json root = in.value("RootDirectory", json{{"Path", "/"}});
    std::string path = root.value("Path", "/");
    if (path.empty() || path[0] != '/' || path.find("..") != std::string::npos)
      throw AwsError(400, "BadRequest", "RootDirectory.Path must be an absolute path without '..'");
    std::string dir = fs_root(sim_, fs) + path;
    if (!std::filesystem::exists(dir)) {
      // As EFS: a missing root directory is made only when CreationInfo says how.
      if (!root.contains("CreationInfo"))
        throw AwsError(
            400, "BadRequest",
            "RootDirectory.Path " + path + " does not exist and CreationInfo is not set");
      const json& ci = root["CreationInfo"];
      std::filesystem::create_directories(dir);
      if (::chown(dir.c_str(), ci.value("OwnerUid", 0), ci.value("OwnerGid", 0)) != 0 ||
          ::chmod(dir.c_str(),
                  static_cast<mode_t>(std::stoul(ci.value("Permissions", "755"), nullptr, 8))) != 0)
        throw AwsError(500, "InternalServerError", "cannot set the owner and mode of " + path,
                       false);
    }
    std::string id = resource_id("fsap");
    json ap = {{"ClientToken", token},
               {"Tags", in.value("Tags", json::array())},
               {"AccessPointId", id},
               {"AccessPointArn", "arn:aws:elasticfilesystem:" + ctx.region + ":" + ctx.account_id +
                                      ":access-point/" + id},
               {"FileSystemId", fs},
               {"RootDirectory", root},
               {"OwnerId", ctx.account_id},
               {"LifeCycleState", "available"}};
    if (in.contains("PosixUser")) ap["PosixUser"] = in["PosixUser"];
    for (const auto& t : ap["Tags"])
      if (t.value("Key", "") == "Name") ap["Name"] = t.value("Value", "");
    sim_.state().put("efs", "ap", id, ap);
    return ap;
  }

  json describe_aps(const http::Request& req) {
    auto want = req.query.get("AccessPointId");
    auto fs = req.query.get("FileSystemId");
    if (fs && !sim_.state().get("efs", "fs", *fs)) throw fs_not_found(*fs);
    json all = json::array();
    for (auto& [id, ap] : sim_.state().list("efs", "ap")) {
      if (want && *want != id) continue;
      if (fs && *fs != ap.value("FileSystemId", "")) continue;
      all.push_back(ap);
    }
    if (want && all.empty())
      throw AwsError(404, "AccessPointNotFound", "Access point '" + *want + "' does not exist.");
    long max = std::stol(req.query.get("MaxResults").value_or("0"));
    auto page =
        page_of(all.size(), req.query.get("NextToken").value_or(""), max, 100, "BadRequest");
    json out = {{"AccessPoints", json(std::vector<json>(
                                     all.begin() + static_cast<long>(page.begin),
                                     all.begin() + static_cast<long>(page.begin + page.count)))}};
    if (!page.next_token.empty()) out["NextToken"] = page.next_token;
    return out;
  }

  json create_mt(const json& in, const AwsContext& ctx) {
    std::string fs = required_string(in, "FileSystemId");
    std::string subnet = required_string(in, "SubnetId");
    if (!sim_.state().get("efs", "fs", fs)) throw fs_not_found(fs);
    auto s = sim_.state().get("ec2", "subnet", subnet);
    if (!s) throw AwsError(400, "SubnetNotFound", "The subnet ID '" + subnet + "' does not exist");
    for (auto& [id, mt] : sim_.state().list("efs", "mt"))
      if (mt.value("FileSystemId", "") == fs &&
          mt.value("AvailabilityZoneName", "") == s->value("availabilityZone", ""))
        throw AwsError(409, "MountTargetConflict", "mount target already exists in this AZ");
    std::string id = resource_id("fsmt");
    json mt = {{"OwnerId", ctx.account_id},
               {"MountTargetId", id},
               {"FileSystemId", fs},
               {"SubnetId", subnet},
               {"LifeCycleState", "available"},
               {"NetworkInterfaceId", resource_id("eni")},
               {"AvailabilityZoneName", s->value("availabilityZone", "")},
               {"AvailabilityZoneId", s->value("availabilityZoneId", "")},
               {"VpcId", s->value("vpcId", "")}};
    sim_.state().put("efs", "mt", id, mt);
    return mt;
  }

  json describe_mts(const http::Request& req) {
    auto fs = req.query.get("FileSystemId");
    auto want = req.query.get("MountTargetId");
    if (!fs && !want)
      throw AwsError(400, "BadRequest", "Either FileSystemId or MountTargetId must be given");
    if (fs && !sim_.state().get("efs", "fs", *fs)) throw fs_not_found(*fs);
    json all = json::array();
    for (auto& [id, mt] : sim_.state().list("efs", "mt")) {
      if (fs && *fs != mt.value("FileSystemId", "")) continue;
      if (want && *want != id) continue;
      all.push_back(mt);
    }
    if (want && all.empty())
      throw AwsError(404, "MountTargetNotFound", "Mount target '" + *want + "' does not exist.");
    return {{"MountTargets", all}};
  }

  Simulator& sim_;
};

}  // namespace

std::optional<std::string> efs_directory(Simulator& sim, const std::string& file_system,
                                         const std::string& access_point,
                                         const std::string& root_directory) {
  if (!sim.state().get("efs", "fs", file_system)) return std::nullopt;
  std::string dir = fs_root(sim, file_system);
  if (!access_point.empty()) {
    auto ap = sim.state().get("efs", "ap", access_point);
    if (!ap || ap->value("FileSystemId", "") != file_system) return std::nullopt;
    dir += (*ap)["RootDirectory"].value("Path", "/");
  } else {
    dir += root_directory.empty() ? "/" : root_directory;
  }
  return dir;
}

std::shared_ptr<AwsService> make_efs(Simulator& sim) {
  return std::make_shared<Efs>(sim);
}

}  // namespace sockerless::sims::aws
