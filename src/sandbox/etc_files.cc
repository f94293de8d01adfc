#include "sandbox/etc_files.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace sockerless::sandbox {
namespace {

std::string read_host_file(const char* path) {
  std::ifstream in(path);
  std::ostringstream s;
  if (in) s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    if (!out.flush())
      throw SandboxError("etc files", "writing " + tmp + ": " + std::strerror(errno));
  }
  // Replacing by rename would give a running container's bind mount a stale inode, but
  // these files are only written before the container starts.
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw SandboxError("etc files", "writing " + path + ": " + std::strerror(errno));
}

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  std::string w;
  while (in >> w)
    out.push_back(w);
  return out;
}

bool localhost_address(const std::string& ip) {
  return ip.rfind("127.", 0) == 0 || ip == "::1" || ip == "0:0:0:0:0:0:0:1";
}

}  // namespace

std::string effective_hostname(const ContainerSpec& spec) {
  if (!spec.hostname.empty()) return spec.hostname;
  if (spec.network_mode == "host") {
    char buf[HOST_NAME_MAX + 1] = {};
    if (::gethostname(buf, sizeof buf - 1) == 0 && buf[0]) return buf;
  }
  return spec.id.substr(0, 12);
}

std::string hosts_content(const ContainerSpec& spec, const std::string& host_hosts) {
  std::string out;
  if (spec.network_mode == "host") {
    out = host_hosts;
    if (!out.empty() && out.back() != '\n') out += '\n';
  } else {
    out =
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "ff00::0\tip6-mcastprefix\n"
        "ff02::1\tip6-allnodes\n"
        "ff02::2\tip6-allrouters\n";
  }
  for (const auto& entry : spec.extra_hosts) {
    // "name:ip"; the ip may be IPv6 and contain colons of its own.
    auto colon = entry.find(':');
    if (colon == std::string::npos) continue;
    out += entry.substr(colon + 1) + "\t" + entry.substr(0, colon) + "\n";
  }
  // Docker's record for the container itself. Without an interface of its own the
  // container reaches itself over loopback; with --network none docker writes none.
  if (spec.network_mode != "host" && spec.network_mode != "none") {
    std::string name = effective_hostname(spec);
    std::string names = spec.domainname.empty() ? name : name + "." + spec.domainname + " " + name;
    out += (spec.ip_address.empty() ? "127.0.0.1" : spec.ip_address) + "\t" + names + "\n";
  }
  return out;
}

std::string resolv_conf_content(const ContainerSpec& spec, const std::string& host_resolv) {
  bool own_netns = spec.network_mode != "host";
  if (!own_netns && spec.dns_servers.empty() && spec.dns_search.empty() && spec.dns_options.empty())
    return host_resolv;

  std::vector<std::string> nameservers, search, options;
  std::istringstream in(host_resolv);
  std::string line;
  while (std::getline(in, line)) {
    auto w = words(line);
    if (w.empty() || w[0][0] == '#' || w[0][0] == ';') continue;
    if (w[0] == "nameserver" && w.size() > 1) {
      const std::string& ip = w[1];
      if (own_netns && (localhost_address(ip) || ip.find(':') != std::string::npos)) continue;
      nameservers.push_back(ip);
    } else if ((w[0] == "search" || w[0] == "domain") && w.size() > 1) {
      search.assign(w.begin() + 1, w.end());  // the last one wins, as in the resolver
    } else if (w[0] == "options") {
      options.insert(options.end(), w.begin() + 1, w.end());
    }
  }
  if (!spec.dns_servers.empty()) nameservers = spec.dns_servers;
  if (nameservers.empty()) nameservers = {"8.8.8.8", "8.8.4.4"};
  if (!spec.dns_search.empty()) {
    search = spec.dns_search;
    if (search.size() == 1 && search[0] == ".") search.clear();  // docker: "." means none
  }
  if (!spec.dns_options.empty()) options = spec.dns_options;

  std::string out;
  for (const auto& ns : nameservers)
    out += "nameserver " + ns + "\n";
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v)
      s += (s.empty() ? "" : " ") + x;
    return s;
  };
  if (!search.empty()) out += "search " + join(search) + "\n";
  if (!options.empty()) out += "options " + join(options) + "\n";
  return out;
}

void write_etc_files(const ContainerSpec& spec, const StateLayout& layout) {
  write_file(layout.hosts, hosts_content(spec, read_host_file("/etc/hosts")));
  write_file(layout.hostname, effective_hostname(spec) + "\n");
  write_file(layout.resolv_conf, resolv_conf_content(spec, read_host_file("/etc/resolv.conf")));
}

}  // namespace sockerless::sandbox
