// Lambda (REST-JSON, API version 2015-03-31): functions packaged as container images —
// create, get, update (configuration and code), list, delete, tags — and Invoke
// (RequestResponse, Event, DryRun; LogType Tail). The functions' containers really run
// (lambda_runtime.h): a function is Pending while its image is pulled and its first
// container made, then Active; an update is InProgress until its containers are ready, and
// invocations keep the previous configuration until then.
//
// Where it differs from AWS: only PackageType Image (Zip answers InvalidParameterValue);
// an ImageUri may name any registry the simulator reaches (AWS takes ECR only); one naming
// the simulator's own registry must exist there when the function is created, others are
// checked by their pull (the function goes Failed); only $LATEST exists (no versions,
// aliases, layers, EFS, code signing); the execution role is checked for its shape only.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <list>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include "common/ids.h"
#include "common/log.h"
#include "engine/engine.h"
#include "image/credentials.h"
#include "image/image_service.h"
#include "image/reference.h"
#include "image/registry_client.h"
#include "sims/aws/lambda_runtime.h"
#include "sims/aws/logs_store.h"
#include "sims/aws/services.h"
#include "sims/common/service.h"
#include "sims/common/simulator.h"
#include "sims/common/state.h"
#include "sims/common/workloads.h"

namespace sockerless::sims::aws {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxSyncPayload = 6291456;
constexpr std::size_t kMaxAsyncPayload = 262144;
constexpr std::size_t kMaxEnvironmentBytes = 4096;
constexpr const char* kFunctionsPrefix = "/2015-03-31/functions";
constexpr const char* kTagsPrefix = "/2017-03-31/tags/";
constexpr const char* kRolePattern =
    R"(arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+)";
constexpr const char* kNamePattern =
    R"((arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?)";

// Keys Lambda sets itself and will not take in Environment.Variables.
const std::set<std::string> kReservedVariables = {
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_REGION",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
};

AwsError invalid(const std::string& message) {
  return AwsError(400, "InvalidParameterValueException", message);
}
AwsError validation(const std::string& message) {
  return AwsError(400, "ValidationException", message);
}
AwsError conflict(const std::string& message) {
  return AwsError(409, "ResourceConflictException", message);
}
AwsError constraint(const std::string& value, const std::string& field, const std::string& what) {
  return validation("1 validation error detected: Value '" + value + "' at '" + field +
                    "' failed to satisfy constraint: Member must " + what);
}

// Input fields the model calls required, named as Lambda's validation names them.
const json& must(const json& in, const char* field, const char* as) {
  if (!in.contains(field) || in[field].is_null())
    throw validation(std::string("1 validation error detected: Value null at '") + as +
                     "' failed to satisfy constraint: Member must not be null");
  return in[field];
}

std::string string_field(const json& in, const char* field) {
  if (!in.contains(field) || in[field].is_null()) return "";
  if (!in[field].is_string())
    throw AwsError(400, "SerializationException",
                   std::string("Unexpected value type for '") + field + "': expected a string");
  return in[field].get<std::string>();
}

json string_list(const json& v, const char* what) {
  if (v.is_null()) return json::array();
  if (!v.is_array())
    throw AwsError(400, "SerializationException", std::string(what) + " must be a list");
  for (const auto& x : v)
    if (!x.is_string())
      throw AwsError(400, "SerializationException",
                     std::string(what) + " must be a list of strings");
  return v;
}

int integer_field(const json& v, const char* what) {
  if (!v.is_number_integer())
    throw AwsError(400, "SerializationException",
                   std::string("Unexpected value type for '") + what + "': expected an integer");
  return v.get<int>();
}

// "2024-05-01T12:00:00.000+0000", Lambda's LastModified.
std::string last_modified() {
  std::string t = iso8601_now();  // "…T12:00:00.000Z"
  return t.substr(0, t.size() - 1) + "+0000";
}

// A generation no earlier configuration of any function has had.
std::int64_t new_generation() {
  static std::atomic<std::int64_t> last{0};
  std::int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  std::int64_t prev = last.load();
  while (!last.compare_exchange_weak(prev, std::max(now, prev + 1))) {
  }
  return std::max(now, prev + 1);
}

std::string join(const json& words) {
  std::string out;
  if (!words.is_array()) return out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w.is_string() ? w.get<std::string>() : w.dump();
  }
  return out;
}

// What a FunctionName (or a tag's resource) names: the function and its qualifier.
struct FunctionRef {
  std::string name, qualifier;
  std::string region, account;  // when an ARN gave them
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto at = s.find(sep, start);
    out.push_back(s.substr(start, at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

bool valid_name(const std::string& name) {
  static const std::regex re("[a-zA-Z0-9_-]{1,64}");
  return std::regex_match(name, re);
}

bool valid_qualifier(const std::string& q) {
  static const std::regex re(R"(\$LATEST|[a-zA-Z0-9_-]{1,128})");
  return std::regex_match(q, re);
}

class Lambda : public AwsService {
 public:
  Lambda(Simulator& sim, std::shared_ptr<LogsStore> logs)
      : sim_(sim), runtime_(std::make_unique<LambdaRuntime>(sim, std::move(logs))) {
    sim_.on_shutdown([this] { shutdown(); });
  }

  ~Lambda() override { shutdown(); }

  std::string signing_name() const override { return "lambda"; }
  Protocol protocol() const override { return Protocol::kRestJson; }
  std::vector<std::string> rest_prefixes() const override {
    return {kFunctionsPrefix, kTagsPrefix};
  }

  http::Response rest(http::Request& req, const AwsContext& ctx) override {
    try {
      return route(req, ctx);
    } catch (const AwsError& e) {
      return error(e, ctx);
    } catch (const ConcurrencyExceeded& e) {
      json body = {
          {"Type", "User"}, {"message", e.what()}, {"Reason", "ConcurrentInvocationLimitExceeded"}};
      auto r = json_answer(429, body, "application/json", ctx.request_id);
      r.headers.set("x-amzn-ErrorType", "TooManyRequestsException");
      return r;
    } catch (const std::exception& e) {
      spdlog::error("lambda {} {}: {}", req.method, req.path, e.what());
      return error(AwsError(500, "ServiceException", e.what(), false), ctx);
    }
  }

  // Functions caught mid-create or mid-update by a restart pick up where they were.
  void recover() {
    for (auto& [name, doc] : sim_.state().list("lambda", "function")) {
      if (doc.value("State", "") == "Pending")
        start_activation(name, doc.value("sim:token", ""), std::nullopt);
      else if (doc.value("LastUpdateStatus", "") == "InProgress")
        start_activation(name, doc.value("sim:token", ""),
                         doc.contains("sim:pendingImage")
                             ? std::optional<std::string>(doc["sim:pendingImage"])
                             : std::nullopt);
    }
  }

 private:
  // ------------------------------------------------------------------ routing and answers

  http::Response route(http::Request& req, const AwsContext& ctx) {
    const std::string& path = req.path;
    const std::string& m = req.method;
    if (path.rfind(kTagsPrefix, 0) == 0) {
      std::string resource = path.substr(std::string(kTagsPrefix).size());
      if (m == "GET") return answer(200, list_tags(resource), ctx);
      if (m == "POST") return tag_resource(resource, body_of(req), ctx);
      if (m == "DELETE") return untag_resource(resource, req, ctx);
    } else if (path.rfind(kFunctionsPrefix, 0) == 0) {
      std::string rest = path.substr(std::string(kFunctionsPrefix).size());
      if (rest.empty() || rest == "/") {
        if (m == "POST") return answer(201, create_function(body_of(req), ctx), ctx);
        if (m == "GET") return answer(200, list_functions(req), ctx);
      } else if (rest[0] == '/') {
        auto segments = split(rest.substr(1), '/');
        const std::string& fn = segments[0];
        std::string qualifier = req.query.get("Qualifier").value_or("");
        if (segments.size() == 1) {
          if (m == "GET") return answer(200, get_function(fn, qualifier), ctx);
          if (m == "DELETE") return delete_function(fn, qualifier, ctx);
        } else if (segments.size() == 2) {
          const std::string& what = segments[1];
          if (what == "configuration" && m == "GET")
            return answer(200, get_configuration(fn, qualifier), ctx);
          if (what == "configuration" && m == "PUT")
            return answer(200, update_configuration(fn, body_of(req)), ctx);
          if (what == "code" && m == "PUT") return answer(200, update_code(fn, body_of(req)), ctx);
          if (what == "invocations" && m == "POST") return invoke(fn, qualifier, req, ctx);
        }
      }
    }
    throw AwsError(501, "NotImplemented",
                   "sockerless-sim does not implement lambda " + m + " " + path);
  }

  static http::Response answer(int status, const json& body, const AwsContext& ctx) {
    return json_answer(status, body, "application/json", ctx.request_id);
  }

  static http::Response empty(int status, const AwsContext& ctx) {
    auto r = http::Response::empty(status);
    r.headers.set("x-amzn-RequestId", ctx.request_id);
    return r;
  }

  // Lambda's errors: the model names the message "Message" for some, "message" for others.
  static http::Response error(const AwsError& e, const AwsContext& ctx) {
    auto r = error_answer(Protocol::kRestJson, e, ctx.request_id);
    if (e.code() == "ResourceNotFoundException" || e.code() == "ServiceException") {
      json body = {{"Type", e.sender() ? "User" : "Service"}, {"Message", e.what()}};
      r.body = body.dump();
    }
    return r;
  }

  static json body_of(const http::Request& req) {
    if (req.body.empty()) return json::object();
    auto in = json::parse(req.body, nullptr, false);
    if (in.is_discarded() || !in.is_object())
      throw AwsError(400, "InvalidRequestContentException",
                     "Could not parse request body into json: the body is not a JSON object");
    return in;
  }

  // ------------------------------------------------------------------ names and records

  std::string arn_of(const std::string& name) const {
    return "arn:aws:lambda:" + sim_.options().region + ":" + sim_.options().account_id +
           ":function:" + name;
  }

  AwsError not_found(const std::string& name, const std::string& qualifier = "") const {
    return AwsError(
        404, "ResourceNotFoundException",
        "Function not found: " + arn_of(name) + (qualifier.empty() ? "" : ":" + qualifier));
  }

  // A FunctionName as the API takes it: "name", "name:qualifier", "123456789012:function:
  // name[:qualifier]" or the whole ARN.
  FunctionRef parse_ref(const std::string& text, const char* field = "functionName") const {
    FunctionRef ref;
    auto parts = split(text, ':');
    bool ok = false;
    if (parts.size() >= 7 && parts.size() <= 8 && parts[0] == "arn" && parts[2] == "lambda" &&
        parts[5] == "function") {
      ref.region = parts[3];
      ref.account = parts[4];
      ref.name = parts[6];
      if (parts.size() == 8) ref.qualifier = parts[7];
      ok = true;
    } else if (parts.size() >= 3 && parts.size() <= 4 && parts[1] == "function") {
      ref.account = parts[0];
      ref.name = parts[2];
      if (parts.size() == 4) ref.qualifier = parts[3];
      ok = parts[0].size() == 12 && parts[0].find_first_not_of("0123456789") == std::string::npos;
    } else if (parts.size() <= 2) {
      ref.name = parts[0];
      if (parts.size() == 2) ref.qualifier = parts[1];
      ok = true;
    }
    if (!ok || !valid_name(ref.name) ||
        (parts.size() > 1 && !ref.qualifier.empty() && !valid_qualifier(ref.qualifier)))
      throw constraint(text, field,
                       std::string("satisfy regular expression pattern: ") + kNamePattern);
    return ref;
  }

  // The function a FunctionName names, with the qualifier the query may add; only $LATEST
  // exists.
  json function(const std::string& text, const std::string& query_qualifier = "") {
    auto ref = parse_ref(text);
    if (!query_qualifier.empty() && !ref.qualifier.empty() && query_qualifier != ref.qualifier)
      throw invalid(
          "The derived qualifier from the function name does not match the specified "
          "qualifier.");
    std::string qualifier = ref.qualifier.empty() ? query_qualifier : ref.qualifier;
    if ((!ref.region.empty() && ref.region != sim_.options().region) ||
        (!ref.account.empty() && ref.account != sim_.options().account_id))
      throw AwsError(404, "ResourceNotFoundException", "Function not found: " + text);
    auto doc = sim_.state().get("lambda", "function", ref.name);
    if (!doc || (!qualifier.empty() && qualifier != "$LATEST"))
      throw not_found(ref.name, qualifier);
    return *doc;
  }

  void save(const json& doc) {
    sim_.state().put("lambda", "function", doc["FunctionName"].get<std::string>(), doc);
  }

  static json public_view(json doc) {
    for (auto it = doc.begin(); it != doc.end();)
      it = it.key().rfind("sim:", 0) == 0 ? doc.erase(it) : std::next(it);
    return doc;
  }

  // ListFunctions leaves out the state fields (GetFunction has them).
  static json list_view(const json& doc) {
    json v = public_view(doc);
    for (const char* k :
         {"State", "StateReason", "StateReasonCode", "LastUpdateStatus", "LastUpdateStatusReason",
          "LastUpdateStatusReasonCode", "RuntimeVersionConfig"})
      v.erase(k);
    return v;
  }

  // ------------------------------------------------------------------ validation

  void check_role(const json& in) {
    std::string role = string_field(in, "Role");
    static const std::regex re(kRolePattern);
    if (!std::regex_match(role, re))
      throw constraint(role, "role",
                       std::string("satisfy regular expression pattern: ") + kRolePattern);
  }

  static void check_range(const json& in, const char* field, int lo, int hi) {
    if (!in.contains(field) || in[field].is_null()) return;
    int v = integer_field(in[field], field);
    if (std::string(field) == "MemorySize") {
      if (v < lo)
        throw validation(
            "'MemorySize' value failed to satisfy constraint: Member must have value greater "
            "than or equal to " +
            std::to_string(lo));
      if (v > hi)
        throw validation(
            "'MemorySize' value failed to satisfy constraint: Member must have value less than "
            "or equal to " +
            std::to_string(hi));
      return;
    }
    std::string camel = field;
    camel[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(camel[0])));
    if (v < lo)
      throw constraint(std::to_string(v), camel,
                       "have value greater than or equal to " + std::to_string(lo));
    if (v > hi)
      throw constraint(std::to_string(v), camel,
                       "have value less than or equal to " + std::to_string(hi));
  }

  static json check_environment(const json& env) {
    if (!env.is_object())
      throw AwsError(400, "SerializationException", "Environment must be a structure");
    json vars = env.value("Variables", json::object());
    if (!vars.is_object())
      throw AwsError(400, "SerializationException", "Environment.Variables must be a map");
    static const std::regex key_re("[a-zA-Z]([a-zA-Z0-9_])+");
    std::vector<std::string> reserved;
    std::size_t bytes = 0;
    for (const auto& [k, v] : vars.items()) {
      if (!v.is_string())
        throw AwsError(400, "SerializationException",
                       "Environment.Variables values must be strings");
      if (!std::regex_match(k, key_re))
        throw constraint(k, "environment.variables",
                         "satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+");
      if (kReservedVariables.count(k)) reserved.push_back(k);
      bytes += k.size() + v.get<std::string>().size();
    }
    if (!reserved.empty()) {
      std::string keys;
      for (const auto& k : reserved)
        keys += (keys.empty() ? "" : ", ") + k;
      throw invalid(
          "Lambda was unable to configure your environment variables because the environment "
          "variables you have provided contains reserved keys that are currently not supported "
          "for modification. Reserved keys used in this request: " +
          keys);
    }
    if (bytes > kMaxEnvironmentBytes)
      throw invalid(
          "Lambda was unable to configure your environment variables because the environment "
          "variables you have provided exceeded the 4KB limit. String measured: " +
          vars.dump());
    return vars;
  }

  static json check_image_config(const json& ic) {
    if (!ic.is_object())
      throw AwsError(400, "SerializationException", "ImageConfig must be a structure");
    json out = json::object();
    if (ic.contains("EntryPoint") && !ic["EntryPoint"].is_null())
      out["EntryPoint"] = string_list(ic["EntryPoint"], "ImageConfig.EntryPoint");
    if (ic.contains("Command") && !ic["Command"].is_null())
      out["Command"] = string_list(ic["Command"], "ImageConfig.Command");
    if (ic.contains("WorkingDirectory") && !ic["WorkingDirectory"].is_null())
      out["WorkingDirectory"] = string_field(ic, "WorkingDirectory");
    return out;
  }

  static json check_vpc(const json& vpc) {
    if (!vpc.is_object())
      throw AwsError(400, "SerializationException", "VpcConfig must be a structure");
    json subnets = string_list(vpc.value("SubnetIds", json()), "VpcConfig.SubnetIds");
    json groups = string_list(vpc.value("SecurityGroupIds", json()), "VpcConfig.SecurityGroupIds");
    if (subnets.size() > 16)
      throw constraint(subnets.dump(), "vpcConfig.subnetIds",
                       "have length less than or equal to 16");
    if (groups.size() > 5)
      throw constraint(groups.dump(), "vpcConfig.securityGroupIds",
                       "have length less than or equal to 5");
    return {{"SubnetIds", subnets},
            {"SecurityGroupIds", groups},
            {"VpcId", ""},
            {"Ipv6AllowedForDualStack", vpc.value("Ipv6AllowedForDualStack", false)}};
  }

  static json check_architectures(const json& v) {
    json a = string_list(v, "Architectures");
    if (a.size() != 1)
      throw constraint(a.dump(), "architectures",
                       "have length less than or equal to 1 and greater than or equal to 1");
    if (a[0] != "x86_64" && a[0] != "arm64")
      throw constraint(a.dump(), "architectures", "satisfy enum value set: [x86_64, arm64]");
    return a;
  }

  // What Lambda does not do here, named.
  static void check_unsupported(const json& in) {
    if (in.contains("Layers") && !in["Layers"].empty())
      throw invalid("sockerless-sim does not implement layers (Layers)");
    if (in.contains("FileSystemConfigs") && !in["FileSystemConfigs"].empty())
      throw invalid("sockerless-sim does not implement EFS for functions (FileSystemConfigs)");
    if (!string_field(in, "CodeSigningConfigArn").empty())
      throw invalid("sockerless-sim does not implement code signing (CodeSigningConfigArn)");
    if (in.value("Publish", false))
      throw invalid("sockerless-sim does not implement function versions (Publish)");
    if (in.contains("LoggingConfig") && in["LoggingConfig"].is_object() &&
        in["LoggingConfig"].value("LogFormat", "Text") != "Text")
      throw invalid("sockerless-sim writes function logs as Text only (LoggingConfig.LogFormat)");
  }

  // Fields CreateFunction and UpdateFunctionConfiguration share, checked and applied to doc.
  void apply_configuration(const json& in, json& doc) {
    check_unsupported(in);
    if (in.contains("Role") && !in["Role"].is_null()) {
      check_role(in);
      doc["Role"] = in["Role"];
    }
    check_range(in, "Timeout", 1, 900);
    check_range(in, "MemorySize", 128, 10240);
    if (in.contains("Timeout") && !in["Timeout"].is_null()) doc["Timeout"] = in["Timeout"];
    if (in.contains("MemorySize") && !in["MemorySize"].is_null())
      doc["MemorySize"] = in["MemorySize"];
    if (in.contains("Description") && !in["Description"].is_null()) {
      std::string d = string_field(in, "Description");
      if (d.size() > 256)
        throw constraint(d, "description", "have length less than or equal to 256");
      doc["Description"] = d;
    }
    if (in.contains("Environment") && !in["Environment"].is_null())
      doc["Environment"] = {{"Variables", check_environment(in["Environment"])}};
    if (in.contains("ImageConfig") && !in["ImageConfig"].is_null())
      doc["ImageConfigResponse"] = {{"ImageConfig", check_image_config(in["ImageConfig"])}};
    if (in.contains("VpcConfig") && !in["VpcConfig"].is_null())
      doc["VpcConfig"] = check_vpc(in["VpcConfig"]);
    if (in.contains("EphemeralStorage") && !in["EphemeralStorage"].is_null()) {
      const json& e = in["EphemeralStorage"];
      if (!e.is_object()) throw AwsError(400, "SerializationException", "EphemeralStorage");
      check_range(e, "Size", 512, 10240);
      doc["EphemeralStorage"] = {{"Size", integer_field(must(e, "Size", "ephemeralStorage.size"),
                                                        "EphemeralStorage.Size")}};
    }
    if (in.contains("TracingConfig") && in["TracingConfig"].is_object()) {
      std::string mode = string_field(in["TracingConfig"], "Mode");
      if (!mode.empty() && mode != "Active" && mode != "PassThrough")
        throw constraint(mode, "tracingConfig.mode",
                         "satisfy enum value set: [Active, PassThrough]");
      if (!mode.empty()) doc["TracingConfig"] = {{"Mode", mode}};
    }
    if (in.contains("LoggingConfig") && in["LoggingConfig"].is_object()) {
      std::string group = string_field(in["LoggingConfig"], "LogGroup");
      if (!group.empty()) doc["LoggingConfig"]["LogGroup"] = group;
    }
    if (in.contains("DeadLetterConfig") && in["DeadLetterConfig"].is_object())
      doc["DeadLetterConfig"] = in["DeadLetterConfig"];
    if (in.contains("KMSKeyArn") && !in["KMSKeyArn"].is_null())
      doc["KMSKeyArn"] = string_field(in, "KMSKeyArn");
  }

  // The simulator's own registry (ECR's): an image there must exist when named. Returns
  // its digest ("" for images elsewhere, which their pull checks).
  std::string check_image(const std::string& uri) {
    image::Reference ref;
    try {
      ref = image::parse_reference(uri);
    } catch (const std::exception&) {
      throw invalid("Source image " + uri + " is not valid. Provide a valid source image.");
    }
    if (ref.domain != sim_.endpoint() && ref.domain != sim_.vpc_endpoint()) return "";
    image::AuthConfig auth;
    auth.server_address = ref.domain;
    if (sim_.pull_credentials) {
      auto [u, p] = sim_.pull_credentials(uri);
      auth.username = u;
      auth.password = p;
    }
    try {
      auto m = sim_.workloads().engine().images().registry().manifest(
          ref, ref.digest.empty() ? (ref.tag.empty() ? "latest" : ref.tag) : ref.digest, auth);
      return m.digest;
    } catch (const std::exception& e) {
      spdlog::debug("lambda: image {}: {}", uri, e.what());
      throw invalid("Source image " + uri + " does not exist. Provide a valid source image.");
    }
  }

  static std::string hex_of(const std::string& digest) {
    auto colon = digest.find(':');
    return colon == std::string::npos ? digest : digest.substr(colon + 1);
  }

  // ------------------------------------------------------------------ functions

  json create_function(const json& in, const AwsContext&) {
    must(in, "FunctionName", "functionName");
    std::string text = string_field(in, "FunctionName");
    must(in, "Role", "role");
    const json& code = must(in, "Code", "code");
    if (!code.is_object())
      throw AwsError(400, "SerializationException", "Code must be a structure");
    auto ref = parse_ref(text);
    if (!ref.qualifier.empty())
      throw invalid("Qualified function names are not allowed in CreateFunction: " + text);
    std::string package = string_field(in, "PackageType");
    if (package.empty()) package = "Zip";
    if (package != "Image" && package != "Zip")
      throw constraint(package, "packageType", "satisfy enum value set: [Zip, Image]");
    if (package != "Image")
      throw invalid(
          "sockerless-sim runs container image functions only: PackageType Zip is not "
          "implemented (give PackageType Image and Code.ImageUri)");
    std::string uri = string_field(code, "ImageUri");
    if (uri.empty() || code.contains("ZipFile") || code.contains("S3Bucket"))
      throw invalid("Please provide ImageUri when creating a function with PackageType Image.");
    json arch = in.contains("Architectures") ? check_architectures(in["Architectures"])
                                             : json::array({"x86_64"});
    std::string name = ref.name;
    json tags = in.value("Tags", json::object());
    check_tags(tags);

    json doc = {{"FunctionName", name},
                {"FunctionArn", arn_of(name)},
                {"CodeSize", 0},
                {"Description", ""},
                {"Timeout", 3},
                {"MemorySize", 128},
                {"Version", "$LATEST"},
                {"TracingConfig", {{"Mode", "PassThrough"}}},
                {"PackageType", "Image"},
                {"Architectures", arch},
                {"EphemeralStorage", {{"Size", 512}}},
                {"SnapStart", {{"ApplyOn", "None"}, {"OptimizationStatus", "Off"}}},
                {"LoggingConfig", {{"LogFormat", "Text"}, {"LogGroup", "/aws/lambda/" + name}}}};
    apply_configuration(in, doc);
    std::string digest = check_image(uri);
    doc["CodeSha256"] = hex_of(digest);
    doc["LastModified"] = last_modified();
    doc["RevisionId"] = random_uuid();
    doc["State"] = "Pending";
    doc["StateReason"] = "The function is being created.";
    doc["StateReasonCode"] = "Creating";
    doc["sim:image"] = uri;
    doc["sim:tags"] = tags;
    doc["sim:token"] = random_hex(8);
    doc["sim:generation"] = new_generation();
    {
      std::lock_guard lock(mu_);
      if (!sim_.state().insert("lambda", "function", name, doc))
        throw conflict("Function already exist: " + name);
    }
    start_activation(name, doc["sim:token"], std::nullopt);
    return public_view(doc);
  }

  json get_function(const std::string& fn, const std::string& qualifier) {
    json doc = function(fn, qualifier);
    json code = {{"RepositoryType", "ECR"}, {"ImageUri", doc.value("sim:image", "")}};
    if (doc.contains("sim:resolved")) code["ResolvedImageUri"] = doc["sim:resolved"];
    json out = {{"Configuration", public_view(doc)}, {"Code", code}};
    if (!doc.value("sim:tags", json::object()).empty()) out["Tags"] = doc["sim:tags"];
    return out;
  }

  json get_configuration(const std::string& fn, const std::string& qualifier) {
    return public_view(function(fn, qualifier));
  }

  json list_functions(const http::Request& req) {
    std::string version = req.query.get("FunctionVersion").value_or("");
    if (!version.empty() && version != "ALL")
      throw constraint(version, "functionVersion", "satisfy enum value set: [ALL]");
    long max = 0;
    if (auto m = req.query.get("MaxItems")) {
      try {
        std::size_t used = 0;
        max = std::stol(*m, &used);
        if (used != m->size()) throw std::invalid_argument(*m);
      } catch (const std::exception&) {
        throw AwsError(400, "SerializationException", "MaxItems must be an integer: " + *m);
      }
      if (max < 1 || max > 10000)
        throw constraint(*m, "maxItems",
                         max < 1 ? "have value greater than or equal to 1"
                                 : "have value less than or equal to 10000");
    }
    auto all = sim_.state().list("lambda", "function");
    std::sort(all.begin(), all.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    auto page = page_of(all.size(), req.query.get("Marker").value_or(""), max, 50,
                        "InvalidParameterValueException");
    json fns = json::array();
    for (std::size_t i = page.begin; i < page.begin + page.count; ++i)
      fns.push_back(list_view(all[i].second));
    json out = {{"Functions", fns}};
    if (!page.next_token.empty()) out["NextMarker"] = page.next_token;
    return out;
  }

  // Updates wait for the function to be Active and for the update before them to finish.
  void check_updatable(const json& doc, const json& in) {
    std::string state = doc.value("State", "");
    if (state != "Active")
      throw conflict(
          "The operation cannot be performed at this time. The function is currently in the "
          "following state: " +
          state);
    if (doc.value("LastUpdateStatus", "") == "InProgress")
      throw conflict(
          "The operation cannot be performed at this time. An update is in progress for "
          "resource: " +
          doc.value("FunctionArn", ""));
    std::string revision = string_field(in, "RevisionId");
    if (!revision.empty() && revision != doc.value("RevisionId", ""))
      throw AwsError(412, "PreconditionFailedException",
                     "The Revision Id provided does not match the latest Revision Id. Call the "
                     "GetFunction/GetAlias API to retrieve the latest Revision Id");
  }

  static void mark_in_progress(json& doc) {
    doc["LastModified"] = last_modified();
    doc["RevisionId"] = random_uuid();
    doc["LastUpdateStatus"] = "InProgress";
    doc["LastUpdateStatusReason"] = "The function is being created.";
    doc["LastUpdateStatusReasonCode"] = "Creating";
    doc["sim:generation"] = new_generation();
  }

  json update_configuration(const std::string& fn, const json& in) {
    std::lock_guard lock(mu_);
    json doc = function(fn);
    check_updatable(doc, in);
    apply_configuration(in, doc);
    mark_in_progress(doc);
    save(doc);
    start_activation(doc["FunctionName"], doc["sim:token"], std::nullopt);
    return public_view(doc);
  }

  json update_code(const std::string& fn, const json& in) {
    if (in.contains("ZipFile") || in.contains("S3Bucket") || in.contains("S3Key"))
      throw invalid(
          "sockerless-sim runs container image functions only: Zip code is not implemented "
          "(give ImageUri)");
    std::string uri = string_field(in, "ImageUri");
    if (uri.empty())
      throw invalid("Please provide ImageUri when updating a function with packageType Image.");
    if (in.value("Publish", false))
      throw invalid("sockerless-sim does not implement function versions (Publish)");
    // The registry is asked before the lock is taken: a slow registry must not hold up every
    // other call on functions.
    std::string digest = check_image(uri);
    std::lock_guard lock(mu_);
    json doc = function(fn);
    check_updatable(doc, in);
    json arch = in.contains("Architectures") ? check_architectures(in["Architectures"])
                                             : doc.value("Architectures", json::array());
    if (in.value("DryRun", false)) return public_view(doc);
    doc["Architectures"] = arch;
    mark_in_progress(doc);
    doc["sim:pendingImage"] = uri;
    if (!digest.empty()) doc["CodeSha256"] = hex_of(digest);
    save(doc);
    start_activation(doc["FunctionName"], doc["sim:token"], uri);
    return public_view(doc);
  }

  http::Response delete_function(const std::string& fn, const std::string& qualifier,
                                 const AwsContext& ctx) {
    std::string name;
    {
      std::lock_guard lock(mu_);
      json doc = function(fn, qualifier);
      name = doc["FunctionName"];
      sim_.state().erase("lambda", "function", name);
    }
    runtime_->remove(name);
    return empty(204, ctx);
  }

  // ------------------------------------------------------------------ activation

  // What the function's environments run, from its record.
  static FunctionSetup setup_of(const json& doc, const json& image) {
    FunctionSetup s;
    s.name = doc.value("FunctionName", "");
    s.arn = doc.value("FunctionArn", "");
    s.generation = doc.value("sim:generation", std::int64_t{0});
    s.image = image.value("resolved", "");
    json ic = doc.value("ImageConfigResponse", json::object()).value("ImageConfig", json::object());
    json ep = ic.value("EntryPoint", json::array());
    json cmd = ic.value("Command", json::array());
    s.entrypoint = ep.empty() ? json() : ep;
    s.cmd = cmd.empty() ? json() : cmd;
    s.working_dir = ic.value("WorkingDirectory", "");
    // _HANDLER is the command the image (or ImageConfig) gives, as the base images read it.
    s.handler = join(cmd.empty() ? image.value("cmd", json()) : cmd);
    s.variables = doc.value("Environment", json::object()).value("Variables", json::object());
    s.memory_mb = doc.value("MemorySize", 128);
    s.timeout_s = doc.value("Timeout", 3);
    s.log_group =
        doc.value("LoggingConfig", json::object()).value("LogGroup", "/aws/lambda/" + s.name);
    return s;
  }

  void start_activation(const std::string& name, const std::string& token,
                        std::optional<std::string> new_image) {
    std::lock_guard lock(threads_mu_);
    if (closing_) return;
    // Activations that have ended are joined here, the rest at shutdown.
    for (auto it = threads_.begin(); it != threads_.end();) {
      if (*it->second) {
        it->first.join();
        it = threads_.erase(it);
      } else {
        ++it;
      }
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    threads_.emplace_back(std::thread([this, name, token, new_image, done] {
                            activate(name, token, new_image);
                            *done = true;
                          }),
                          done);
  }

  // Pending → Active (or Failed), InProgress → Successful (or Failed): the image pulled
  // and a container of the new configuration made, ready to start.
  void activate(const std::string& name, const std::string& token,
                const std::optional<std::string>& new_image) {
    auto doc = sim_.state().get("lambda", "function", name);
    if (!doc || doc->value("sim:token", "") != token) return;
    bool creating = doc->value("State", "") == "Pending";
    json image = doc->value("sim:imageInfo", json());
    std::int64_t generation = doc->value("sim:generation", std::int64_t{0});
    FunctionSetup setup;
    try {
      if (new_image || image.is_null()) {
        std::string uri = new_image.value_or(doc->value("sim:image", ""));
        auto resolved = runtime_->resolve(uri);
        image = {{"uri", uri},
                 {"digest", resolved.digest},
                 {"resolved", resolved.resolved},
                 {"entrypoint", resolved.entrypoint},
                 {"cmd", resolved.cmd},
                 {"workingDir", resolved.working_dir}};
      }
      setup = setup_of(*doc, image);
      runtime_->prepare(setup);
    } catch (const std::exception& e) {
      if (closing_) return;
      std::string what = e.what();
      std::string code = "InternalError";
      std::string reason = "Lambda could not create the function's container: " + what;
      if (dynamic_cast<const PullError*>(&e)) {
        std::string lower = what;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        bool denied = lower.find("unauthorized") != std::string::npos ||
                      lower.find("denied") != std::string::npos;
        code = denied ? "ImageAccessDenied" : "InvalidImage";
        reason = "Lambda could not pull the function's image " +
                 new_image.value_or(doc->value("sim:image", "")) + ": " + what;
      }
      spdlog::info("lambda: {}: {}", name, reason);
      update(name, token, generation, [&](json& d) {
        if (creating) {
          d["State"] = "Failed";
          d["StateReason"] = reason;
          d["StateReasonCode"] = code;
        }
        d["LastUpdateStatus"] = "Failed";
        d["LastUpdateStatusReason"] = reason;
        d["LastUpdateStatusReasonCode"] = code;
        d.erase("sim:pendingImage");
      });
      return;
    }
    bool current = update(name, token, generation, [&](json& d) {
      d["State"] = "Active";
      d.erase("StateReason");
      d.erase("StateReasonCode");
      d["LastUpdateStatus"] = "Successful";
      d.erase("LastUpdateStatusReason");
      d.erase("LastUpdateStatusReasonCode");
      d["CodeSha256"] = hex_of(image.value("digest", ""));
      d["sim:image"] = image.value("uri", d.value("sim:image", ""));
      d["sim:resolved"] = image.value("resolved", "");
      d["sim:imageInfo"] = image;
      d["sim:active"] = setup.to_json();
      d.erase("sim:pendingImage");
    });
    if (current) {
      runtime_->retire(name, generation);
      return;
    }
    // Deleted or replaced meanwhile: what was made for it goes.
    auto now = sim_.state().get("lambda", "function", name);
    if (!now)
      runtime_->remove(name);
    else
      runtime_->retire(name, now->value("sim:generation", std::int64_t{0}));
  }

  // Changes the function's record if it is still the incarnation and generation the
  // change is for.
  template <class F>
  bool update(const std::string& name, const std::string& token, std::int64_t generation,
              F&& change) {
    std::lock_guard lock(mu_);
    auto doc = sim_.state().get("lambda", "function", name);
    if (!doc || doc->value("sim:token", "") != token ||
        doc->value("sim:generation", std::int64_t{0}) != generation)
      return false;
    change(*doc);
    save(*doc);
    return true;
  }

  // ------------------------------------------------------------------ Invoke

  http::Response invoke(const std::string& fn, const std::string& qualifier, http::Request& req,
                        const AwsContext& ctx) {
    json doc = function(fn, qualifier);
    std::string type = req.headers.get("X-Amz-Invocation-Type").value_or("RequestResponse");
    if (type != "RequestResponse" && type != "Event" && type != "DryRun")
      throw constraint(type, "invocationType",
                       "satisfy enum value set: [Event, RequestResponse, DryRun]");
    std::string log_type = req.headers.get("X-Amz-Log-Type").value_or("None");
    if (log_type != "None" && log_type != "Tail")
      throw constraint(log_type, "logType", "satisfy enum value set: [None, Tail]");
    std::string state = doc.value("State", "");
    if (state != "Active" || !doc.contains("sim:active"))
      throw conflict(
          "The operation cannot be performed at this time. The function is currently in the "
          "following state: " +
          state);
    std::size_t limit = type == "Event" ? kMaxAsyncPayload : kMaxSyncPayload;
    if (req.body.size() > limit)
      throw AwsError(413, "RequestTooLargeException",
                     "Request must be smaller than " + std::to_string(limit) + " bytes for the " +
                         (type == "Event" ? "InvokeAsync" : "InvokeFunction") + " operation");
    std::string payload = req.body.empty() ? "{}" : req.body;
    auto parsed = json::parse(payload, nullptr, false);
    if (parsed.is_discarded())
      throw AwsError(400, "InvalidRequestContentException",
                     "Could not parse request body into json: Could not parse payload into json: "
                     "the payload is not valid JSON");
    std::string context;
    if (auto cc = req.headers.get("X-Amz-Client-Context"); cc && !cc->empty()) {
      try {
        context = image::base64_decode(*cc);
      } catch (const std::exception&) {
        context.clear();
      }
      auto c = json::parse(context, nullptr, false);
      if (context.empty() || !c.is_object() || cc->size() > 3583)
        throw AwsError(400, "InvalidRequestContentException",
                       "Client context must be a valid Base64-encoded JSON object.");
    }
    if (type == "DryRun") return empty(204, ctx);
    auto setup = FunctionSetup::from_json(doc.value("sim:active", json::object()));
    if (type == "Event") {
      runtime_->invoke(setup, ctx.request_id, std::move(payload), std::move(context), false);
      return empty(202, ctx);
    }
    auto result =
        runtime_->invoke(setup, ctx.request_id, std::move(payload), std::move(context), true);
    http::Response r = http::Response::json(200, result.payload);
    r.headers.set("Content-Type", "application/json");
    r.headers.set("x-amzn-RequestId", ctx.request_id);
    r.headers.set("X-Amz-Executed-Version", "$LATEST");
    if (!result.function_error.empty())
      r.headers.set("X-Amz-Function-Error", result.function_error);
    if (log_type == "Tail")
      r.headers.set("X-Amz-Log-Result", image::base64_encode(result.log_tail));
    return r;
  }

  // ------------------------------------------------------------------ tags

  static void check_tags(const json& tags) {
    if (!tags.is_object())
      throw AwsError(400, "SerializationException", "Tags must be a map of strings");
    if (tags.size() > 50) throw invalid("Tags: Number of tags exceeds resource tag limit.");
    for (const auto& [k, v] : tags.items()) {
      if (!v.is_string())
        throw AwsError(400, "SerializationException", "Tags must be a map of strings");
      if (k.empty() || k.size() > 128)
        throw constraint(k, "tags", "have length between 1 and 128 for keys");
      if (v.get<std::string>().size() > 256)
        throw constraint(v.get<std::string>(), "tags", "have length less than or equal to 256");
    }
  }

  // The function a tag call's Resource names: its full, unqualified ARN.
  std::string tagged(const std::string& resource) {
    auto bad = [&] {
      return constraint(resource, "resource",
                        "satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}"
                        "((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:function:[a-zA-Z0-9-_]+");
    };
    if (resource.rfind("arn:", 0) != 0) throw bad();
    FunctionRef ref = parse_ref(resource, "resource");
    if (ref.region.empty()) throw bad();
    if (!ref.qualifier.empty())
      throw invalid("Tags are not supported on function versions or aliases: " + resource);
    if (ref.region != sim_.options().region || ref.account != sim_.options().account_id ||
        !sim_.state().get("lambda", "function", ref.name))
      throw AwsError(404, "ResourceNotFoundException", "Function not found: " + resource);
    return ref.name;
  }

  json list_tags(const std::string& resource) {
    std::string name = tagged(resource);
    auto doc = sim_.state().get("lambda", "function", name);
    if (!doc) throw AwsError(404, "ResourceNotFoundException", "Function not found: " + resource);
    return {{"Tags", doc->value("sim:tags", json::object())}};
  }

  http::Response tag_resource(const std::string& resource, const json& in, const AwsContext& ctx) {
    const json& add = must(in, "Tags", "tags");
    check_tags(add);
    std::lock_guard lock(mu_);
    std::string name = tagged(resource);
    auto doc = sim_.state().get("lambda", "function", name);
    if (!doc) throw AwsError(404, "ResourceNotFoundException", "Function not found: " + resource);
    json tags = doc->value("sim:tags", json::object());
    for (const auto& [k, v] : add.items())
      tags[k] = v;
    check_tags(tags);
    (*doc)["sim:tags"] = tags;
    save(*doc);
    return empty(204, ctx);
  }

  http::Response untag_resource(const std::string& resource, const http::Request& req,
                                const AwsContext& ctx) {
    auto keys = req.query.all("tagKeys");
    if (!req.query.has("tagKeys"))
      throw validation(
          "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: "
          "Member must not be null");
    std::lock_guard lock(mu_);
    std::string name = tagged(resource);
    auto doc = sim_.state().get("lambda", "function", name);
    if (!doc) throw AwsError(404, "ResourceNotFoundException", "Function not found: " + resource);
    json tags = doc->value("sim:tags", json::object());
    for (const auto& k : keys)
      tags.erase(k);
    (*doc)["sim:tags"] = tags;
    save(*doc);
    return empty(204, ctx);
  }

  // ------------------------------------------------------------------ shutdown

  void shutdown() {
    {
      std::lock_guard lock(threads_mu_);
      if (closing_) return;
      closing_ = true;
    }
    runtime_->shutdown();
    std::list<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> threads;
    {
      std::lock_guard lock(threads_mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads)
      t.first.join();
  }

  Simulator& sim_;
  std::unique_ptr<LambdaRuntime> runtime_;
  std::mutex mu_;  // functions' read-modify-write
  std::mutex threads_mu_;
  // Activations, each with its "done" flag.
  std::list<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> threads_;
  std::atomic<bool> closing_{false};
};

}  // namespace

std::shared_ptr<AwsService> make_lambda(Simulator& sim, std::shared_ptr<LogsStore> logs) {
  auto lambda = std::make_shared<Lambda>(sim, std::move(logs));
  lambda->recover();
  return lambda;
}

}  // namespace sockerless::sims::aws
