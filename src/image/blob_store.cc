#include "image/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/digest.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/unique_fd.h"
#include "image/reference.h"

namespace sockerless::image {

namespace fs = std::filesystem;

namespace {

void write_all(int fd, const char* data, std::size_t size, const std::string& what) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("writing " + what + ": " + std::strerror(errno));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void fsync_dir(const std::string& dir) {
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d) ::fsync(d.get());
}

}  // namespace

struct BlobStore::Writer::State {
  std::string tmp_path;
  std::string blobs_dir;
  UniqueFd fd;
  Sha256 hash;
  bool committed = false;
};

BlobStore::Writer::Writer(std::unique_ptr<State> s) : state_(std::move(s)) {}
BlobStore::Writer::Writer(Writer&&) noexcept = default;

BlobStore::Writer::~Writer() {
  if (state_ && !state_->committed) ::unlink(state_->tmp_path.c_str());
}

void BlobStore::Writer::write(const char* data, std::size_t size) {
  write_all(state_->fd.get(), data, size, state_->tmp_path);
  state_->hash.update(data, size);
  written_ += size;
}

std::string BlobStore::Writer::commit(std::string_view expected) {
  std::string digest = state_->hash.digest();
  if (!expected.empty() && digest != expected)
    throw InvalidArgument("digest mismatch: expected " + std::string(expected) + ", got " + digest);
  if (::fsync(state_->fd.get()) != 0) throw std::runtime_error("fsync " + state_->tmp_path);
  state_->fd.reset();
  std::string final_path = state_->blobs_dir + "/" + digest.substr(7);
  if (::rename(state_->tmp_path.c_str(), final_path.c_str()) != 0)
    throw std::runtime_error("storing blob " + digest + ": " + std::strerror(errno));
  fsync_dir(state_->blobs_dir);
  state_->committed = true;
  return digest;
}

BlobStore::BlobStore(std::string root) : root_(std::move(root)) {
  fs::create_directories(root_ + "/blobs/sha256");
  // Whatever is in ingest belongs to downloads a previous run did not finish.
  fs::remove_all(root_ + "/ingest");
  fs::create_directories(root_ + "/ingest");
}

std::string BlobStore::path(std::string_view digest) const {
  if (!valid_digest(digest) || digest.substr(0, 7) != "sha256:")
    throw InvalidArgument("invalid digest: " + std::string(digest));
  return root_ + "/blobs/sha256/" + std::string(digest.substr(7));
}

bool BlobStore::has(std::string_view digest) const {
  struct stat st {};
  return valid_digest(digest) && ::stat(path(digest).c_str(), &st) == 0;
}

std::uint64_t BlobStore::size(std::string_view digest) const {
  return static_cast<std::uint64_t>(fs::file_size(path(digest)));
}

std::string BlobStore::read(std::string_view digest) const {
  std::ifstream in(path(digest), std::ios::binary);
  if (!in) throw NotFound("blob " + std::string(digest) + " not found");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string BlobStore::put(std::string_view data) {
  std::string digest = sha256_digest(data);
  if (has(digest)) return digest;
  Writer w = begin();
  w.write(data.data(), data.size());
  return w.commit(digest);
}

void BlobStore::remove(std::string_view digest) {
  std::error_code ec;
  fs::remove(path(digest), ec);
}

BlobStore::Writer BlobStore::begin() {
  auto s = std::make_unique<Writer::State>();
  s->tmp_path = root_ + "/ingest/" + random_hex(16);
  s->blobs_dir = root_ + "/blobs/sha256";
  s->fd = UniqueFd(::open(s->tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!s->fd)
    throw std::runtime_error("cannot create " + s->tmp_path + ": " + std::strerror(errno));
  return Writer(std::move(s));
}

}  // namespace sockerless::image
