#include "network/nat.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/command.h"
#include "common/errors.h"
#include "common/unique_fd.h"
#include "network/net_error.h"

namespace sockerless::network {
namespace {

struct Rule {
  std::string table;
  std::string chain;
  std::vector<std::string> spec;
  bool insert = false;  // -I (before whatever the host has) rather than -A
};

std::vector<std::string> command(const char* op, const Rule& rule) {
  std::vector<std::string> args{"-t", rule.table, op, rule.chain};
  args.insert(args.end(), rule.spec.begin(), rule.spec.end());
  return args;
}

std::string describe(const std::vector<std::string>& args) {
  std::string text = "iptables";
  for (const auto& a : args)
    text += " " + a;
  return text;
}

void ensure(const Rule& rule) {
  if (run_iptables(command("-C", rule)).exit_code == 0) return;
  auto args = command(rule.insert ? "-I" : "-A", rule);
  auto result = run_iptables(args);
  if (result.exit_code != 0)
    throw Internal("unable to add rule (" + describe(args) + "): " + result.output);
}

void remove(const Rule& rule) {
  for (int i = 0; i < 16 && run_iptables(command("-C", rule)).exit_code == 0; ++i)
    run_iptables(command("-D", rule));
}

std::vector<Rule> nat_rules(const std::string& subnet, const std::string& bridge) {
  return {
      {"nat", "POSTROUTING", {"-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE"}},
      {"filter", "FORWARD", {"-i", bridge, "!", "-o", bridge, "-j", "ACCEPT"}, true},
      {"filter", "FORWARD", {"-i", bridge, "-o", bridge, "-j", "ACCEPT"}, true},
      {"filter",
       "FORWARD",
       {"-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
       true},
  };
}

std::vector<Rule> isolation_rules(const std::string& a, const std::string& b) {
  return {{"filter", "FORWARD", {"-i", a, "-o", b, "-j", "DROP"}, true},
          {"filter", "FORWARD", {"-i", b, "-o", a, "-j", "DROP"}, true}};
}

std::vector<Rule> internal_rules(const std::string& bridge) {
  return {{"filter", "FORWARD", {"-i", bridge, "!", "-o", bridge, "-j", "DROP"}, true},
          {"filter", "FORWARD", {"!", "-i", bridge, "-o", bridge, "-j", "DROP"}, true}};
}

}  // namespace

IptablesResult run_iptables(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"iptables", "-w"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto run = run_command(argv);
  IptablesResult result{run.exit_code, std::move(run.output)};
  while (!result.output.empty() && result.output.back() == '\n')
    result.output.pop_back();
  return result;
}

bool iptables_usable(std::string* why) {
  auto result = run_iptables({"-t", "nat", "-n", "-L", "POSTROUTING"});
  if (result.exit_code == 0) return true;
  if (why)
    *why = result.exit_code < 0 ? "iptables is not available: " + result.output
                                : "iptables does not work here: " + result.output;
  return false;
}

void enable_ip_forward() {
  // /proc/sys/net resolves against the opening thread's network namespace.
  UniqueFd fd(::open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC));
  if (!fd) throw_errno("enable ip forwarding");
  if (::write(fd.get(), "1\n", 2) != 2) throw_errno("enable ip forwarding");
}

void add_nat_rules(const std::string& subnet, const std::string& bridge) {
  for (const auto& rule : nat_rules(subnet, bridge))
    ensure(rule);
}

void remove_nat_rules(const std::string& subnet, const std::string& bridge) {
  for (const auto& rule : nat_rules(subnet, bridge))
    remove(rule);
}

void add_isolation_rules(const std::string& bridge_a, const std::string& bridge_b) {
  for (const auto& rule : isolation_rules(bridge_a, bridge_b))
    ensure(rule);
}

void remove_isolation_rules(const std::string& bridge_a, const std::string& bridge_b) {
  for (const auto& rule : isolation_rules(bridge_a, bridge_b))
    remove(rule);
}

void add_internal_rules(const std::string& bridge) {
  for (const auto& rule : internal_rules(bridge))
    ensure(rule);
}

void remove_internal_rules(const std::string& bridge) {
  for (const auto& rule : internal_rules(bridge))
    remove(rule);
}

}  // namespace sockerless::network
