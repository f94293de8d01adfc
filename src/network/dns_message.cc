#include "network/dns_message.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace sockerless::network::dns {
namespace {

constexpr std::uint16_t kFlagResponse = 0x8000;
constexpr std::uint16_t kFlagAuthoritative = 0x0400;
constexpr std::uint16_t kFlagTruncated = 0x0200;
constexpr std::uint16_t kFlagRecursionDesired = 0x0100;
constexpr std::uint16_t kFlagRecursionAvailable = 0x0080;
constexpr std::uint16_t kOpcodeMask = 0x7800;

std::uint16_t get16(std::span<const std::uint8_t> p, std::size_t at) {
  return static_cast<std::uint16_t>(p[at] << 8 | p[at + 1]);
}
void put16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
void set16(Bytes& out, std::size_t at, std::uint16_t v) {
  out[at] = static_cast<std::uint8_t>(v >> 8);
  out[at + 1] = static_cast<std::uint8_t>(v);
}
void put32(Bytes& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v));
}

// The response header for `query`: same id and opcode, RD copied, RA set.
Bytes response_header(std::uint16_t id, std::uint16_t query_flags, Rcode rcode) {
  Bytes out;
  put16(out, id);
  auto flags = static_cast<std::uint16_t>(
      kFlagResponse | (query_flags & (kOpcodeMask | kFlagRecursionDesired)) |
      kFlagRecursionAvailable | static_cast<std::uint16_t>(rcode));
  put16(out, flags);
  for (int i = 0; i < 4; ++i)
    put16(out, 0);  // counts, filled in by the caller
  return out;
}

}  // namespace

std::optional<std::string> read_name(std::span<const std::uint8_t> packet, std::size_t& offset) {
  std::string name;
  std::size_t at = offset;
  bool jumped = false;
  int jumps = 0;
  std::size_t wire_length = 1;
  for (;;) {
    if (at >= packet.size()) return std::nullopt;
    std::uint8_t len = packet[at];
    if ((len & 0xc0) == 0xc0) {
      if (at + 1 >= packet.size() || ++jumps > 64) return std::nullopt;
      std::size_t target = static_cast<std::size_t>(len & 0x3f) << 8 | packet[at + 1];
      if (!jumped) offset = at + 2;
      jumped = true;
      at = target;
      continue;
    }
    if ((len & 0xc0) != 0) return std::nullopt;  // the reserved label types
    if (len == 0) {
      if (!jumped) offset = at + 1;
      return name;
    }
    wire_length += len + 1;
    if (wire_length > 255 || at + 1 + len > packet.size()) return std::nullopt;
    if (!name.empty()) name += '.';
    for (std::size_t i = 0; i < len; ++i)
      name += static_cast<char>(std::tolower(packet[at + 1 + i]));
    at += 1 + len;
  }
}

std::optional<Query> parse_query(std::span<const std::uint8_t> packet) {
  if (packet.size() < kHeaderSize) return std::nullopt;
  Query q;
  q.id = get16(packet, 0);
  q.flags = get16(packet, 2);
  if ((q.flags & kFlagResponse) || (q.flags & kOpcodeMask) != 0) return std::nullopt;
  if (get16(packet, 4) != 1) return std::nullopt;
  std::size_t offset = kHeaderSize;
  auto name = read_name(packet, offset);
  if (!name || offset + 4 > packet.size()) return std::nullopt;
  q.name = std::move(*name);
  q.type = get16(packet, offset);
  q.klass = get16(packet, offset + 2);
  q.question_end = offset + 4;
  return q;
}

Bytes build_answer(std::span<const std::uint8_t> packet, const Query& query,
                   const std::vector<in_addr>& addresses, std::uint32_t ttl, std::size_t max_size) {
  Bytes out = response_header(query.id, query.flags, Rcode::NoError);
  set16(out, 2, get16(out, 2) | kFlagAuthoritative);
  set16(out, 4, 1);
  out.insert(out.end(), packet.begin() + kHeaderSize, packet.begin() + query.question_end);
  std::uint16_t count = 0;
  for (const auto& address : addresses) {
    constexpr std::size_t kRecordSize = 2 + 2 + 2 + 4 + 2 + 4;
    if (out.size() + kRecordSize > max_size) {
      set16(out, 2, get16(out, 2) | kFlagTruncated);
      break;
    }
    put16(out, 0xc000 | kHeaderSize);  // the name: a pointer to the question's
    put16(out, kTypeA);
    put16(out, kClassIn);
    put32(out, ttl);
    put16(out, 4);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&address.s_addr);
    out.insert(out.end(), bytes, bytes + 4);
    ++count;
  }
  set16(out, 6, count);
  return out;
}

Bytes build_error(std::span<const std::uint8_t> packet, const Query* query, Rcode rcode) {
  std::uint16_t id = packet.size() >= 2 ? get16(packet, 0) : 0;
  std::uint16_t flags = packet.size() >= 4 ? get16(packet, 2) : 0;
  Bytes out = response_header(id, flags, rcode);
  if (query) {
    set16(out, 4, 1);
    out.insert(out.end(), packet.begin() + kHeaderSize, packet.begin() + query->question_end);
  }
  return out;
}

Bytes build_query(std::uint16_t id, const std::string& name, std::uint16_t type) {
  Bytes out;
  put16(out, id);
  put16(out, kFlagRecursionDesired);
  put16(out, 1);
  for (int i = 0; i < 3; ++i)
    put16(out, 0);
  std::size_t start = 0;
  while (start < name.size()) {
    std::size_t dot = std::min(name.find('.', start), name.size());
    out.push_back(static_cast<std::uint8_t>(dot - start));
    out.insert(out.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
               name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  out.push_back(0);
  put16(out, type);
  put16(out, kClassIn);
  return out;
}

std::optional<Response> parse_response(std::span<const std::uint8_t> packet) {
  if (packet.size() < kHeaderSize) return std::nullopt;
  Response r;
  r.id = get16(packet, 0);
  std::uint16_t flags = get16(packet, 2);
  if (!(flags & kFlagResponse)) return std::nullopt;
  r.rcode = static_cast<Rcode>(flags & 0x0f);
  r.truncated = flags & kFlagTruncated;
  r.authoritative = flags & kFlagAuthoritative;
  std::uint16_t questions = get16(packet, 4);
  r.answer_count = get16(packet, 6);
  std::size_t offset = kHeaderSize;
  for (std::uint16_t i = 0; i < questions; ++i) {
    if (!read_name(packet, offset) || offset + 4 > packet.size()) return std::nullopt;
    offset += 4;
  }
  for (std::uint16_t i = 0; i < r.answer_count; ++i) {
    if (!read_name(packet, offset) || offset + 10 > packet.size()) return std::nullopt;
    std::uint16_t type = get16(packet, offset);
    std::uint32_t ttl = std::uint32_t{get16(packet, offset + 4)} << 16 | get16(packet, offset + 6);
    std::uint16_t length = get16(packet, offset + 8);
    offset += 10;
    if (offset + length > packet.size()) return std::nullopt;
    if (type == kTypeA && length == 4) {
      in_addr address;
      std::memcpy(&address.s_addr, packet.data() + offset, 4);
      r.a_records.push_back(address);
      r.ttls.push_back(ttl);
    }
    offset += length;
  }
  return r;
}

}  // namespace sockerless::network::dns
