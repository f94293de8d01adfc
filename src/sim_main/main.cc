// sockerless-sim: local simulators of the clouds the cloud backends run on. They serve the
// clouds' wire protocols and run the workloads for real (see sims/common/simulator.h).
//   sockerless-sim aws [--listen 127.0.0.1:4566] [--data-root DIR] [--region us-east-1]
//                      [--account-id 123456789012] [--credentials FILE] [--vpc-cidr CIDR]
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/log.h"
#include "monitor/roles.h"
#include "sims/aws/services.h"
#include "sims/common/simulator.h"

namespace {

using sockerless::sims::SimOptions;

std::string default_data_root(const std::string& cloud) {
  if (::geteuid() == 0) return "/var/lib/sockerless-sim/" + cloud;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x)
    return std::string(x) + "/sockerless-sim/" + cloud;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.local/share/sockerless-sim/" + cloud;
}

// One pair a line: access key id and secret access key, separated by whitespace or ':'.
// Blank lines and lines starting with '#' are skipped.
std::map<std::string, std::string> read_credentials(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read --credentials " + path);
  std::map<std::string, std::string> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    for (char& c : line)
      if (c == ':' || c == '\t' || c == '\r') c = ' ';
    std::istringstream fields(line);
    std::string key, secret, extra;
    fields >> key >> secret;
    if (key.empty() || secret.empty() || (fields >> extra))
      throw std::runtime_error(path + ":" + std::to_string(n) +
                               ": expected ACCESS_KEY_ID SECRET_ACCESS_KEY");
    out[key] = secret;
  }
  if (out.empty()) throw std::runtime_error("--credentials " + path + " holds no credentials");
  return out;
}

int run(int argc, char** argv) {
  CLI::App app{"sockerless-sim: local simulators of AWS (and later Google Cloud and Azure)"};
  app.require_subcommand(1);
  app.fallthrough();  // --log-level after the cloud too
  SimOptions o;
  o.vpc_cidr.clear();
  std::string credentials, log_level = "info";
  auto* aws = app.add_subcommand("aws", "ECS, Lambda, ECR, CloudWatch Logs, IAM, STS, EC2");
  aws->add_option("--listen", o.listen, "HOST:PORT to serve on")->capture_default_str();
  aws->add_option("--data-root", o.data_root,
                  "state, images and workloads (default: "
                  "/var/lib/sockerless-sim/aws as root)");
  aws->add_option("--region", o.region, "the region served")->capture_default_str();
  aws->add_option("--account-id", o.account_id, "the account's id")->capture_default_str();
  aws->add_option("--credentials", credentials,
                  "file of ACCESS_KEY_ID SECRET_ACCESS_KEY lines (default: test/test)");
  aws->add_option("--vpc-cidr", o.vpc_cidr,
                  "the VPC's range (default 10.231.0.0/16, or the next free /16)");
  app.add_option("--log-level", log_level, "debug, info, warn, error")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    sockerless::log::init(sockerless::log::parse_level(log_level), sockerless::log::Format::Text);
    if (o.data_root.empty()) o.data_root = default_data_root("aws");
    if (!credentials.empty()) o.credentials = read_credentials(credentials);
    bool explicit_cidr = !o.vpc_cidr.empty();
    if (!explicit_cidr) o.vpc_cidr = "10.231.0.0/16";

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    sockerless::sims::Simulator sim(o, explicit_cidr);
    sockerless::sims::aws::add_services(sim);
    sim.serve(signals);
  } catch (const std::exception& e) {
    std::cerr << "sockerless-sim: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  // The memory backend's helper roles (the per-container monitor), when sockerless-monitor
  // is not beside this binary.
  if (auto code = sockerless::monitor::run_role(args)) return *code;
  return run(argc, argv);
}
