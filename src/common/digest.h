// SHA-256 for content addressing and digest verification.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace sockerless {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(std::string_view data);
  void update(const void* data, std::size_t size);
  std::string hex();  // finishes: 64 lowercase hex characters
  std::string digest() { return "sha256:" + hex(); }

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string sha256_digest(std::string_view data);  // "sha256:<hex>"

}  // namespace sockerless
