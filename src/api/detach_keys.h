// Detach keys: the key sequence that ends an attached session on a TTY (docker attach,
// docker exec -it) while the process goes on running. Written as docker's `detachKeys`
// spec, comma-separated keys: "ctrl-p,ctrl-q" (the default), "ctrl-x,x", "DEL".
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sockerless::api {

// The bytes of a spec; the default sequence for an empty one; nullopt when a key is
// neither one character, nor ctrl-@ … ctrl-_, nor DEL.
std::optional<std::string> parse_detach_keys(std::string_view spec);

// Watches a client's input for the sequence, key by key across reads, as dockerd does: keys
// held while they match, given back when the next one does not.
class DetachScanner {
 public:
  explicit DetachScanner(std::string keys) : keys_(std::move(keys)) {}

  // What of `input` goes on to the process; `detached` turns true once the sequence is
  // complete (what preceded it in `input` is still returned, the rest is dropped).
  std::string feed(std::string_view input, bool& detached);

 private:
  std::string keys_;
  std::size_t matched_ = 0;
};

}  // namespace sockerless::api
