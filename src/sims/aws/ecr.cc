// ECR (JSON 1.1, AmazonEC2ContainerRegistry_V20150921): repositories, the images in them,
// authorization tokens, tags, and the OCI registry the images are pushed to and pulled
// from (sims/common/registry.h), served under /v2/ on the simulator's own address.
//
// Where ECR differs from AWS's: a repository's URI is "<simulator address>/<name>"
// ("127.0.0.1:4566/app", which docker and sockerless treat as an insecure registry and
// reach over plain HTTP), not "<account>.dkr.ecr.<region>.amazonaws.com/<name>"; the
// registry's password is "<expiry>.<HMAC>" signed with a secret of the data root's state,
// so a token stays valid across restarts until it expires (12 hours).
#include <algorithm>
#include <set>
#include <variant>

#include "common/digest.h"
#include "common/ids.h"
#include "image/credentials.h"
#include "image/reference.h"
#include "image/registry_client.h"
#include "sims/aws/services.h"
#include "sims/common/registry.h"
#include "sims/common/service.h"
#include "sims/common/simulator.h"
#include "sims/common/state.h"

namespace sockerless::sims::aws {
namespace {

using json = nlohmann::json;

constexpr std::int64_t kTokenLifetime = 12 * 3600;  // seconds, as ECR's

AwsError invalid(const std::string& message) {
  return AwsError(400, "InvalidParameterException", message);
}

std::int64_t now_seconds() {
  return static_cast<std::int64_t>(epoch_seconds());
}

// An imageId as given: {imageDigest?, imageTag?}.
struct ImageId {
  std::string digest, tag;
  json as_json() const {
    json j = json::object();
    if (!digest.empty()) j["imageDigest"] = digest;
    if (!tag.empty()) j["imageTag"] = tag;
    return j;
  }
};

std::vector<ImageId> image_ids(const json& in) {
  std::vector<ImageId> out;
  if (!in.contains("imageIds") || in["imageIds"].is_null()) return out;
  if (!in["imageIds"].is_array())
    throw AwsError(400, "SerializationException", "imageIds must be a list");
  for (const auto& i : in["imageIds"]) {
    if (!i.is_object()) throw AwsError(400, "SerializationException", "imageIds hold objects");
    out.push_back({optional_string(i, "imageDigest"), optional_string(i, "imageTag")});
  }
  if (out.size() > 100)
    throw invalid(
        "1 validation error detected: Value at 'imageIds' failed to satisfy constraint: "
        "Member must have length less than or equal to 100");
  return out;
}

long max_results(const json& in) {
  if (!in.contains("maxResults") || in["maxResults"].is_null()) return 0;
  if (!in["maxResults"].is_number_integer())
    throw AwsError(400, "SerializationException", "maxResults must be an integer");
  long n = in["maxResults"].get<long>();
  if (n < 1 || n > 1000)
    throw invalid("1 validation error detected: Value '" + std::to_string(n) +
                  "' at 'maxResults' failed to satisfy constraint: Member must have value "
                  "between 1 and 1000");
  return n;
}

std::string tag_status(const json& in) {
  std::string s = in.contains("filter") && in["filter"].is_object()
                      ? optional_string(in["filter"], "tagStatus", "ANY")
                      : "ANY";
  if (s != "TAGGED" && s != "UNTAGGED" && s != "ANY")
    throw invalid("1 validation error detected: Value '" + s +
                  "' at 'filter.tagStatus' failed to satisfy constraint: Member must satisfy enum "
                  "value set: [TAGGED, UNTAGGED, ANY]");
  return s;
}

bool status_matches(const std::string& status, const ManifestRecord& m) {
  return status == "ANY" || (status == "TAGGED") == !m.tags.empty();
}

// ECR's tags: [{Key, Value}], keys 1-128 characters, values up to 256, at most 50.
json merge_tags(json tags, const json& add, const std::vector<std::string>& remove) {
  if (!tags.is_array()) tags = json::array();
  if (!add.is_array()) throw AwsError(400, "SerializationException", "tags must be a list");
  for (const auto& t : add) {
    if (!t.is_object() || !t.contains("Key") || !t["Key"].is_string())
      throw AwsError(400, "InvalidTagParameterException", "Each tag needs a Key");
    std::string k = t["Key"], v = optional_string(t, "Value");
    if (k.empty() || k.size() > 128 || v.size() > 256)
      throw AwsError(400, "InvalidTagParameterException",
                     "Tag keys can have a maximum character length of 128 characters, and tag "
                     "values can have a maximum length of 256 characters.");
    json next = json::array();
    for (const auto& old : tags)
      if (old.value("Key", "") != k) next.push_back(old);
    next.push_back({{"Key", k}, {"Value", v}});
    tags = next;
  }
  json next = json::array();
  for (const auto& old : tags)
    if (std::find(remove.begin(), remove.end(), old.value("Key", "")) == remove.end())
      next.push_back(old);
  if (next.size() > 50)
    throw AwsError(400, "TooManyTagsException", "A repository can have at most 50 tags");
  return next;
}

// Why an imageId names no image: ECR's failure code and reason.
using Failure = std::pair<std::string, std::string>;

class Ecr : public AwsService {
 public:
  explicit Ecr(Simulator& sim) : sim_(sim), account_(sim.options().account_id) {
    // The secret registry passwords are signed with: made once per data root.
    sim_.state().insert("ecr", "secret", "registry-password", {{"secret", random_hex(32)}});
    secret_ = sim_.state().get("ecr", "secret", "registry-password")->value("secret", "");

    RegistryPolicy policy;
    policy.service = "ecr.amazonaws.com";
    policy.authenticate = [this](const std::string& user, const std::string& password) {
      auto expiry = password_expiry(secret_, password);
      return user == "AWS" && expiry && *expiry > now_seconds();
    };
    policy.repository_exists = [this](const std::string& repo) {
      return sim_.state().get("ecr", "repository", repo).has_value();
    };
    policy.name_unknown = [this](const std::string& repo) { return not_found(repo).what(); };
    policy.manifest_unknown = "Requested image not found";
    policy.tag_immutable = [this](const std::string& repo, const std::string& tag) {
      auto doc = sim_.state().get("ecr", "repository", repo);
      if (!doc || doc->value("imageTagMutability", "MUTABLE") != "IMMUTABLE") return std::string();
      return "The image tag '" + tag + "' already exists in the '" + repo +
             "' repository and cannot be overwritten because the repository is immutable.";
    };
    registry_ = std::make_unique<Registry>(sim_.state(), sim_.options().data_root + "/registry",
                                           std::move(policy));
    sim_.add_prefix("/v2/", [this](http::Request& r) { return registry_->route(r); });
    // Workloads pulling from this registry log in as `docker login` would.
    sim_.pull_credentials =
        [this](const std::string& image) -> std::pair<std::string, std::string> {
      for (const auto& host : {sim_.endpoint(), sim_.vpc_endpoint()})
        if (image.rfind(host + "/", 0) == 0)
          return {"AWS", sign_password(secret_, now_seconds() + kTokenLifetime)};
      return {"", ""};
    };

    operation("CreateRepository",
              [this](const json& in, const AwsContext&) { return create_repository(in); });
    operation("DescribeRepositories",
              [this](const json& in, const AwsContext&) { return describe_repositories(in); });
    operation("DeleteRepository",
              [this](const json& in, const AwsContext&) { return delete_repository(in); });
    operation("PutImageTagMutability", [this](const json& in, const AwsContext&) {
      std::string name = repository_of(in);
      std::string m = required_string(in, "imageTagMutability");
      if (m != "MUTABLE" && m != "IMMUTABLE")
        throw invalid("sockerless-sim supports imageTagMutability MUTABLE and IMMUTABLE, not " + m);
      json doc = repository(name);
      doc["imageTagMutability"] = m;
      sim_.state().put("ecr", "repository", name, doc);
      return json{{"registryId", account_}, {"repositoryName", name}, {"imageTagMutability", m}};
    });
    operation("ListImages", [this](const json& in, const AwsContext&) { return list_images(in); });
    operation("DescribeImages",
              [this](const json& in, const AwsContext&) { return describe_images(in); });
    operation("BatchGetImage",
              [this](const json& in, const AwsContext&) { return batch_get_image(in); });
    operation("BatchDeleteImage",
              [this](const json& in, const AwsContext&) { return batch_delete_image(in); });
    operation("PutImage", [this](const json& in, const AwsContext&) { return put_image(in); });
    operation("GetAuthorizationToken", [this](const json& in, const AwsContext&) {
      std::int64_t expires = now_seconds() + kTokenLifetime;
      std::string token = image::base64_encode("AWS:" + sign_password(secret_, expires));
      json data = {{"authorizationToken", token},
                   {"expiresAt", static_cast<double>(expires)},
                   {"proxyEndpoint", "http://" + sim_.endpoint()}};
      json out = {{"authorizationData", json::array()}};
      std::size_t n = in.contains("registryIds") && in["registryIds"].is_array()
                          ? std::max<std::size_t>(in["registryIds"].size(), 1)
                          : 1;
      for (std::size_t i = 0; i < n; ++i)
        out["authorizationData"].push_back(data);
      return out;
    });
    operation("TagResource", [this](const json& in, const AwsContext&) {
      return change_tags(in, required(in, "tags"), {});
    });
    operation("UntagResource", [this](const json& in, const AwsContext&) {
      std::vector<std::string> keys;
      for (const auto& k : required(in, "tagKeys"))
        if (k.is_string()) keys.push_back(k.get<std::string>());
      return change_tags(in, json::array(), keys);
    });
    operation("ListTagsForResource", [this](const json& in, const AwsContext&) {
      return json{{"tags", repository(repository_of_arn(in)).value("sim:tags", json::array())}};
    });
  }

  std::string signing_name() const override { return "ecr"; }
  Protocol protocol() const override { return Protocol::kJson; }
  std::string target_prefix() const override { return "AmazonEC2ContainerRegistry_V20150921"; }

 private:
  AwsError not_found(const std::string& name) const {
    return AwsError(400, "RepositoryNotFoundException",
                    "The repository with name '" + name +
                        "' does not exist in the registry with id '" + account_ + "'");
  }

  AwsError image_not_found(const std::string& repo, const ImageId& id) const {
    return AwsError(400, "ImageNotFoundException",
                    "The image with imageId {imageDigest:'" +
                        (id.digest.empty() ? "null" : id.digest) + "', imageTag:'" +
                        (id.tag.empty() ? "null" : id.tag) +
                        "'} does not exist within the repository with name '" + repo +
                        "' in the registry with id '" + account_ + "'");
  }

  void check_registry_id(const json& in) const {
    std::string id = optional_string(in, "registryId");
    if (id.empty() || id == account_) return;
    if (id.size() != 12 || !std::all_of(id.begin(), id.end(), ::isdigit))
      throw invalid(
          "Invalid parameter at 'registryId' failed to satisfy constraint: 'must "
          "satisfy regular expression '[0-9]{12}''");
    throw invalid("sockerless-sim serves the registry with id '" + account_ + "' only, not '" + id +
                  "'");
  }

  static void check_name(const std::string& name) {
    if (!valid_repository_name(name))
      throw invalid(
          "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must "
          "satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/"
          ")*[a-z0-9]+(?:[._-][a-z0-9]+)*'' and have a length between 2 and 251");
  }

  json repository(const std::string& name) const {
    auto doc = sim_.state().get("ecr", "repository", name);
    if (!doc) throw not_found(name);
    return *doc;
  }

  // The repository a request names; it must exist.
  std::string repository_of(const json& in) const {
    check_registry_id(in);
    std::string name = required_string(in, "repositoryName");
    check_name(name);
    repository(name);
    return name;
  }

  std::string arn(const std::string& name) const {
    return "arn:aws:ecr:" + sim_.options().region + ":" + account_ + ":repository/" + name;
  }

  // The Repository shape: the stored document without the simulator's own fields, with
  // the URI of the address the simulator serves on now.
  json repository_out(json doc) const {
    for (auto it = doc.begin(); it != doc.end();)
      it = it.key().rfind("sim:", 0) == 0 ? doc.erase(it) : std::next(it);
    doc["repositoryUri"] = sim_.endpoint() + "/" + doc.value("repositoryName", "");
    return doc;
  }

  // ------------------------------------------------------------------ repositories
  json create_repository(const json& in) {
    check_registry_id(in);
    std::string name = required_string(in, "repositoryName");
    check_name(name);
    std::string mutability = optional_string(in, "imageTagMutability", "MUTABLE");
    if (mutability != "MUTABLE" && mutability != "IMMUTABLE")
      throw invalid("sockerless-sim supports imageTagMutability MUTABLE and IMMUTABLE, not " +
                    mutability);
    json tags = merge_tags(json::array(), in.value("tags", json::array()), {});
    json encryption = {{"encryptionType", "AES256"}};
    if (in.contains("encryptionConfiguration") && in["encryptionConfiguration"].is_object()) {
      encryption = in["encryptionConfiguration"];
      std::string type = optional_string(encryption, "encryptionType");
      if (type != "AES256" && type != "KMS" && type != "KMS_DSSE")
        throw invalid("Invalid parameter at 'encryptionConfiguration.encryptionType'");
    }
    bool scan = in.contains("imageScanningConfiguration") &&
                in["imageScanningConfiguration"].is_object() &&
                in["imageScanningConfiguration"].value("scanOnPush", false);
    json doc = {{"repositoryArn", arn(name)},
                {"registryId", account_},
                {"repositoryName", name},
                {"createdAt", epoch_seconds()},
                {"imageTagMutability", mutability},
                {"imageScanningConfiguration", {{"scanOnPush", scan}}},
                {"encryptionConfiguration", encryption},
                {"sim:tags", tags}};
    if (!sim_.state().insert("ecr", "repository", name, doc))
      throw AwsError(400, "RepositoryAlreadyExistsException",
                     "The repository with name '" + name +
                         "' already exists in the registry with id '" + account_ + "'");
    return json{{"repository", repository_out(doc)}};
  }

  json describe_repositories(const json& in) {
    check_registry_id(in);
    long max = max_results(in);
    std::string token = optional_string(in, "nextToken");
    json out = {{"repositories", json::array()}};
    if (in.contains("repositoryNames") && !in["repositoryNames"].is_null()) {
      if (max || !token.empty())
        throw invalid("maxResults and nextToken cannot be used with repositoryNames");
      for (const auto& n : in["repositoryNames"]) {
        std::string name = n.is_string() ? n.get<std::string>() : "";
        check_name(name);
        out["repositories"].push_back(repository_out(repository(name)));
      }
      return out;
    }
    auto all = sim_.state().list("ecr", "repository");
    Page page = page_of(all.size(), token, max, 100);
    for (std::size_t i = page.begin; i < page.begin + page.count; ++i)
      out["repositories"].push_back(repository_out(all[i].second));
    if (!page.next_token.empty()) out["nextToken"] = page.next_token;
    return out;
  }

  json delete_repository(const json& in) {
    std::string name = repository_of(in);
    bool force = in.value("force", false);
    if (!force && !registry_->manifests(name).empty())
      throw AwsError(400, "RepositoryNotEmptyException",
                     "The repository with name '" + name + "' in registry with id '" + account_ +
                         "' cannot be deleted because it still contains images");
    json doc = repository(name);
    sim_.state().erase("ecr", "repository", name);
    registry_->delete_repository(name);
    return json{{"repository", repository_out(doc)}};
  }

  // ------------------------------------------------------------------ images
  json list_images(const json& in) {
    std::string name = repository_of(in);
    std::string status = tag_status(in);
    json ids = json::array();
    for (const auto& m : registry_->manifests(name)) {
      if (!status_matches(status, m)) continue;
      if (m.tags.empty()) ids.push_back({{"imageDigest", m.digest}});
      for (const auto& t : m.tags)
        ids.push_back({{"imageDigest", m.digest}, {"imageTag", t}});
    }
    Page page = page_of(ids.size(), optional_string(in, "nextToken"), max_results(in), 100);
    json out = {{"imageIds", json::array()}};
    for (std::size_t i = page.begin; i < page.begin + page.count; ++i)
      out["imageIds"].push_back(ids[i]);
    if (!page.next_token.empty()) out["nextToken"] = page.next_token;
    return out;
  }

  json image_detail(const ManifestRecord& m) const {
    json d = {{"registryId", account_},
              {"repositoryName", m.repository},
              {"imageDigest", m.digest},
              {"imageSizeInBytes", m.image_size},
              {"imagePushedAt", static_cast<double>(m.pushed_at_ms) / 1000.0},
              {"imageManifestMediaType", m.media_type}};
    if (!m.tags.empty()) d["imageTags"] = m.tags;
    if (!m.artifact_media_type.empty()) d["artifactMediaType"] = m.artifact_media_type;
    return d;
  }

  // Why an imageId cannot name an image, or {"", ""} when it can.
  Failure id_problem(const ImageId& id) const {
    if (id.digest.empty() && id.tag.empty())
      return {"MissingDigestAndTag",
              "Invalid request parameters: both tag and digest cannot be null"};
    if (!id.digest.empty() && !image::valid_digest(id.digest))
      return {"InvalidImageDigest",
              "Invalid request parameters: image digest should satisfy the regex "
              "'[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"};
    if (!id.tag.empty() && !image::valid_tag(id.tag))
      return {"InvalidImageTag",
              "Invalid request parameters: image tag should satisfy the regex "
              "'[a-zA-Z0-9-_.]+'"};
    return {"", ""};
  }

  // The image an imageId names, or the failure (code, reason).
  std::variant<ManifestRecord, Failure> resolve(const std::string& repo, const ImageId& id) const {
    auto problem = id_problem(id);
    if (!problem.first.empty()) return problem;
    auto m = registry_->find(repo, id.digest.empty() ? id.tag : id.digest);
    if (m && !id.digest.empty() && !id.tag.empty() &&
        std::find(m->tags.begin(), m->tags.end(), id.tag) == m->tags.end())
      return Failure{"ImageTagDoesNotMatchDigest",
                     "Invalid request parameters: given tag does not map to "
                     "the given digest"};
    if (!m) return Failure{"ImageNotFound", "Requested image not found"};
    return *m;
  }

  json describe_images(const json& in) {
    std::string name = repository_of(in);
    std::string status = tag_status(in);
    auto ids = image_ids(in);
    json out = {{"imageDetails", json::array()}};
    if (!ids.empty()) {
      if (max_results(in) || !optional_string(in, "nextToken").empty())
        throw invalid("maxResults and nextToken cannot be used with imageIds");
      std::set<std::string> seen;
      for (const auto& id : ids) {
        auto r = resolve(name, id);
        if (auto* why = std::get_if<Failure>(&r)) {
          if (why->first == "ImageNotFound" || why->first == "ImageTagDoesNotMatchDigest")
            throw image_not_found(name, id);
          throw invalid(why->second);
        }
        const auto& m = std::get<ManifestRecord>(r);
        if (seen.insert(m.digest).second) out["imageDetails"].push_back(image_detail(m));
      }
      return out;
    }
    std::vector<ManifestRecord> all;
    for (auto& m : registry_->manifests(name))
      if (status_matches(status, m)) all.push_back(std::move(m));
    Page page = page_of(all.size(), optional_string(in, "nextToken"), max_results(in), 100);
    for (std::size_t i = page.begin; i < page.begin + page.count; ++i)
      out["imageDetails"].push_back(image_detail(all[i]));
    if (!page.next_token.empty()) out["nextToken"] = page.next_token;
    return out;
  }

  static json failure(const ImageId& id, const Failure& why) {
    return {{"imageId", id.as_json()}, {"failureCode", why.first}, {"failureReason", why.second}};
  }

  // The Batch* calls: each imageId resolved, those that name no image reported as
  // failures, the images handed to `each` (which may report failures of its own).
  template <class F>
  json batch(const json& in, const char* key, F&& each) {
    std::string name = repository_of(in);
    required(in, "imageIds");
    json out = {{key, json::array()}, {"failures", json::array()}};
    for (const auto& id : image_ids(in)) {
      auto r = resolve(name, id);
      if (auto* why = std::get_if<Failure>(&r))
        out["failures"].push_back(failure(id, *why));
      else
        each(name, id, std::get<ManifestRecord>(r), out);
    }
    return out;
  }

  json batch_get_image(const json& in) {
    return batch(
        in, "images",
        [&](const std::string& name, const ImageId& id, const ManifestRecord& m, json& out) {
          out["images"].push_back({{"registryId", account_},
                                   {"repositoryName", name},
                                   {"imageId", ImageId{m.digest, id.tag}.as_json()},
                                   {"imageManifest", m.body},
                                   {"imageManifestMediaType", m.media_type}});
        });
  }

  json batch_delete_image(const json& in) {
    return batch(
        in, "imageIds",
        [&](const std::string& name, const ImageId& id, const ManifestRecord& m, json& out) {
          // By tag alone: the tag goes, and the image with its last tag. By digest: the image.
          if (id.digest.empty() && m.tags.size() > 1) {
            registry_->untag(name, id.tag);
            out["imageIds"].push_back(ImageId{m.digest, id.tag}.as_json());
            return;
          }
          auto lists = registry_->indexes_listing(name, m.digest);
          if (!lists.empty()) {
            out["failures"].push_back(failure(
                id, {"ImageReferencedByManifestList",
                     "Requested image referenced by manifest list: [" + lists.front() + "]"}));
            return;
          }
          registry_->delete_manifest(name, m.digest);
          if (m.tags.empty()) out["imageIds"].push_back(ImageId{m.digest, ""}.as_json());
          for (const auto& t : m.tags)
            if (id.tag.empty() || t == id.tag)
              out["imageIds"].push_back(ImageId{m.digest, t}.as_json());
        });
  }

  json put_image(const json& in) {
    std::string name = repository_of(in);
    std::string manifest = required_string(in, "imageManifest");
    std::string type = optional_string(in, "imageManifestMediaType");
    std::string tag = optional_string(in, "imageTag");
    std::string digest = optional_string(in, "imageDigest");
    if (!tag.empty() && !image::valid_tag(tag))
      throw invalid(
          "Invalid parameter at 'imageTag' failed to satisfy constraint: 'must satisfy "
          "regular expression '[a-zA-Z0-9-_.]+''");
    if (!digest.empty() && !image::valid_digest(digest))
      throw invalid(
          "Invalid parameter at 'imageDigest' failed to satisfy constraint: 'must "
          "satisfy regular expression '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+''");
    std::string computed = sha256_digest(manifest);
    auto existing = registry_->find(name, computed);
    if (existing && (tag.empty() || std::find(existing->tags.begin(), existing->tags.end(), tag) !=
                                        existing->tags.end()))
      throw AwsError(400, "ImageAlreadyExistsException",
                     "Image with digest '" + computed + "' and tag '" + tag +
                         "' already exists in the repository with name '" + name +
                         "' in registry with id '" + account_ + "'");
    try {
      registry_->put_manifest(name, type, manifest, tag, digest);
    } catch (const RegistryError& e) {
      std::string missing = e.detail().is_object() ? e.detail().value("digest", "") : "";
      if (e.code() == "MANIFEST_BLOB_UNKNOWN" &&
          manifest.find("\"manifests\"") != std::string::npos)
        throw AwsError(400, "ReferencedImagesNotFoundException",
                       "Manifest references images that do not exist: [" + missing + "]");
      if (e.code() == "MANIFEST_BLOB_UNKNOWN")
        throw AwsError(400, "LayersNotFoundException",
                       "Layers with digests '[" + missing +
                           "]' required for pushing image into repository with name '" + name +
                           "' in registry with id '" + account_ + "' do not exist");
      if (e.code() == "DIGEST_INVALID")
        throw AwsError(400, "ImageDigestDoesNotMatchException",
                       "Invalid parameter at 'imageDigest' failed to satisfy constraint: 'must "
                       "match the digest of the image manifest'");
      if (e.code() == "TAG_INVALID")
        throw AwsError(400, "ImageTagAlreadyExistsException", e.what());
      throw invalid(std::string("Invalid parameter at 'imageManifest': ") + e.what());
    }
    auto m = registry_->find(name, computed);
    return json{{"image",
                 {{"registryId", account_},
                  {"repositoryName", name},
                  {"imageId", ImageId{computed, tag}.as_json()},
                  {"imageManifest", m->body},
                  {"imageManifestMediaType", m->media_type}}}};
  }

  // ------------------------------------------------------------------ tags
  std::string repository_of_arn(const json& in) const {
    std::string given = required_string(in, "resourceArn");
    std::string prefix = "arn:aws:ecr:" + sim_.options().region + ":" + account_ + ":repository/";
    if (given.rfind("arn:", 0) != 0)
      throw invalid(
          "Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid "
          "ARN'");
    if (given.rfind(prefix, 0) != 0) throw not_found(given);
    std::string name = given.substr(prefix.size());
    repository(name);
    return name;
  }

  json change_tags(const json& in, const json& add, const std::vector<std::string>& remove) {
    std::string name = repository_of_arn(in);
    json doc = repository(name);
    doc["sim:tags"] = merge_tags(doc.value("sim:tags", json::array()), add, remove);
    sim_.state().put("ecr", "repository", name, doc);
    return json::object();
  }

  Simulator& sim_;
  std::string account_, secret_;
  std::unique_ptr<Registry> registry_;
};

}  // namespace

std::shared_ptr<AwsService> make_ecr(Simulator& sim) {
  return std::make_shared<Ecr>(sim);
}

}  // namespace sockerless::sims::aws
