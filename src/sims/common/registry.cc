#include "sims/common/registry.h"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "common/digest.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "image/blob_store.h"
#include "image/credentials.h"
#include "image/reference.h"
#include "image/registry_client.h"
#include "sims/common/state.h"
#include "store/database.h"

namespace sockerless::sims {

using json = nlohmann::json;

// ------------------------------------------------------------------ the registry

namespace {

constexpr std::size_t kMaxManifestBytes = 4 << 20;  // ECR's limit

bool stored_digest(std::string_view d) {
  return d.substr(0, 7) == "sha256:" && image::valid_digest(d);
}

bool is_index(const std::string& media_type) {
  return media_type == image::kDockerManifestList || media_type == image::kOciIndex;
}
bool is_image_manifest(const std::string& media_type) {
  return media_type == image::kDockerManifest || media_type == image::kOciManifest;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Copies a streamed request body into a blob being written; returns the bytes copied.
std::uint64_t copy_body(int fd, image::BlobStore::Writer& w) {
  if (fd < 0) return 0;
  std::vector<char> buf(256 * 1024);
  std::uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(std::string("reading a blob: ") + std::strerror(errno));
    if (n == 0) return total;
    w.write(buf.data(), static_cast<std::size_t>(n));
    total += static_cast<std::uint64_t>(n);
  }
}

void drain(int fd) {
  char buf[4096];
  while (fd >= 0) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
  }
}

http::Response with_api_version(http::Response r) {
  r.headers.set("Docker-Distribution-API-Version", "registry/2.0");
  return r;
}

http::Response error_response(const RegistryError& e) {
  json body = {{"errors", json::array({{{"code", e.code()},
                                        {"message", std::string(e.what())},
                                        {"detail", e.detail()}}})}};
  auto r = http::Response::text(e.status(), body.dump(), "application/json; charset=utf-8");
  return with_api_version(std::move(r));
}

http::Response empty_answer(int status) {
  http::Response r = http::Response::empty(status);
  r.headers.set("Content-Length", "0");
  return with_api_version(std::move(r));
}

std::string range_of(std::uint64_t written) {
  return "0-" + std::to_string(written > 0 ? written - 1 : 0);
}

// One blob upload in progress (POST … PATCH … PUT): where it goes and what it has so far.
struct Upload {
  Upload(std::string r, image::BlobStore::Writer w) : repo(std::move(r)), writer(std::move(w)) {}
  std::string repo;
  image::BlobStore::Writer writer;
  std::mutex mu;
};

}  // namespace

struct Registry::Impl {
  Impl(State& s, std::string root, RegistryPolicy p)
      : state(s), blobs(std::move(root)), policy(std::move(p)) {}

  State& state;
  image::BlobStore blobs;
  RegistryPolicy policy;
  std::mutex uploads_mu;
  std::map<std::string, std::shared_ptr<Upload>> uploads;

  store::Database& db() { return state.db(); }

  // -------------------------------------------------------------- records
  bool has_blob(const std::string& repo, const std::string& digest) {
    auto lock = db().lock();
    auto s = db().prepare("SELECT 1 FROM registry_blobs WHERE repo = ?1 AND digest = ?2");
    s.bind(1, repo).bind(2, digest);
    return s.step();
  }

  void link_blob(const std::string& repo, const std::string& digest, std::uint64_t size) {
    db().transaction([&] {
      auto s = db().prepare(
          "INSERT INTO registry_blobs(repo, digest, size) VALUES (?1, ?2, ?3) "
          "ON CONFLICT(repo, digest) DO NOTHING");
      s.bind(1, repo).bind(2, digest).bind(3, static_cast<std::int64_t>(size));
      s.run();
    });
  }

  std::optional<ManifestRecord> manifest_by_digest(const std::string& repo,
                                                   const std::string& digest) {
    auto lock = db().lock();
    auto s = db().prepare(
        "SELECT media_type, body, image_size, artifact_media_type, pushed_at FROM "
        "registry_manifests WHERE repo = ?1 AND digest = ?2");
    s.bind(1, repo).bind(2, digest);
    if (!s.step()) return std::nullopt;
    ManifestRecord m{repo, digest, s.text(0), s.text(1), {}, s.integer(2), s.text(3), s.integer(4)};
    auto t =
        db().prepare("SELECT tag FROM registry_tags WHERE repo = ?1 AND digest = ?2 ORDER BY tag");
    t.bind(1, repo).bind(2, digest);
    while (t.step())
      m.tags.push_back(t.text(0));
    return m;
  }

  std::optional<std::string> tag_digest(const std::string& repo, const std::string& tag) {
    auto lock = db().lock();
    auto s = db().prepare("SELECT digest FROM registry_tags WHERE repo = ?1 AND tag = ?2");
    s.bind(1, repo).bind(2, tag);
    if (!s.step()) return std::nullopt;
    return s.text(0);
  }

  std::optional<ManifestRecord> find(const std::string& repo, const std::string& ref) {
    if (ref.find(':') != std::string::npos) return manifest_by_digest(repo, ref);
    auto digest = tag_digest(repo, ref);
    if (!digest) return std::nullopt;
    return manifest_by_digest(repo, *digest);
  }

  std::vector<std::string> tags(const std::string& repo) {
    auto lock = db().lock();
    auto s = db().prepare("SELECT tag FROM registry_tags WHERE repo = ?1 ORDER BY tag");
    s.bind(1, repo);
    std::vector<std::string> out;
    while (s.step())
      out.push_back(s.text(0));
    return out;
  }

  // -------------------------------------------------------------- HTTP
  bool authorized(const http::Request& req) {
    auto header = req.headers.get("Authorization");
    if (!header || header->size() < 6) return false;
    std::string scheme = header->substr(0, 6);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(), ::tolower);
    if (scheme != "basic ") return false;
    std::string decoded;
    try {
      decoded = image::base64_decode(header->substr(6));
    } catch (const std::exception&) {
      return false;
    }
    auto colon = decoded.find(':');
    if (colon == std::string::npos) return false;
    return policy.authenticate &&
           policy.authenticate(decoded.substr(0, colon), decoded.substr(colon + 1));
  }

  http::Response unauthorized(const http::Request& req) {
    std::string host = req.headers.get("Host").value_or("localhost");
    auto r = error_response(RegistryError(401, "UNAUTHORIZED", "authentication required"));
    r.headers.set("WWW-Authenticate",
                  "Basic realm=\"http://" + host + "/\",service=\"" + policy.service + "\"");
    return r;
  }

  void check_repository(const std::string& repo) {
    if (!valid_repository_name(repo))
      throw RegistryError(400, "NAME_INVALID", "invalid repository name", {{"name", repo}});
    if (policy.repository_exists && !policy.repository_exists(repo))
      throw RegistryError(
          404, "NAME_UNKNOWN",
          policy.name_unknown ? policy.name_unknown(repo) : "repository name not known to registry",
          {{"name", repo}});
  }

  static RegistryError unsupported(const http::Request& req) {
    return RegistryError(405, "UNSUPPORTED",
                         "The operation is unsupported: " + req.method + " " + req.path);
  }

  void serve(const RegistryPath& p, http::Request& req, http::Responder& out) {
    try {
      if (!authorized(req)) {
        out.send(unauthorized(req));
        return;
      }
      switch (p.kind) {
        case RegistryPath::Base:
          if (req.method != "GET" && req.method != "HEAD") throw unsupported(req);
          out.send(with_api_version(http::Response::json(200, "{}")));
          return;
        case RegistryPath::Unknown:
          throw RegistryError(404, "UNSUPPORTED",
                              "sockerless-sim's registry serves no " + req.path);
        default:
          break;
      }
      check_repository(p.repo);
      switch (p.kind) {
        case RegistryPath::Tags:
          if (req.method != "GET") throw unsupported(req);
          out.send(tags_list(p.repo, req));
          return;
        case RegistryPath::Manifest:
          serve_manifest(p, req, out);
          return;
        case RegistryPath::Blob:
          serve_blob(p, req, out);
          return;
        case RegistryPath::UploadStart:
          if (req.method != "POST") throw unsupported(req);
          out.send(start_upload(p.repo, req));
          return;
        case RegistryPath::Upload:
          out.send(continue_upload(p, req));
          return;
        default:
          throw unsupported(req);
      }
    } catch (const RegistryError& e) {
      out.send(error_response(e));
    }
  }

  http::Response tags_list(const std::string& repo, const http::Request& req) {
    std::vector<std::string> all = tags(repo);
    std::string last = req.query.get("last").value_or("");
    std::optional<std::size_t> n;
    if (auto v = req.query.get("n")) {
      try {
        n = static_cast<std::size_t>(std::stoul(*v));
      } catch (const std::exception&) {
        throw RegistryError(400, "PAGINATION_NUMBER_INVALID",
                            "invalid number of results requested");
      }
    }
    json page = json::array();
    bool more = false;
    for (const auto& t : all) {
      if (!last.empty() && t <= last) continue;
      if (n && page.size() >= *n) {
        more = true;
        break;
      }
      page.push_back(t);
    }
    auto r =
        with_api_version(http::Response::json(200, json{{"name", repo}, {"tags", page}}.dump()));
    if (more && !page.empty())
      r.headers.set("Link", "</v2/" + repo + "/tags/list?n=" + std::to_string(*n) +
                                "&last=" + page.back().get<std::string>() + ">; rel=\"next\"");
    return r;
  }

  void serve_manifest(const RegistryPath& p, http::Request& req, http::Responder& out) {
    const std::string& ref = p.reference;
    bool by_digest = ref.find(':') != std::string::npos;
    if (by_digest && !stored_digest(ref))
      throw RegistryError(400, "DIGEST_INVALID", "invalid digest", {{"digest", ref}});
    if (!by_digest && !image::valid_tag(ref))
      throw RegistryError(400, "TAG_INVALID", "invalid tag", {{"tag", ref}});
    auto unknown = [&] {
      return RegistryError(
          404, "MANIFEST_UNKNOWN",
          policy.manifest_unknown.empty() ? "manifest unknown" : policy.manifest_unknown,
          {{by_digest ? "digest" : "tag", ref}});
    };
    if (req.method == "GET" || req.method == "HEAD") {
      auto m = find(p.repo, ref);
      if (!m) throw unknown();
      auto r = with_api_version(http::Response::text(200, m->body, m->media_type));
      r.headers.set("Docker-Content-Digest", m->digest);
      r.headers.set("ETag", "\"" + m->digest + "\"");
      out.send(std::move(r));
    } else if (req.method == "PUT") {
      std::string type = req.headers.get("Content-Type").value_or("");
      if (auto semi = type.find(';'); semi != std::string::npos) type.resize(semi);
      std::string digest =
          put_manifest(p.repo, type, req.body, by_digest ? "" : ref, by_digest ? ref : "");
      auto r = empty_answer(201);
      r.headers.set("Location", "/v2/" + p.repo + "/manifests/" + digest);
      r.headers.set("Docker-Content-Digest", digest);
      out.send(std::move(r));
    } else if (req.method == "DELETE") {
      bool gone = by_digest ? delete_manifest(p.repo, ref) : untag(p.repo, ref);
      if (!gone) throw unknown();
      out.send(empty_answer(202));
    } else {
      throw unsupported(req);
    }
  }

  // Blobs are answered with their length (the spec's Content-Length, which HEAD needs as
  // much as GET): the head as written here, then the file, on the connection itself.
  void serve_blob(const RegistryPath& p, http::Request& req, http::Responder& out) {
    if (req.method != "GET" && req.method != "HEAD") throw unsupported(req);
    const std::string& digest = p.reference;
    if (!stored_digest(digest))
      throw RegistryError(400, "DIGEST_INVALID", "invalid digest", {{"digest", digest}});
    if (!has_blob(p.repo, digest) || !blobs.has(digest))
      throw RegistryError(404, "BLOB_UNKNOWN", "blob unknown to registry", {{"digest", digest}});
    UniqueFd file(::open(blobs.path(digest).c_str(), O_RDONLY | O_CLOEXEC));
    if (!file) throw std::runtime_error("cannot open blob " + digest + ": " + std::strerror(errno));
    std::uint64_t size = blobs.size(digest);
    http::Response head;
    head.status = 200;
    head.headers.set("Content-Length", std::to_string(size));
    head.headers.set("Content-Type", "application/octet-stream");
    head.headers.set("Docker-Content-Digest", digest);
    head.headers.set("ETag", "\"" + digest + "\"");
    head.headers.set("Docker-Distribution-API-Version", "registry/2.0");
    head.headers.set("Connection", "close");
    UniqueFd conn = out.hijack(head);
    if (req.method == "HEAD") return;
    off_t offset = 0;
    while (static_cast<std::uint64_t>(offset) < size) {
      ssize_t n =
          ::sendfile(conn.get(), file.get(), &offset, size - static_cast<std::uint64_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        spdlog::debug("registry: sending {} stopped at {} of {} bytes: {}", digest, offset, size,
                      n < 0 ? std::strerror(errno) : "end of file");
        return;
      }
    }
  }

  std::shared_ptr<Upload> upload_of(const RegistryPath& p) {
    std::lock_guard lock(uploads_mu);
    auto it = uploads.find(p.reference);
    if (it == uploads.end() || it->second->repo != p.repo)
      throw RegistryError(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry",
                          {{"uuid", p.reference}});
    return it->second;
  }

  http::Response upload_answer(int status, const std::string& repo, const std::string& id,
                               std::uint64_t written) {
    auto r = empty_answer(status);
    r.headers.set("Location", "/v2/" + repo + "/blobs/uploads/" + id);
    r.headers.set("Range", range_of(written));
    r.headers.set("Docker-Upload-UUID", id);
    return r;
  }

  http::Response blob_created(const std::string& repo, const std::string& digest) {
    auto r = empty_answer(201);
    r.headers.set("Location", "/v2/" + repo + "/blobs/" + digest);
    r.headers.set("Docker-Content-Digest", digest);
    return r;
  }

  // Verifies and publishes what the writer holds as `digest`, and puts it in the repository.
  void finish_blob(const std::string& repo, image::BlobStore::Writer& w,
                   const std::string& digest) {
    if (!stored_digest(digest))
      throw RegistryError(400, "DIGEST_INVALID", "invalid digest", {{"digest", digest}});
    std::uint64_t size = w.written();
    try {
      w.commit(digest);
    } catch (const InvalidArgument&) {
      throw RegistryError(400, "DIGEST_INVALID", "provided digest did not match uploaded content",
                          {{"digest", digest}});
    }
    link_blob(repo, digest, size);
  }

  http::Response start_upload(const std::string& repo, http::Request& req) {
    // A blob another repository holds is mounted; anything else falls back to an upload.
    auto mount = req.query.get("mount"), from = req.query.get("from");
    if (mount && from && stored_digest(*mount) && valid_repository_name(*from) &&
        (!policy.repository_exists || policy.repository_exists(*from)) && has_blob(*from, *mount) &&
        blobs.has(*mount)) {
      drain(req.body_fd.get());
      link_blob(repo, *mount, blobs.size(*mount));
      return blob_created(repo, *mount);
    }
    if (auto digest = req.query.get("digest")) {  // monolithic: the whole blob in the POST
      auto w = blobs.begin();
      copy_body(req.body_fd.get(), w);
      finish_blob(repo, w, *digest);
      return blob_created(repo, *digest);
    }
    drain(req.body_fd.get());
    std::string id = random_uuid();
    {
      std::lock_guard lock(uploads_mu);
      uploads.emplace(id, std::make_shared<Upload>(repo, blobs.begin()));
    }
    return upload_answer(202, repo, id, 0);
  }

  http::Response continue_upload(const RegistryPath& p, http::Request& req) {
    auto up = upload_of(p);
    std::unique_lock lock(up->mu);
    if (req.method == "GET") return upload_answer(204, p.repo, p.reference, up->writer.written());
    if (req.method == "DELETE") {
      std::lock_guard l(uploads_mu);
      uploads.erase(p.reference);
      return empty_answer(204);
    }
    if (req.method == "PATCH") {
      if (auto cr = req.headers.get("Content-Range")) {
        auto range = parse_content_range(*cr);
        if (!range || range->first != up->writer.written()) {
          auto r = error_response(RegistryError(416, "BLOB_UPLOAD_INVALID",
                                                "the chunk does not start where the upload ends",
                                                {{"range", *cr}}));
          r.headers.set("Range", range_of(up->writer.written()));
          r.headers.set("Location", "/v2/" + p.repo + "/blobs/uploads/" + p.reference);
          return r;
        }
      }
      copy_body(req.body_fd.get(), up->writer);
      return upload_answer(202, p.repo, p.reference, up->writer.written());
    }
    if (req.method == "PUT") {
      auto digest = req.query.get("digest");
      if (!digest)
        throw RegistryError(400, "DIGEST_INVALID", "the upload's digest parameter is missing");
      copy_body(req.body_fd.get(), up->writer);
      {
        std::lock_guard l(uploads_mu);
        uploads.erase(p.reference);
      }
      finish_blob(p.repo, up->writer, *digest);
      return blob_created(p.repo, *digest);
    }
    throw unsupported(req);
  }

  // -------------------------------------------------------------- manifests
  std::string put_manifest(const std::string& repo, std::string media_type, const std::string& body,
                           const std::string& tag, const std::string& expected) {
    if (body.size() > kMaxManifestBytes)
      throw RegistryError(400, "MANIFEST_INVALID", "manifest is larger than 4 MiB");
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
      throw RegistryError(400, "MANIFEST_INVALID", "manifest invalid: not a JSON object");
    if (doc.value("schemaVersion", 0) != 2)
      throw RegistryError(400, "MANIFEST_INVALID",
                          "manifest invalid: only schema 2 manifests and indexes are accepted");
    std::string declared = doc.contains("mediaType") && doc["mediaType"].is_string()
                               ? doc["mediaType"].get<std::string>()
                               : "";
    if (media_type.empty() || media_type == "application/json" ||
        media_type == "application/octet-stream")
      media_type = !declared.empty()           ? declared
                   : doc.contains("manifests") ? image::kOciIndex
                                               : image::kOciManifest;
    else if (!declared.empty() && declared != media_type)
      throw RegistryError(
          400, "MANIFEST_INVALID",
          "manifest invalid: its mediaType " + declared + " is not the Content-Type " + media_type);
    if (!is_index(media_type) && !is_image_manifest(media_type))
      throw RegistryError(400, "MANIFEST_INVALID",
                          "manifest invalid: unsupported media type " + media_type);
    if (!tag.empty() && !image::valid_tag(tag))
      throw RegistryError(400, "TAG_INVALID", "invalid tag", {{"tag", tag}});
    std::string digest = sha256_digest(body);
    if (!expected.empty() && expected != digest)
      throw RegistryError(400, "DIGEST_INVALID", "provided digest did not match uploaded content",
                          {{"digest", expected}});
    auto descriptor_digest = [](const json& d) {
      if (!d.is_object() || !d.contains("digest") || !d["digest"].is_string() ||
          !image::valid_digest(d["digest"].get<std::string>()))
        throw RegistryError(400, "MANIFEST_INVALID",
                            "manifest invalid: a descriptor has no digest");
      return d["digest"].get<std::string>();
    };
    auto blob_unknown = [](const std::string& d) {
      return RegistryError(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry",
                           {{"digest", d}});
    };
    db().transaction([&] {
      std::int64_t size = 0;
      std::string artifact;
      if (is_index(media_type)) {
        if (!doc.contains("manifests") || !doc["manifests"].is_array())
          throw RegistryError(400, "MANIFEST_INVALID",
                              "manifest invalid: an index lists manifests");
        for (const auto& m : doc["manifests"]) {
          auto child = manifest_by_digest(repo, descriptor_digest(m));
          if (!child) throw blob_unknown(descriptor_digest(m));
          size = std::max(size, child->image_size);
        }
      } else {
        if (!doc.contains("config"))
          throw RegistryError(400, "MANIFEST_INVALID", "manifest invalid: no config");
        std::string config = descriptor_digest(doc["config"]);
        if (!has_blob(repo, config)) throw blob_unknown(config);
        artifact = doc["config"].value("mediaType", "");
        for (const auto& l : doc.value("layers", json::array())) {
          std::string d = descriptor_digest(l);
          // Foreign layers (with urls) live elsewhere, as distribution lets them.
          if (!l.contains("urls") && !has_blob(repo, d)) throw blob_unknown(d);
          if (l.contains("size") && l["size"].is_number_integer())
            size += l["size"].get<std::int64_t>();
        }
      }
      if (!tag.empty() && policy.tag_immutable) {
        auto current = tag_digest(repo, tag);
        if (current && *current != digest) {
          std::string refusal = policy.tag_immutable(repo, tag);
          if (!refusal.empty()) throw RegistryError(400, "TAG_INVALID", refusal, {{"tag", tag}});
        }
      }
      auto m = db().prepare(
          "INSERT INTO registry_manifests(repo, digest, media_type, body, image_size, "
          "artifact_media_type, pushed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
          "ON CONFLICT(repo, digest) DO NOTHING");
      m.bind(1, repo).bind(2, digest).bind(3, media_type).bind(4, body).bind(5, size);
      m.bind(6, artifact).bind(7, now_ms());
      m.run();
      if (!tag.empty()) {
        auto t = db().prepare(
            "INSERT INTO registry_tags(repo, tag, digest) VALUES (?1, ?2, ?3) "
            "ON CONFLICT(repo, tag) DO UPDATE SET digest = excluded.digest");
        t.bind(1, repo).bind(2, tag).bind(3, digest);
        t.run();
      }
    });
    return digest;
  }

  bool untag(const std::string& repo, const std::string& tag) {
    return db().transaction([&] {
      auto s = db().prepare("DELETE FROM registry_tags WHERE repo = ?1 AND tag = ?2 RETURNING tag");
      s.bind(1, repo).bind(2, tag);
      bool gone = s.step();
      s.run();
      return gone;
    });
  }

  bool delete_manifest(const std::string& repo, const std::string& digest) {
    return db().transaction([&] {
      auto s = db().prepare(
          "DELETE FROM registry_manifests WHERE repo = ?1 AND digest = ?2 RETURNING digest");
      s.bind(1, repo).bind(2, digest);
      bool gone = s.step();
      s.run();
      auto t = db().prepare("DELETE FROM registry_tags WHERE repo = ?1 AND digest = ?2");
      t.bind(1, repo).bind(2, digest);
      t.run();
      return gone;
    });
  }
};

Registry::Registry(State& state, std::string root, RegistryPolicy policy)
    : impl_(std::make_unique<Impl>(state, std::move(root), std::move(policy))) {}

Registry::~Registry() = default;

http::RouteTarget Registry::route(http::Request& req) {
  RegistryPath p = parse_registry_path(req.path);
  // Blob uploads arrive streamed (a layer never sits in memory); the rest is small.
  bool streamed = (p.kind == RegistryPath::UploadStart || p.kind == RegistryPath::Upload) &&
                  (req.method == "POST" || req.method == "PATCH" || req.method == "PUT");
  req.route = "registry";
  return http::RouteTarget{
      [this, p](http::Request& r, http::Responder& out) { impl_->serve(p, r, out); },
      http::Execution::Blocking, streamed ? http::BodyMode::Streamed : http::BodyMode::Buffered};
}

std::vector<ManifestRecord> Registry::manifests(const std::string& repo) const {
  std::vector<std::string> digests;
  {
    auto& db = impl_->db();
    auto lock = db.lock();
    auto s = db.prepare("SELECT digest FROM registry_manifests WHERE repo = ?1 ORDER BY rowid");
    s.bind(1, repo);
    while (s.step())
      digests.push_back(s.text(0));
  }
  std::vector<ManifestRecord> out;
  for (const auto& d : digests)
    if (auto m = impl_->manifest_by_digest(repo, d)) out.push_back(std::move(*m));
  return out;
}

std::optional<ManifestRecord> Registry::find(const std::string& repo,
                                             const std::string& tag_or_digest) const {
  return impl_->find(repo, tag_or_digest);
}

std::string Registry::put_manifest(const std::string& repo, std::string media_type,
                                   const std::string& body, const std::string& tag,
                                   const std::string& expected_digest) {
  return impl_->put_manifest(repo, std::move(media_type), body, tag, expected_digest);
}

bool Registry::untag(const std::string& repo, const std::string& tag) {
  return impl_->untag(repo, tag);
}

bool Registry::delete_manifest(const std::string& repo, const std::string& digest) {
  return impl_->delete_manifest(repo, digest);
}

std::vector<std::string> Registry::indexes_listing(const std::string& repo,
                                                   const std::string& digest) const {
  std::vector<std::string> out;
  for (const auto& m : manifests(repo)) {
    if (!is_index(m.media_type)) continue;
    json doc = json::parse(m.body, nullptr, false);
    for (const auto& child : doc.value("manifests", json::array()))
      if (child.is_object() && child.value("digest", "") == digest) out.push_back(m.digest);
  }
  return out;
}

void Registry::delete_repository(const std::string& repo) {
  auto& db = impl_->db();
  std::vector<std::string> orphans;
  db.transaction([&] {
    auto s = db.prepare(
        "SELECT digest FROM registry_blobs WHERE repo = ?1 AND digest NOT IN "
        "(SELECT digest FROM registry_blobs WHERE repo != ?1)");
    s.bind(1, repo);
    while (s.step())
      orphans.push_back(s.text(0));
    for (const char* table : {"registry_blobs", "registry_manifests", "registry_tags"}) {
      auto d = db.prepare(std::string("DELETE FROM ") + table + " WHERE repo = ?1");
      d.bind(1, repo);
      d.run();
    }
  });
  for (const auto& d : orphans)
    impl_->blobs.remove(d);
}

bool Registry::has_blob(const std::string& repo, const std::string& digest) const {
  return impl_->has_blob(repo, digest);
}

}  // namespace sockerless::sims
