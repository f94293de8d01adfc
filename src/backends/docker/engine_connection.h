// Where the Docker engine underneath the docker backend listens, and one blocking
// connection to it: a unix socket, TCP, or TCP with TLS (the docker CLI's DOCKER_HOST,
// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH semantics).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace sockerless::backends::docker {

struct EngineAddress {
  std::string url;         // as shown in messages: "unix:///var/run/docker.sock"
  std::string unix_path;   // for unix://
  std::string host, port;  // for tcp://
  bool tls = false;
  bool verify = false;  // check the engine's certificate against ca_file and its name
  std::string ca_file, cert_file, key_file;  // cert/key: the client's, when present
};

struct EngineTls {
  bool tls = false, verify = false;
  std::string cert_path;  // directory with ca.pem, cert.pem, key.pem
};

// Parses "unix:///path", "/path", "tcp://host[:port]" (2375, or 2376 with TLS).
// Throws InvalidArgument for anything else.
EngineAddress parse_engine_address(const std::string& host, const EngineTls& tls);

// One connection, blocking. Reads and writes throw std::system_error (or runtime_error
// for TLS failures) when the connection breaks; read_some returns 0 at the end.
class EngineConnection {
 public:
  // Connects within `timeout`; throws BadGateway naming the engine's address.
  static std::unique_ptr<EngineConnection> open(const EngineAddress& address,
                                                std::chrono::milliseconds timeout);
  virtual ~EngineConnection() = default;

  virtual std::size_t read_some(char* data, std::size_t size) = 0;
  virtual void write_all(const char* data, std::size_t size) = 0;
  void write_all(const std::string& s) { write_all(s.data(), s.size()); }
  // Half-closes toward the engine (end of stdin on a hijacked connection).
  virtual void shutdown_write() = 0;
  // The socket, for poll(); with TLS, check buffered() first.
  virtual int fd() const = 0;
  // Bytes already decrypted and waiting: a read returns at once.
  virtual bool buffered() const = 0;
};

}  // namespace sockerless::backends::docker
