// DNS wire format, the little of it the embedded DNS server needs: reading a query's
// question (following compression pointers), and building answers and errors that echo
// it. Also enough of the other side (building a query, reading A answers) to test with.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sockerless::network::dns {

using Bytes = std::vector<std::uint8_t>;

inline constexpr std::uint16_t kTypeA = 1;
inline constexpr std::uint16_t kTypeAAAA = 28;
inline constexpr std::uint16_t kClassIn = 1;

enum class Rcode : std::uint8_t {
  NoError = 0,
  FormErr = 1,
  ServFail = 2,
  NxDomain = 3,
  NotImp = 4,
  Refused = 5
};

inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::size_t kMaxUdpSize = 512;  // without EDNS

struct Query {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::string name;  // lower case, no trailing dot; "" for the root
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  std::size_t question_end = 0;  // offset just past the question in the packet
};

// Reads the domain name at `offset` (advanced past it, not past the target of a
// pointer). nullopt for a malformed name: out of bounds, pointer loops, over 255 bytes.
std::optional<std::string> read_name(std::span<const std::uint8_t> packet, std::size_t& offset);

// A standard query with exactly one question, else nullopt.
std::optional<Query> parse_query(std::span<const std::uint8_t> packet);

// The answer to `query` (parsed from `packet`): the question echoed, one A record per
// address with `ttl`, authoritative, recursion available. For AAAA pass no addresses.
// `max_size` drops records that would not fit and sets TC.
Bytes build_answer(std::span<const std::uint8_t> packet, const Query& query,
                   const std::vector<in_addr>& addresses, std::uint32_t ttl,
                   std::size_t max_size = 65535);

// An empty response with `rcode`, echoing the question when the query had one parsed.
Bytes build_error(std::span<const std::uint8_t> packet, const Query* query, Rcode rcode);

// For clients and tests: a recursive query for `name`.
Bytes build_query(std::uint16_t id, const std::string& name, std::uint16_t type);

struct Response {
  std::uint16_t id = 0;
  Rcode rcode = Rcode::NoError;
  bool truncated = false;
  bool authoritative = false;
  std::uint16_t answer_count = 0;
  std::vector<in_addr> a_records;
  std::vector<std::uint32_t> ttls;  // one per A record
};
std::optional<Response> parse_response(std::span<const std::uint8_t> packet);

}  // namespace sockerless::network::dns
