#include "agent/wire.h"

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace sockerless::agent {

using nlohmann::json;

std::string encode_frame(Opcode op, std::string_view payload, bool fin,
                         std::optional<std::array<std::uint8_t, 4>> mask) {
  std::string out;
  out.reserve(payload.size() + 14);
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | static_cast<std::uint8_t>(op)));
  std::uint8_t mask_bit = mask ? 0x80 : 0;
  std::uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>((n >> shift) & 0xFF));
  }
  if (!mask) {
    out.append(payload);
    return out;
  }
  for (auto b : *mask)
    out.push_back(static_cast<char>(b));
  std::size_t start = out.size();
  out.append(payload);
  for (std::size_t i = 0; i < payload.size(); ++i)
    out[start + i] = static_cast<char>(static_cast<std::uint8_t>(out[start + i]) ^ (*mask)[i % 4]);
  return out;
}

std::optional<FrameHeader> parse_frame_header(std::string_view data, std::uint64_t max_length) {
  if (data.size() < 2) return std::nullopt;
  auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(data[i]); };
  FrameHeader h;
  if (byte(0) & 0x70) throw ProtocolError("reserved bits set in a WebSocket frame");
  h.fin = byte(0) & 0x80;
  std::uint8_t op = byte(0) & 0x0F;
  if (op != 0x0 && op != 0x1 && op != 0x2 && op != 0x8 && op != 0x9 && op != 0xA)
    throw ProtocolError("unknown WebSocket opcode " + std::to_string(op));
  h.op = static_cast<Opcode>(op);
  h.masked = byte(1) & 0x80;
  std::uint64_t n = byte(1) & 0x7F;
  std::size_t at = 2;
  if (n == 126) {
    if (data.size() < 4) return std::nullopt;
    n = (std::uint64_t{byte(2)} << 8) | byte(3);
    at = 4;
  } else if (n == 127) {
    if (data.size() < 10) return std::nullopt;
    n = 0;
    for (std::size_t i = 2; i < 10; ++i)
      n = (n << 8) | byte(i);
    at = 10;
  }
  if (op >= 0x8 && (!h.fin || n > 125))
    throw ProtocolError("a WebSocket control frame must be whole and at most 125 bytes");
  if (n > max_length)
    throw ProtocolError("a WebSocket frame of " + std::to_string(n) + " bytes is too large");
  if (h.masked) {
    if (data.size() < at + 4) return std::nullopt;
    for (std::size_t i = 0; i < 4; ++i)
      h.mask[i] = byte(at + i);
    at += 4;
  }
  h.length = n;
  h.header_size = at;
  return h;
}

void unmask(std::string& payload, const std::array<std::uint8_t, 4>& mask, std::size_t offset) {
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>(static_cast<std::uint8_t>(payload[i]) ^ mask[(offset + i) % 4]);
}

std::array<std::uint8_t, 20> sha1(std::string_view data) {
  std::uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string msg(data);
  std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56)
    msg.push_back('\0');
  for (int shift = 56; shift >= 0; shift -= 8)
    msg.push_back(static_cast<char>((bits >> shift) & 0xFF));
  auto rotl = [](std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (std::size_t block = 0; block < msg.size(); block += 64) {
    std::uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      const auto* p = reinterpret_cast<const unsigned char*>(msg.data() + block + i * 4);
      w[i] = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
             (std::uint32_t{p[2]} << 8) | p[3];
    }
    for (int i = 16; i < 80; ++i)
      w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      std::uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      std::uint32_t t = rotl(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::array<std::uint8_t, 20> out{};
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 4; ++j)
      out[i * 4 + j] = static_cast<std::uint8_t>(h[i] >> (24 - 8 * j));
  return out;
}

std::string base64(std::string_view bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  auto at = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[k]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    for (int s = 18; s >= 0; s -= 6)
      out.push_back(kAlphabet[(v >> s) & 0x3F]);
  }
  if (std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t v = at(i) << 16;
    if (rest == 2) v |= at(i + 1) << 8;
    out.push_back(kAlphabet[(v >> 18) & 0x3F]);
    out.push_back(kAlphabet[(v >> 12) & 0x3F]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 0x3F] : '=');
    out.push_back('=');
  }
  return out;
}

std::string websocket_accept(std::string_view key) {
  auto digest = sha1(std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  return base64(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::string data_header(std::uint8_t stream, std::uint32_t session) {
  std::string h(kDataHeader, '\0');
  h[0] = static_cast<char>(stream);
  for (int i = 0; i < 4; ++i)
    h[1 + i] = static_cast<char>((session >> (24 - 8 * i)) & 0xFF);
  return h;
}

DataMessage parse_data(std::string_view message) {
  if (message.size() < kDataHeader)
    throw ProtocolError("a data message of " + std::to_string(message.size()) +
                        " bytes is shorter than its header");
  DataMessage d;
  d.stream = static_cast<std::uint8_t>(message[0]);
  if (d.stream > kArchive) throw ProtocolError("unknown stream " + std::to_string(d.stream));
  for (int i = 1; i <= 4; ++i)
    d.session = (d.session << 8) | static_cast<std::uint8_t>(message[i]);
  d.payload = message.substr(kDataHeader);
  return d;
}

json hello(const std::string& role, const std::vector<std::string>& capabilities,
           const std::string& container) {
  json h = {{"type", "hello"},
            {"versions", {kProtocolVersion}},
            {"role", role},
            {"capabilities", capabilities},
            {"agent", kAgentVersion}};
  if (!container.empty()) h["container"] = container;
  return h;
}

int negotiate(const json& theirs, const std::vector<int>& ours) {
  if (!theirs.is_object() || theirs.value("type", "") != "hello" || !theirs.contains("versions") ||
      !theirs["versions"].is_array())
    throw ProtocolError("the peer's first message is not a hello");
  std::vector<int> their_versions;
  for (const auto& v : theirs["versions"])
    if (v.is_number_integer()) their_versions.push_back(v.get<int>());
  int best = 0;
  for (int v : ours)
    if (std::find(their_versions.begin(), their_versions.end(), v) != their_versions.end())
      best = std::max(best, v);
  if (best == 0)
    throw ProtocolError("no common protocol version: ours " + json(ours).dump() + ", theirs " +
                        json(their_versions).dump());
  return best;
}

int status_of_kind(std::string_view kind) {
  if (kind == "invalid") return 400;
  if (kind == "forbidden") return 403;
  if (kind == "not_found") return 404;
  if (kind == "conflict") return 409;
  if (kind == "unsupported") return 501;
  return 500;
}

std::string kind_of_status(int status) {
  switch (status) {
    case 400:
      return "invalid";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 501:
      return "unsupported";
    default:
      return "internal";
  }
}

std::optional<int> parse_signal(std::string_view text) {
  static const std::map<std::string, int, std::less<>> kSignals = {
      {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},
      {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},
      {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
      {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"CHLD", SIGCHLD},
      {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
      {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
      {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
      {"PWR", SIGPWR},       {"SYS", SIGSYS}};
  auto number = [](std::string_view s) -> std::optional<int> {
    if (s.empty() || s.size() > 3 || !std::all_of(s.begin(), s.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        }))
      return std::nullopt;
    return std::stoi(std::string(s));
  };
  if (auto n = number(text)) {
    if (*n <= 0 || *n > 64) return std::nullopt;
    return n;
  }
  std::string s(text);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  if (auto it = kSignals.find(s); it != kSignals.end()) return it->second;
  // Real-time signals: RTMIN, RTMIN+n, RTMAX, RTMAX-n.
  auto rt = [&](std::string_view base, int origin, char sign) -> std::optional<int> {
    std::string_view rest(s);
    if (rest.substr(0, base.size()) != base) return std::nullopt;
    rest.remove_prefix(base.size());
    if (rest.empty()) return origin;
    if (rest[0] != sign) return std::nullopt;
    auto n = number(rest.substr(1));
    if (!n) return std::nullopt;
    int v = sign == '+' ? origin + *n : origin - *n;
    if (v < SIGRTMIN || v > SIGRTMAX) return std::nullopt;
    return v;
  };
  if (auto v = rt("RTMIN", SIGRTMIN, '+')) return v;
  if (auto v = rt("RTMAX", SIGRTMAX, '-')) return v;
  return std::nullopt;
}

bool same_token(std::string_view a, std::string_view b) {
  // Every byte of the longer is looked at, whatever differs where.
  std::size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0 && !a.empty();
}

}  // namespace sockerless::agent
