// Generated container names, "adjective_surname" like Docker's: words of our own choosing.
#include <array>
#include <string>

#include "common/ids.h"

namespace sockerless::engine {

namespace {

constexpr std::array<const char*, 40> kAdjectives = {
    "agile",   "amber",    "brave",  "bright", "calm",  "clever", "cosmic", "daring",
    "eager",   "fearless", "gentle", "golden", "happy", "hardy",  "humble", "jolly",
    "keen",    "kind",     "lively", "lucid",  "merry", "mighty", "nimble", "noble",
    "patient", "plucky",   "proud",  "quiet",  "rapid", "serene", "sharp",  "silent",
    "steady",  "sunny",    "swift",  "tender", "vivid", "warm",   "wise",   "zealous"};

constexpr std::array<const char*, 40> kSurnames = {
    "agnesi",   "babbage",   "banach",   "bohr",    "cantor",     "curie",      "darwin",
    "dijkstra", "euler",     "faraday",  "fermat",  "feynman",    "franklin",   "gauss",
    "germain",  "goedel",    "hamilton", "hopper",  "hypatia",    "kepler",     "knuth",
    "lamarr",   "lovelace",  "maxwell",  "meitner", "mirzakhani", "noether",    "pascal",
    "planck",   "ramanujan", "riemann",  "ritchie", "shannon",    "somerville", "tesla",
    "thompson", "turing",    "wiles",    "wu",      "yalow"};

}  // namespace

std::string random_container_name() {
  std::string r = random_hex(4);
  unsigned v = static_cast<unsigned>(std::stoul(r, nullptr, 16));
  return std::string(kAdjectives[v % kAdjectives.size()]) + "_" +
         kSurnames[(v / kAdjectives.size()) % kSurnames.size()];
}

}  // namespace sockerless::engine
