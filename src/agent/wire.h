// The agent protocol's wire pieces (docs/agent-protocol.md), pure and tested on their own:
// WebSocket framing (RFC 6455) and its opening handshake, the 5-byte header of data
// messages, the hello negotiation, error kinds and signal names. Shared by the static
// sockerless-agent binary and the daemon, so nothing here may need more than libstdc++
// and nlohmann::json.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sockerless::agent {

inline constexpr int kProtocolVersion = 1;
inline constexpr const char* kAgentVersion = "0.1.0";
// The path an agent listening for the daemon serves (forward mode).
inline constexpr const char* kAgentPath = "/v1/agent";
// The daemon's route for agents that dial it (reverse mode).
inline constexpr const char* kConnectPath = "/internal/v1/agent/connect";
// The environment variable that carries the container's token to the agent.
inline constexpr const char* kTokenEnv = "SOCKERLESS_AGENT_TOKEN";

// ---------------------------------------------------------------- WebSocket framing

enum class Opcode : std::uint8_t {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xA,
};

// One frame, header and payload, as it goes on the wire. `mask` is set by clients
// (RFC 6455 5.3: every client-to-server frame is masked).
std::string encode_frame(Opcode op, std::string_view payload, bool fin = true,
                         std::optional<std::array<std::uint8_t, 4>> mask = std::nullopt);

// The bytes of a frame header, parsed; nullopt while `data` holds too few bytes.
struct FrameHeader {
  bool fin = false;
  Opcode op = Opcode::Continuation;
  bool masked = false;
  std::array<std::uint8_t, 4> mask{};
  std::uint64_t length = 0;
  std::size_t header_size = 0;
};
// Throws ProtocolError on what RFC 6455 forbids (reserved bits, unknown opcodes, control
// frames that are fragmented or longer than 125 bytes, lengths over `max_length`).
std::optional<FrameHeader> parse_frame_header(std::string_view data,
                                              std::uint64_t max_length = 64ull << 20);
void unmask(std::string& payload, const std::array<std::uint8_t, 4>& mask, std::size_t offset = 0);

class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The opening handshake's accept value for a client's Sec-WebSocket-Key.
std::string websocket_accept(std::string_view key);
std::string base64(std::string_view bytes);
std::array<std::uint8_t, 20> sha1(std::string_view data);

// ---------------------------------------------------------------- agent messages

enum Stream : std::uint8_t { kStdin = 0, kStdout = 1, kStderr = 2, kArchive = 3 };

// The header of a binary (data) message: stream, then session big-endian.
inline constexpr std::size_t kDataHeader = 5;
std::string data_header(std::uint8_t stream, std::uint32_t session);
struct DataMessage {
  std::uint8_t stream = 0;
  std::uint32_t session = 0;
  std::string_view payload;
};
// Throws ProtocolError for a message shorter than its header or of an unknown stream.
DataMessage parse_data(std::string_view message);

// The hello each side sends first.
nlohmann::json hello(const std::string& role, const std::vector<std::string>& capabilities,
                     const std::string& container = "");
// The version both speak: the highest in both lists. Throws ProtocolError naming both
// lists when there is none, or when `theirs` is not a hello.
int negotiate(const nlohmann::json& theirs, const std::vector<int>& ours = {kProtocolVersion});

// Error kinds and the HTTP status the daemon answers with for each.
int status_of_kind(std::string_view kind);
std::string kind_of_status(int status);

// A signal as docker kill and stop signals name it: "SIGTERM", "TERM", "term", "15",
// "SIGRTMIN+3". nullopt for anything else.
std::optional<int> parse_signal(std::string_view name);

// Constant-time comparison of two tokens.
bool same_token(std::string_view a, std::string_view b);

}  // namespace sockerless::agent
