#include "daemon/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace sockerless::daemon {
namespace {

DaemonConfig parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "sockerlessd");
  auto out = load_config(args, env);
  EXPECT_TRUE(out.config) << out.message;
  return out.config.value_or(DaemonConfig{});
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& text) {
    char tmpl[] = "/tmp/sockerless-config-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ::close(fd);
    path = tmpl;
    std::ofstream(path) << text;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

TEST(Config, FlagsBeatEnvBeatFile) {
  TempFile file("log-level: error\ndata-root: /from/file\nbackend: memory\nlabels: [a=1, b=2]\n");
  auto c = parse({"--config-file", file.path, "--log-level", "debug"},
                 {{"SOCKERLESS_DATA_ROOT", "/from/env"}});
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.data_root, "/from/env");
  EXPECT_EQ(c.labels, (std::vector<std::string>{"a=1", "b=2"}));
  c = parse({"--config-file", file.path});
  EXPECT_EQ(c.log_level, "error");
  EXPECT_EQ(c.data_root, "/from/file");
}

TEST(Config, HostsRepeatAndNormalise) {
  auto c =
      parse({"-H", "unix:///tmp/a.sock", "-H", "tcp://127.0.0.1:2375", "--host", "tcp://0.0.0.0"});
  ASSERT_EQ(c.hosts.size(), 3u);
  EXPECT_EQ(c.hosts[0], "unix:///tmp/a.sock");
  EXPECT_EQ(c.hosts[2], "tcp://0.0.0.0:2375");
  c = parse({"-H", "tcp://127.0.0.1", "--tlsverify"}, {{"HOME", "/home/u"}});
  EXPECT_EQ(c.hosts[0], "tcp://127.0.0.1:2376");
  EXPECT_TRUE(c.tls);
  EXPECT_EQ(c.tls_ca_cert, "/home/u/.docker/ca.pem");
  c = parse({}, {{"SOCKERLESS_HOSTS", "unix:///x.sock,tcp://127.0.0.1:1"}});
  EXPECT_EQ(c.hosts.size(), 2u);
}

TEST(Config, UnknownFileKeysAreErrors) {
  TempFile file("log-level: info\nnot-a-thing: 1\n");
  auto out = load_config({"sockerlessd", "--config-file", file.path}, {});
  EXPECT_FALSE(out.config);
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.message.find("not-a-thing"), std::string::npos);
}

TEST(Config, IptablesAndIpForwardAsDockerd) {
  auto c = parse({});
  EXPECT_TRUE(c.iptables);
  EXPECT_TRUE(c.ip_forward);
  c = parse({"--iptables=false", "--ip-forward=false"});
  EXPECT_FALSE(c.iptables);
  EXPECT_FALSE(c.ip_forward);
  c = parse({"--iptables", "--ip-forward=true"});
  EXPECT_TRUE(c.iptables);
  EXPECT_TRUE(c.ip_forward);
  // dockerd's daemon.json keys; JSON is YAML.
  TempFile file("{\"iptables\": false, \"ip-forward\": false}\n");
  c = parse({"--config-file", file.path});
  EXPECT_FALSE(c.iptables);
  EXPECT_FALSE(c.ip_forward);
  c = parse({"--config-file", file.path, "--iptables=true"});
  EXPECT_TRUE(c.iptables);
  EXPECT_FALSE(c.ip_forward);
}

TEST(Config, BadFlagIsAnError) {
  auto out = load_config({"sockerlessd", "--no-such-flag"}, {});
  EXPECT_FALSE(out.config);
  EXPECT_EQ(out.exit_code, 1);
}

TEST(Config, DefaultsDependOnPrivilege) {
  EXPECT_EQ(default_host(true, {}), "unix:///run/sockerless.sock");
  EXPECT_EQ(default_host(false, {{"XDG_RUNTIME_DIR", "/run/user/1000"}}),
            "unix:///run/user/1000/sockerless.sock");
  EXPECT_EQ(default_data_root(true, {}), "/var/lib/sockerless");
  EXPECT_EQ(default_data_root(false, {{"HOME", "/home/u"}}), "/home/u/.local/share/sockerless");
}

TEST(Config, LoopbackDetection) {
  EXPECT_FALSE(is_non_loopback_tcp("tcp://127.0.0.1:2375"));
  EXPECT_FALSE(is_non_loopback_tcp("tcp://localhost:2375"));
  EXPECT_FALSE(is_non_loopback_tcp("tcp://[::1]:2375"));
  EXPECT_TRUE(is_non_loopback_tcp("tcp://0.0.0.0:2375"));
  EXPECT_FALSE(is_non_loopback_tcp("unix:///x"));
}

}  // namespace
}  // namespace sockerless::daemon
