// Moving images in and out: save, load, import, push, distribution inspect.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#include "common/digest.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/tar_entries.h"
#include "common/time.h"
#include "image/changes.h"
#include "image/image_service.h"
#include "image/layer.h"
#include "image/manifest.h"

namespace sockerless::image {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kTarGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
constexpr const char* kTar = "application/vnd.docker.image.rootfs.diff.tar";
constexpr const char* kTarZstd = "application/vnd.oci.image.layer.v1.tar+zstd";

std::string detect_layer_type(const std::string& path) {
  unsigned char head[4] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(head), 4);
  if (head[0] == 0x1f && head[1] == 0x8b) return kTarGzip;
  if (head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd) return kTarZstd;
  return kTar;
}

struct ArchiveWrite {
  archive* a = archive_write_new();
  ~ArchiveWrite() { archive_write_free(a); }
};
struct ArchiveRead {
  archive* a = archive_read_new();
  ~ArchiveRead() { archive_read_free(a); }
};

void add_bytes(archive* a, const std::string& name, const std::string& data) {
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, name.c_str());
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  archive_entry_set_mtime(e, 0, 0);
  if (archive_write_header(a, e) != ARCHIVE_OK) {
    archive_entry_free(e);
    throw std::runtime_error(std::string("writing tar: ") + archive_error_string(a));
  }
  archive_entry_free(e);
  if (archive_write_data(a, data.data(), data.size()) < 0)
    throw std::runtime_error(std::string("writing tar: ") + archive_error_string(a));
}

void add_file(archive* a, const std::string& name, const std::string& path) {
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, name.c_str());
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, static_cast<la_int64_t>(fs::file_size(path)));
  archive_entry_set_mtime(e, 0, 0);
  if (archive_write_header(a, e) != ARCHIVE_OK) {
    archive_entry_free(e);
    throw std::runtime_error(std::string("writing tar: ") + archive_error_string(a));
  }
  archive_entry_free(e);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto n = in.gcount();
    if (n > 0 && archive_write_data(a, buf.data(), static_cast<std::size_t>(n)) < 0)
      throw std::runtime_error(std::string("writing tar: ") + archive_error_string(a));
  }
}

void add_dir(archive* a, const std::string& name) {
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, name.c_str());
  archive_entry_set_filetype(e, AE_IFDIR);
  archive_entry_set_perm(e, 0755);
  archive_entry_set_mtime(e, 0, 0);
  archive_write_header(a, e);
  archive_entry_free(e);
}

std::string hex_of(const std::string& digest) {
  return digest.substr(digest.find(':') + 1);
}

std::string short_id(const std::string& digest) {
  return hex_of(digest).substr(0, 12);
}

// A manifest for an image: the one it came with, else a Docker schema 2 one made now.
std::pair<std::string, std::string> manifest_of(BlobStore& blobs, const ImageRecord& image) {
  if (!image.manifest_digest.empty() && blobs.has(image.manifest_digest))
    return {blobs.read(image.manifest_digest), image.manifest_media_type};
  Descriptor config{"application/vnd.docker.container.image.v1+json", image.id,
                    static_cast<std::int64_t>(image.config.size())};
  std::vector<Descriptor> layers;
  for (const auto& l : image.layers)
    layers.push_back(Descriptor{l.media_type, l.blob_digest, l.blob_size});
  return {make_manifest(config, layers), kDockerManifest};
}

// An upload read through libarchive, counting what came: Go's tar reader, which dockerd
// unpacks with, says "unexpected EOF" for input that ends inside a header block.
struct CountedInput {
  int fd;
  std::uint64_t total = 0;
  std::vector<char> buf = std::vector<char>(1 << 16);

  static la_ssize_t read(archive* a, void* self, const void** out) {
    auto* in = static_cast<CountedInput*>(self);
    ssize_t n;
    do {
      n = ::read(in->fd, in->buf.data(), in->buf.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      archive_set_error(a, errno, "reading the upload: %s", std::strerror(errno));
      return -1;
    }
    in->total += static_cast<std::uint64_t>(n);
    *out = in->buf.data();
    return n;
  }
};

// dockerd's words for an upload its tar reader cannot read (as its chrootarchive says
// them: "Error processing tar file(exit status 1): …").
[[noreturn]] void bad_tar(archive* a, const CountedInput& in) {
  const char* e = archive_error_string(a);
  std::string text = e ? e : "";
  bool eof = in.total < 512 || text.find("runcated") != std::string::npos;
  throw InvalidArgument(std::string("Error processing tar file(exit status 1): ") +
                        (eof ? "unexpected EOF" : "archive/tar: invalid tar header"));
}

// Unpacks an uploaded tar into `dir`, refusing entries that would escape it.
void extract_upload(int fd, const std::string& dir) {
  ArchiveRead r;
  archive_read_support_filter_all(r.a);
  archive_read_support_format_tar(r.a);
  archive_read_support_format_empty(r.a);
  CountedInput input{fd};
  if (archive_read_open(r.a, &input, nullptr, CountedInput::read, nullptr) != ARCHIVE_OK)
    bad_tar(r.a, input);
  archive_entry* e = nullptr;
  int rc;
  while ((rc = next_tar_entry(r.a, &e)) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    fs::path rel = fs::path(name).lexically_normal();
    if (rel.is_absolute() || (!rel.empty() && *rel.begin() == "..") ||
        name.find("..") != std::string::npos)
      throw InvalidArgument("invalid tar entry " + name + ": outside the archive");
    fs::path target = fs::path(dir) / rel;
    auto type = archive_entry_filetype(e);
    if (type == AE_IFDIR) {
      fs::create_directories(target);
    } else if (type == AE_IFREG) {
      fs::create_directories(target.parent_path());
      std::ofstream out(target, std::ios::binary | std::ios::trunc);
      const void* buf;
      size_t size;
      la_int64_t offset;
      int drc;
      while ((drc = archive_read_data_block(r.a, &buf, &size, &offset)) == ARCHIVE_OK)
        out.write(static_cast<const char*>(buf), static_cast<std::streamsize>(size));
      if (drc != ARCHIVE_EOF) bad_tar(r.a, input);
      if (!out) throw std::runtime_error("writing " + target.string());
    } else if (type == AE_IFLNK) {
      // Old docker-save tars link shared layers; keep the link only if it stays inside.
      std::string link = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
      fs::path resolved = (rel.parent_path() / link).lexically_normal();
      if (fs::path(link).is_absolute() || (!resolved.empty() && *resolved.begin() == ".."))
        throw InvalidArgument("invalid tar entry " + name + ": link outside the archive");
      fs::create_directories(target.parent_path());
      fs::create_symlink(link, target);
    }
  }
  if (rc != ARCHIVE_EOF) bad_tar(r.a, input);
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw InvalidArgument("missing " + p.filename().string() + " in the archive");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A path named inside the archive, checked to stay inside it.
fs::path inside(const fs::path& dir, const std::string& name) {
  fs::path rel = fs::path(name).lexically_normal();
  if (rel.is_absolute() || (!rel.empty() && *rel.begin() == ".."))
    throw InvalidArgument("invalid path in archive manifest: " + name);
  fs::path full = fs::weakly_canonical(dir / rel);
  fs::path root = fs::weakly_canonical(dir);
  auto rs = root.string(), fs_ = full.string();
  if (fs_.compare(0, rs.size(), rs) != 0)
    throw InvalidArgument("invalid path in archive manifest: " + name);
  return full;
}

struct TempDir {
  std::string path;
  explicit TempDir(const std::string& p) : path(p) { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

ImageRecord ImageService::record_from(const std::string& config_text,
                                      const std::vector<std::string>& layer_digests) {
  json config = json::parse(config_text, nullptr, false);
  if (!config.is_object()) throw InvalidArgument("image config is not a JSON object");
  std::vector<std::string> diff_ids;
  if (config.contains("rootfs") && config["rootfs"].contains("diff_ids"))
    for (const auto& d : config["rootfs"]["diff_ids"])
      diff_ids.push_back(d.get<std::string>());
  if (diff_ids.size() != layer_digests.size())
    throw InvalidArgument("image config lists " + std::to_string(diff_ids.size()) +
                          " layers, the archive has " + std::to_string(layer_digests.size()));
  ImageRecord r;
  r.config = config_text;
  r.id = store_.blobs().put(config_text);
  for (std::size_t i = 0; i < layer_digests.size(); ++i) {
    std::string path = store_.blobs().path(layer_digests[i]);
    LayerInfo info = scan_layer(path);
    if (info.diff_id != diff_ids[i])
      throw InvalidArgument("layer " + std::to_string(i + 1) + " has diff ID " + info.diff_id +
                            " but the image config expects " + diff_ids[i]);
    r.layers.push_back(LayerRecord{layer_digests[i], detect_layer_type(path),
                                   static_cast<std::int64_t>(store_.blobs().size(layer_digests[i])),
                                   info.diff_id, static_cast<std::int64_t>(info.size)});
    r.size += static_cast<std::int64_t>(info.size);
  }
  return r;
}

void ImageService::save(const std::vector<std::string>& names, int fd) {
  std::shared_lock gc(gc_mu_);
  struct Entry {
    ImageRecord image;
    std::vector<std::string> tags;  // normalised
  };
  std::vector<Entry> entries;
  for (const auto& name : names) {
    ImageRecord image = store_.resolve(name);
    std::vector<std::string> tags;
    try {
      Reference ref = parse_reference(name);
      if (!ref.tag.empty()) {
        tags.push_back(ref.str());
      } else if (ref.digest.empty()) {
        for (const auto& t : image.tags)
          if (parse_reference(t).name() == ref.name()) tags.push_back(t);
      }
    } catch (const InvalidArgument&) {
    }
    entries.push_back(Entry{std::move(image), std::move(tags)});
  }
  ArchiveWrite w;
  archive_write_set_format_pax_restricted(w.a);
  if (archive_write_open_fd(w.a, fd) != ARCHIVE_OK)
    throw std::runtime_error(std::string("writing tar: ") + archive_error_string(w.a));
  add_dir(w.a, "blobs/");
  add_dir(w.a, "blobs/sha256/");
  std::set<std::string> written;
  auto blob = [&](const std::string& digest) {
    if (!written.insert(digest).second) return;
    add_file(w.a, "blobs/sha256/" + hex_of(digest), store_.blobs().path(digest));
  };
  json docker_manifest = json::array();
  json index = {{"schemaVersion", 2}, {"mediaType", kOciIndex}, {"manifests", json::array()}};
  for (const auto& e : entries) {
    auto [manifest, media_type] = manifest_of(store_.blobs(), e.image);
    std::string manifest_digest = sha256_digest(manifest);
    blob(e.image.id);
    json layers = json::array();
    for (const auto& l : e.image.layers) {
      blob(l.blob_digest);
      layers.push_back("blobs/sha256/" + hex_of(l.blob_digest));
    }
    if (written.insert(manifest_digest).second)
      add_bytes(w.a, "blobs/sha256/" + hex_of(manifest_digest), manifest);
    json repo_tags = json::array();
    for (const auto& t : e.tags) {
      Reference ref = parse_reference(t);
      repo_tags.push_back(ref.familiar());
      index["manifests"].push_back({{"mediaType", media_type},
                                    {"digest", manifest_digest},
                                    {"size", manifest.size()},
                                    {"annotations",
                                     {{"io.containerd.image.name", ref.str()},
                                      {"org.opencontainers.image.ref.name", ref.tag}}}});
    }
    if (e.tags.empty())
      index["manifests"].push_back(
          {{"mediaType", media_type}, {"digest", manifest_digest}, {"size", manifest.size()}});
    docker_manifest.push_back({{"Config", "blobs/sha256/" + hex_of(e.image.id)},
                               {"RepoTags", repo_tags.empty() ? json(nullptr) : repo_tags},
                               {"Layers", layers}});
  }
  add_bytes(w.a, "index.json", index.dump());
  add_bytes(w.a, "manifest.json", docker_manifest.dump());
  add_bytes(w.a, "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  if (archive_write_close(w.a) != ARCHIVE_OK)
    throw std::runtime_error(std::string("writing tar: ") + archive_error_string(w.a));
  for (const auto& e : entries)
    on_event_("save", e.image.id, {{"name", e.image.id}});
}

void ImageService::load(int fd, const std::function<void(const std::string&)>& loaded) {
  TempDir tmp(store_.scratch_path("load-"));
  extract_upload(fd, tmp.path);
  fs::path dir = tmp.path;
  struct Loaded {
    ImageRecord image;
    std::vector<std::string> tags;
  };
  std::vector<Loaded> images;
  auto import_blob = [&](const fs::path& file) {
    auto writer = store_.blobs().begin();
    std::ifstream in(file, std::ios::binary);
    if (!in) throw InvalidArgument("missing " + file.filename().string() + " in the archive");
    std::vector<char> buf(1 << 16);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (in.gcount() > 0) writer.write(buf.data(), static_cast<std::size_t>(in.gcount()));
    }
    return writer.commit("");
  };
  std::shared_lock gc(gc_mu_);
  if (fs::exists(dir / "manifest.json")) {
    json manifest = json::parse(read_text(dir / "manifest.json"), nullptr, false);
    if (!manifest.is_array()) throw InvalidArgument("invalid manifest.json in the archive");
    for (const auto& m : manifest) {
      std::string config = read_text(inside(dir, m.value("Config", "")));
      std::vector<std::string> layers;
      for (const auto& l : m.value("Layers", json::array()))
        layers.push_back(import_blob(inside(dir, l.get<std::string>())));
      Loaded item{record_from(config, layers), {}};
      // Keep the manifest the image came with, when the archive carries it (an OCI layout
      // beside manifest.json, as docker save writes), so push reproduces the same digest.
      if (fs::exists(dir / "index.json")) {
        json index = json::parse(read_text(dir / "index.json"), nullptr, false);
        for (const auto& d : index.value("manifests", json::array())) {
          std::string digest = d.value("digest", "");
          if (!valid_digest(digest)) continue;
          fs::path file = inside(dir, "blobs/sha256/" + hex_of(digest));
          if (!fs::exists(file)) continue;
          std::string body = read_text(file);
          if (sha256_digest(body) != digest) continue;
          try {
            Manifest parsed = parse_manifest(body);
            if (parsed.config.digest != item.image.id) continue;
            item.image.manifest_digest = store_.blobs().put(body);
            item.image.manifest_media_type = parsed.media_type;
          } catch (const InvalidArgument&) {
          }
        }
      }
      for (const auto& t : m.value("RepoTags", json::array()))
        if (t.is_string())
          item.tags.push_back(with_default_tag(parse_reference(t.get<std::string>())).str());
      images.push_back(std::move(item));
    }
  } else if (fs::exists(dir / "index.json")) {
    json index = json::parse(read_text(dir / "index.json"), nullptr, false);
    if (!index.is_object() || !index.contains("manifests"))
      throw InvalidArgument("invalid index.json in the archive");
    for (const auto& d : index["manifests"]) {
      std::string digest = d.value("digest", "");
      if (!valid_digest(digest)) throw InvalidArgument("invalid digest in index.json: " + digest);
      std::string body = read_text(inside(dir, "blobs/sha256/" + hex_of(digest)));
      if (sha256_digest(body) != digest)
        throw InvalidArgument("manifest " + digest + " does not match its digest");
      Manifest m = parse_manifest(body);
      std::string config = read_text(inside(dir, "blobs/sha256/" + hex_of(m.config.digest)));
      std::vector<std::string> layers;
      for (const auto& l : m.layers) {
        std::string got = import_blob(inside(dir, "blobs/sha256/" + hex_of(l.digest)));
        if (got != l.digest)
          throw InvalidArgument("layer " + l.digest + " does not match its digest");
        layers.push_back(got);
      }
      Loaded item{record_from(config, layers), {}};
      item.image.manifest_digest = store_.blobs().put(body);
      item.image.manifest_media_type = m.media_type;
      auto annotations = d.value("annotations", json::object());
      std::string name = annotations.value("io.containerd.image.name", "");
      std::string tag = annotations.value("org.opencontainers.image.ref.name", "");
      if (!name.empty())
        item.tags.push_back(with_default_tag(parse_reference(name)).str());
      else if (!tag.empty() && tag.find(':') != std::string::npos)
        item.tags.push_back(with_default_tag(parse_reference(tag)).str());
      images.push_back(std::move(item));
    }
  } else if (fs::exists(dir / "repositories")) {
    throw NotImplemented(
        "loading the legacy image layout (repositories without manifest.json) is not "
        "supported by sockerless");
  } else {
    // dockerd 20.10 falls back to that legacy layout, and fails on its first file.
    throw InvalidArgument("open " + (dir / "repositories").string() +
                          ": no such file or directory");
  }
  for (const auto& item : images) {
    store_.put(item.image, item.tags, {});
    on_event_("load", item.image.id, {{"name", item.image.id}});
    if (item.tags.empty()) loaded("Loaded image ID: " + item.image.id);
    for (const auto& t : item.tags)
      loaded("Loaded image: " + parse_reference(t).familiar());
  }
}

std::string ImageService::import(int fd, const std::string& repo_tag,
                                 const std::vector<std::string>& changes,
                                 const std::string& message, const std::string& platform_text) {
  Platform platform = parse_platform(platform_text);
  std::optional<Reference> ref;
  if (!repo_tag.empty()) ref = with_default_tag(parse_reference(repo_tag));
  std::shared_lock gc(gc_mu_);
  // Stored uncompressed, whatever compression the upload used: its digest is its diff ID.
  auto writer = store_.blobs().begin();
  {
    ArchiveRead r;
    archive_read_support_filter_all(r.a);
    archive_read_support_format_raw(r.a);
    if (archive_read_open_fd(r.a, fd, 1 << 16) != ARCHIVE_OK)
      throw InvalidArgument(std::string("invalid archive: ") + archive_error_string(r.a));
    archive_entry* e = nullptr;
    if (archive_read_next_header(r.a, &e) == ARCHIVE_OK) {
      std::vector<char> buf(1 << 16);
      for (;;) {
        la_ssize_t n = archive_read_data(r.a, buf.data(), buf.size());
        if (n < 0)
          throw InvalidArgument(std::string("invalid archive: ") + archive_error_string(r.a));
        if (n == 0) break;
        writer.write(buf.data(), static_cast<std::size_t>(n));
      }
    }
  }
  std::string layer = writer.commit("");
  LayerInfo info = scan_layer(store_.blobs().path(layer));
  json inner = json::object();
  apply_changes(inner, changes);
  std::string now = format_rfc3339_nano(Clock::now());
  json config = {
      {"architecture", platform.architecture},
      {"os", platform.os},
      {"created", now},
      {"comment", message.empty() ? "Imported from -" : message},
      {"config", inner},
      {"rootfs", {{"type", "layers"}, {"diff_ids", json::array({info.diff_id})}}},
      {"history", json::array({{{"created", now},
                                {"comment", message.empty() ? "Imported from -" : message}}})},
  };
  if (!platform.variant.empty()) config["variant"] = platform.variant;
  ImageRecord record = record_from(config.dump(), {layer});
  std::vector<std::string> tags;
  if (ref) tags.push_back(ref->str());
  store_.put(record, tags, {});
  on_event_("import", record.id, {{"name", record.id}});
  return record.id;
}

void ImageService::push(const std::string& name, const std::string& tag,
                        const AuthConfig& client_auth, const ProgressFn& progress) {
  Reference repo = parse_reference(name);
  if (!repo.digest.empty()) throw InvalidArgument("cannot push a digest reference");
  // Like dockerd, the stream starts before the local lookup, so its errors travel in it.
  progress({{"status", "The push refers to repository [" + repo.name() + "]"}});
  std::vector<std::pair<Reference, ImageRecord>> in_repo;
  for (const auto& image : store_.list())
    for (const auto& t : image.tags) {
      Reference r = parse_reference(t);
      if (r.name() == repo.name()) in_repo.emplace_back(r, image);
    }
  if (in_repo.empty())
    throw NotFound("An image does not exist locally with the tag: " + repo.familiar_name());
  std::vector<std::pair<Reference, ImageRecord>> work;
  std::string wanted = !tag.empty() ? tag : repo.tag;
  if (!wanted.empty()) {
    for (auto& item : in_repo)
      if (item.first.tag == wanted) work.push_back(item);
    if (work.empty()) {
      Reference r = repo;
      r.tag = wanted;
      throw NotFound("tag does not exist: " + r.familiar());
    }
  } else {
    work = in_repo;
  }
  AuthConfig auth = credentials_for(repo.domain, client_auth);
  std::shared_lock gc(gc_mu_);
  for (const auto& [ref, image] : work)
    push_one(image, ref, auth, progress);
}

void ImageService::push_one(const ImageRecord& image, const Reference& ref, const AuthConfig& auth,
                            const ProgressFn& progress) {
  auto layer_msg = [&](const std::string& status, const std::string& id) {
    progress({{"status", status}, {"progressDetail", json::object()}, {"id", id}});
  };
  for (auto it = image.layers.rbegin(); it != image.layers.rend(); ++it)
    layer_msg("Preparing", short_id(it->blob_digest));
  // Repositories on the same registry that already hold this image's blobs.
  std::vector<Reference> sources;
  for (const auto& d : image.digests) {
    Reference r = parse_reference(d);
    if (r.domain == ref.domain && r.path != ref.path) sources.push_back(r);
  }
  for (auto it = image.layers.rbegin(); it != image.layers.rend(); ++it) {
    const auto& l = *it;
    std::string id = short_id(l.blob_digest);
    if (registry_.has_blob(ref, l.blob_digest, auth)) {
      layer_msg("Layer already exists", id);
      continue;
    }
    bool mounted = false;
    for (const auto& from : sources)
      if (registry_.mount_blob(ref, l.blob_digest, from, auth)) {
        layer_msg("Mounted from " + from.path, id);
        mounted = true;
        break;
      }
    if (mounted) continue;
    std::uint64_t size = store_.blobs().size(l.blob_digest);
    progress({{"status", "Pushing"},
              {"progressDetail", {{"current", 0}, {"total", size}}},
              {"progress", progress_bar(0, size)},
              {"id", id}});
    registry_.upload_blob(ref, l.blob_digest, store_.blobs().path(l.blob_digest), size, auth,
                          nullptr);
    layer_msg("Pushed", id);
  }
  if (!registry_.has_blob(ref, image.id, auth))
    registry_.upload_blob(ref, image.id, store_.blobs().path(image.id),
                          store_.blobs().size(image.id), auth, nullptr);
  auto [manifest, media_type] = manifest_of(store_.blobs(), image);
  std::string digest = registry_.put_manifest(ref, ref.tag, media_type, manifest, auth);
  store_.blobs().put(manifest);
  ImageRecord updated = image;
  updated.manifest_digest = digest;
  updated.manifest_media_type = media_type;
  store_.put(updated, {}, {ref.name() + "@" + digest});
  progress(
      {{"status", ref.tag + ": digest: " + digest + " size: " + std::to_string(manifest.size())}});
  progress({{"progressDetail", json::object()},
            {"aux", {{"Tag", ref.tag}, {"Digest", digest}, {"Size", manifest.size()}}}});
  on_event_("push", ref.familiar(), {{"name", ref.familiar_name()}});
}

json ImageService::distribution(const std::string& name, const AuthConfig& client_auth) {
  Reference ref = with_default_tag(parse_reference(name));
  AuthConfig auth = credentials_for(ref.domain, client_auth);
  FetchedManifest m = registry_.manifest(ref, ref.digest.empty() ? ref.tag : ref.digest, auth);
  json platforms = json::array();
  if (is_index(m.media_type)) {
    for (const auto& e : parse_index(m.body)) {
      json p = {{"architecture", e.platform.architecture}, {"os", e.platform.os}};
      if (!e.platform.variant.empty()) p["variant"] = e.platform.variant;
      platforms.push_back(p);
    }
  } else {
    Manifest manifest = parse_manifest(m.body);
    std::string config_text;
    registry_.blob(ref, manifest.config.digest, auth,
                   [&](const char* d, std::size_t n) { config_text.append(d, n); }, {});
    json config = json::parse(config_text, nullptr, false);
    if (config.is_object()) {
      json p = {{"architecture", config.value("architecture", "")}, {"os", config.value("os", "")}};
      if (config.contains("variant")) p["variant"] = config["variant"];
      platforms.push_back(p);
    }
  }
  return {
      {"Descriptor", {{"mediaType", m.media_type}, {"digest", m.digest}, {"size", m.body.size()}}},
      {"Platforms", platforms}};
}

}  // namespace sockerless::image
