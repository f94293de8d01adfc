// Content-addressed blobs under <root>/blobs/sha256/<hex>. Writes go to <root>/ingest
// first and become visible only once their digest is verified, so an interrupted or
// corrupt download never leaves a blob behind.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sockerless::image {

class BlobStore {
 public:
  explicit BlobStore(std::string root);  // creates the folders; removes stale ingests

  bool has(std::string_view digest) const;
  std::string path(std::string_view digest) const;  // throws InvalidArgument on a bad digest
  std::uint64_t size(std::string_view digest) const;
  std::string read(std::string_view digest) const;  // whole blob; for manifests and configs
  std::string put(std::string_view data);           // returns its digest
  void remove(std::string_view digest);

  // A blob being written. commit() verifies and publishes it; destroying an uncommitted
  // writer deletes what was written.
  class Writer {
   public:
    ~Writer();
    Writer(Writer&&) noexcept;
    void write(const char* data, std::size_t size);
    std::uint64_t written() const { return written_; }
    // Verifies the content against `expected` ("sha256:…"; empty: accept whatever it is)
    // and moves it into place; returns the digest. Throws InvalidArgument on a mismatch.
    std::string commit(std::string_view expected);

   private:
    friend class BlobStore;
    struct State;
    explicit Writer(std::unique_ptr<State> s);
    std::unique_ptr<State> state_;
    std::uint64_t written_ = 0;
  };
  Writer begin();

 private:
  std::string root_;
};

}  // namespace sockerless::image
