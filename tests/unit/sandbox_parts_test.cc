// The sandbox's pure parts: overlay options, generated /etc files, users, capabilities,
// ulimits, the PATH lookup's messages, and the layer copy used without overlayfs.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "sandbox/caps.h"
#include "sandbox/etc_files.h"
#include "sandbox/layer_copy.h"
#include "sandbox/mounts.h"
#include "sandbox/process.h"
#include "sandbox/rlimits.h"
#include "sandbox/rootfs.h"
#include "sandbox/user.h"
#include "sandbox/userns.h"
#include "sandbox_test_support.h"

namespace sockerless::sandbox::testing {
namespace {

TEST(SandboxOverlay, ListsTheTopLayerFirstAndEscapes) {
  EXPECT_EQ(overlay_options({"/l/base", "/l/mid", "/l/top"}, "/s/upper", "/s/work"),
            "lowerdir=/l/top:/l/mid:/l/base,upperdir=/s/upper,workdir=/s/work");
  EXPECT_EQ(overlay_options({"/a,b", "/c:d"}, "/u\\v", "/w"),
            "lowerdir=/c\\:d:/a\\,b,upperdir=/u\\\\v,workdir=/w");
}

ContainerSpec net_spec(const std::string& mode) {
  ContainerSpec s;
  s.id = std::string(64, 'a');
  s.network_mode = mode;
  return s;
}

TEST(SandboxEtcFiles, HostsHasLocalhostExtraHostsAndTheContainer) {
  auto s = net_spec("default");
  s.hostname = "web";
  s.extra_hosts = {"db:10.0.0.2", "v6:fe80::1"};
  EXPECT_EQ(
      hosts_content(s, "ignored"),
      "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
      "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
      "10.0.0.2\tdb\nfe80::1\tv6\n127.0.0.1\tweb\n");
  s.network_mode = "none";
  EXPECT_EQ(hosts_content(s, "").find("web"), std::string::npos);
  s.network_mode = "host";
  EXPECT_EQ(hosts_content(s, "127.0.0.1 localhost\n192.0.2.1 myhost"),
            "127.0.0.1 localhost\n192.0.2.1 myhost\n10.0.0.2\tdb\nfe80::1\tv6\n");
}

TEST(SandboxEtcFiles, DefaultHostnameIsTheShortId) {
  auto s = net_spec("none");
  EXPECT_EQ(effective_hostname(s), std::string(12, 'a'));
  s.hostname = "given";
  EXPECT_EQ(effective_hostname(s), "given");
}

TEST(SandboxEtcFiles, ResolvConfDropsWhatTheNamespaceCannotReach) {
  std::string host =
      "# comment\nnameserver 127.0.0.53\nnameserver 10.1.1.1\nnameserver 2001:db8::1\n"
      "search corp.example\noptions edns0 trust-ad\n";
  auto s = net_spec("default");
  EXPECT_EQ(resolv_conf_content(s, host),
            "nameserver 10.1.1.1\nsearch corp.example\noptions edns0 trust-ad\n");
  EXPECT_EQ(resolv_conf_content(s, "nameserver 127.0.0.53\n"),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
  s.dns_servers = {"1.1.1.1"};
  s.dns_search = {"."};
  s.dns_options = {"ndots:2"};
  EXPECT_EQ(resolv_conf_content(s, host), "nameserver 1.1.1.1\noptions ndots:2\n");
  auto h = net_spec("host");
  EXPECT_EQ(resolv_conf_content(h, host), host);  // the host's file as it is
}

const std::string kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1000:App:/home/app:/bin/sh\n"
    "daemon:x:2:2::/:/bin/false\n";
const std::string kGroup = "root:x:0:\nwheel:x:10:root,app\nstaff:x:50:app\napp:x:1000:\n";

ExecUser user_of(const std::string& spec, std::vector<std::string> extra = {}) {
  auto r = resolve_user(spec, extra, kPasswd, kGroup);
  if (auto* e = std::get_if<std::string>(&r)) throw std::runtime_error(*e);
  return std::get<ExecUser>(r);
}

std::string error_of(const std::string& spec, std::vector<std::string> extra = {}) {
  auto r = resolve_user(spec, extra, kPasswd, kGroup);
  auto* e = std::get_if<std::string>(&r);
  return e ? *e : "";
}

TEST(SandboxUser, FollowsDockerSemantics) {
  auto root = user_of("");
  EXPECT_EQ(root.uid, 0u);
  EXPECT_EQ(root.gid, 0u);
  EXPECT_EQ(root.groups, (std::vector<gid_t>{0, 10}));  // dockerd: primary gid first
  EXPECT_EQ(root.home, "/root");

  auto app = user_of("app");
  EXPECT_EQ(app.uid, 1000u);
  EXPECT_EQ(app.gid, 1000u);
  EXPECT_EQ(app.groups, (std::vector<gid_t>{1000, 10, 50}));
  EXPECT_EQ(app.home, "/home/app");

  EXPECT_EQ(user_of("1000").groups,
            (std::vector<gid_t>{1000, 10, 50}));  // numeric, found in passwd
  auto explicit_group = user_of("app:staff");
  EXPECT_EQ(explicit_group.gid, 50u);
  EXPECT_EQ(explicit_group.groups, std::vector<gid_t>{50});  // members only in the implicit form
  auto numeric = user_of("4242:4343");
  EXPECT_EQ(numeric.uid, 4242u);
  EXPECT_EQ(numeric.gid, 4343u);
  EXPECT_EQ(numeric.home, "/");
  EXPECT_EQ(user_of("4242").gid, 0u);
  EXPECT_EQ(user_of("daemon").home, "/");
  // Extra groups once each, as dockerd (runc) gives them, also one the user is already in.
  EXPECT_EQ(user_of("app", {"staff", "77", "77"}).groups, (std::vector<gid_t>{1000, 10, 50, 77}));

  EXPECT_EQ(error_of("ghost"), "unable to find user ghost: no matching entries in passwd file");
  EXPECT_EQ(error_of("app:ghosts"),
            "unable to find group ghosts: no matching entries in group file");
  EXPECT_EQ(error_of("app", {"ghosts"}),
            "Unable to find group ghosts: no matching entries in group file");
  EXPECT_EQ(error_of("99999999999"), "uids and gids must be in range 0-2147483647");

  // An image without /etc/passwd: numeric users only.
  auto none = resolve_user("123", {}, std::nullopt, std::nullopt);
  ASSERT_TRUE(std::holds_alternative<ExecUser>(none));
  EXPECT_EQ(std::get<ExecUser>(none).uid, 123u);
  EXPECT_TRUE(
      std::holds_alternative<std::string>(resolve_user("app", {}, std::nullopt, std::nullopt)));
}

TEST(SandboxCaps, DockerDefaultsAddDropAll) {
  EXPECT_EQ(default_capabilities(), 0xa80425fbULL);
  EXPECT_EQ(container_capabilities(false, {}, {}), 0xa80425fbULL);
  EXPECT_EQ(container_capabilities(true, {}, {"ALL"}), all_capabilities());
  EXPECT_EQ(container_capabilities(false, {}, {"ALL"}), 0u);
  EXPECT_EQ(container_capabilities(false, {"net_admin"}, {"all"}), 1ULL << 12);
  EXPECT_EQ(container_capabilities(false, {"ALL"}, {"SYS_ADMIN"}),
            all_capabilities() & ~(1ULL << 21));
  EXPECT_EQ(container_capabilities(false, {"CAP_SYS_PTRACE"}, {"CHOWN"}),
            (0xa80425fbULL & ~1ULL) | (1ULL << 19));
  EXPECT_THROW(container_capabilities(false, {"FLY"}, {}), SandboxError);
  EXPECT_EQ(capability_number("cap_net_raw"), 13);
  EXPECT_EQ(capability_name(21), "CAP_SYS_ADMIN");
}

TEST(SandboxRlimits, DockerNames) {
  auto limits = parse_rlimits({{"nofile", 1024, 2048}, {"core", -1, -1}});
  ASSERT_EQ(limits.size(), 2u);
  EXPECT_EQ(limits[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(limits[0].limit.rlim_cur, 1024u);
  EXPECT_EQ(limits[1].limit.rlim_max, RLIM_INFINITY);
  EXPECT_THROW(parse_rlimits({{"nofiles", 1, 1}}), SandboxError);
  EXPECT_THROW(parse_rlimits({{"nofile", 2, 1}}), SandboxError);
}

TEST(SandboxMounts, PropagationAndValidation) {
  EXPECT_EQ(propagation_flags(""), propagation_flags("rprivate"));
  EXPECT_EQ(propagation_flags("bogus"), 0u);
  Mount m;
  m.type = "bind";
  m.source = "/";
  m.target = "relative";
  EXPECT_THROW(validate_mounts({m}), SandboxError);
  m.target = "/";
  EXPECT_THROW(validate_mounts({m}), SandboxError);
  m.target = "/x";
  EXPECT_NO_THROW(validate_mounts({m}));
  m.type = "volume";
  EXPECT_THROW(validate_mounts({m}), SandboxError);
}

TEST(SandboxExec, LookPathMessages) {
  TempDir tmp;
  write_file(tmp.path() + "/bin/tool", "#!/bin/sh\n");
  fs::permissions(tmp.path() + "/bin/tool", fs::perms::owner_all);
  write_file(tmp.path() + "/bin/data", "");
  fs::permissions(tmp.path() + "/bin/data", fs::perms::owner_read | fs::perms::owner_write);
  std::string path = "/nonexistent:" + tmp.path() + "/bin";

  EXPECT_EQ(find_executable("tool", path).path, tmp.path() + "/bin/tool");
  auto missing = find_executable("data", path);  // not executable: skipped in the search
  EXPECT_EQ(missing.error, "exec: \"data\": executable file not found in $PATH");
  EXPECT_EQ(missing.exit_code, 127);
  EXPECT_EQ(find_executable(tmp.path() + "/bin/tool", "").path, tmp.path() + "/bin/tool");
  EXPECT_EQ(find_executable("/no/such", path).error,
            "exec: \"/no/such\": stat /no/such: no such file or directory");
  if (::geteuid() == 0) {
    // root may execute anything with an x bit, and nothing without one.
    auto denied = find_executable(tmp.path() + "/bin/data", path);
    EXPECT_EQ(denied.error, "exec: \"" + tmp.path() + "/bin/data\": permission denied");
    EXPECT_EQ(denied.exit_code, 126);
  }
  EXPECT_EQ(find_executable(tmp.path(), path).error,
            "exec: \"" + tmp.path() + "\": is a directory");
  EXPECT_EQ(search_path({"A=1", "PATH=/x:/y"}), "/x:/y");
  EXPECT_EQ(search_path({}), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
}

TEST(SandboxProbe, ReportsWhatThisHostHas) {
  HostSupport host = probe_host();
  std::string filesystems = read_file("/proc/filesystems");
  if (filesystems.find("\toverlay\n") != std::string::npos) {
    EXPECT_TRUE(host.overlayfs);
  }
  if (fs::exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")) {
    EXPECT_TRUE(host.memory_cgroup);
    EXPECT_FALSE(host.cgroups_v2);  // hybrid: docker reports cgroup version 1
  }
  if (fs::exists("/sys/fs/cgroup/freezer/cgroup.procs")) {
    EXPECT_TRUE(host.freezer_cgroup);
  }
  if (fs::exists("/sys/fs/cgroup/cgroup.controllers")) {
    EXPECT_TRUE(host.cgroups_v2);
  }
  for (const auto& w : host.warnings)
    EXPECT_EQ(w.rfind("WARNING: ", 0), 0u) << w;
}

std::string id_map(const std::vector<IdRange>& ranges) {
  std::string out;
  for (const auto& r : ranges)
    out += std::to_string(r.inside) + " " + std::to_string(r.outside) + " " +
           std::to_string(r.count) + ";";
  return out;
}

TEST(SandboxUserNamespace, MapsTheUserToRootAndItsSubordinateRanges) {
  TempDir bin;
  // Without the helpers, or without a range for this user: root only.
  const std::string subuid = "other:100000:65536\napp:200000:1000\n#app:1:1\n1001:300000:10\n";
  const std::string subgid = "app:400000:65536\n";
  auto m = plan_id_mapping(1001, 1002, "app", subuid, subgid, bin.path());
  EXPECT_EQ(id_map(m.uids), "0 1001 1;");
  EXPECT_EQ(id_map(m.gids), "0 1002 1;");
  EXPECT_EQ(m.newuidmap, "");
  EXPECT_NE(describe_rootless(m).find("whose root is uid 1001; no other user exists"),
            std::string::npos);

  for (const char* helper : {"newuidmap", "newgidmap"}) {
    write_file(bin.path() + "/" + helper, "#!/bin/sh\n");
    ::chmod((bin.path() + "/" + helper).c_str(), 0755);
  }
  m = plan_id_mapping(1001, 1002, "app", subuid, subgid, "/nonexistent:" + bin.path());
  // Every range of the user (by name or number), one after the other from id 1.
  EXPECT_EQ(id_map(m.uids), "0 1001 1;1 200000 1000;1001 300000 10;");
  EXPECT_EQ(id_map(m.gids), "0 1002 1;1 400000 65536;");
  EXPECT_EQ(m.newuidmap, bin.path() + "/newuidmap");
  EXPECT_EQ(m.newgidmap, bin.path() + "/newgidmap");
  EXPECT_NE(describe_rootless(m).find("container ids 1-1010 map to the subordinate ids"),
            std::string::npos);

  // Users without groups would be odd: no gid range, no uid range either.
  m = plan_id_mapping(1001, 1002, "app", subuid, "other:1:2\n", bin.path());
  EXPECT_EQ(id_map(m.uids), "0 1001 1;");
}

TEST(SandboxUserNamespace, OwnNamespaceIsNotForeign) {
  EXPECT_FALSE(foreign_user_namespace(::getpid()));
  EXPECT_EQ(needs_user_namespace(), ::geteuid() != 0);
}

TEST(SandboxLayerCopy, AppliesWhiteoutsOpaqueDirsAndKeepsLinks) {
  if (::geteuid() != 0) GTEST_SKIP() << "whiteouts and trusted xattrs need root";
  TempDir tmp;
  std::string l1 = tmp.path() + "/l1", l2 = tmp.path() + "/l2", dest = tmp.path() + "/dest";
  write_file(l1 + "/keep", "keep\n");
  write_file(l1 + "/gone", "gone\n");
  write_file(l1 + "/opaque/old", "old\n");
  write_file(l1 + "/bin/a", "binary\n");
  fs::create_hard_link(l1 + "/bin/a", l1 + "/bin/b");
  fs::create_symlink("a", l1 + "/bin/link");
  fs::permissions(l1 + "/keep", fs::perms::owner_read | fs::perms::set_uid,
                  fs::perm_options::replace);
  ASSERT_EQ(::chown((l1 + "/keep").c_str(), 1234, 5678), 0);
  ASSERT_EQ(::chmod((l1 + "/keep").c_str(), 04400), 0);

  fs::create_directories(l2 + "/opaque");
  write_file(l2 + "/opaque/new", "new\n");
  ASSERT_EQ(::setxattr((l2 + "/opaque").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
  ASSERT_EQ(::mknod((l2 + "/gone").c_str(), S_IFCHR, makedev(0, 0)), 0);
  write_file(l2 + "/bin/link", "now a file\n");  // replaces the symlink
  fs::create_directories(dest);

  ASSERT_EQ(copy_layers({l1, l2}, dest), "");
  EXPECT_EQ(read_file(dest + "/keep"), "keep\n");
  struct stat st;
  ASSERT_EQ(::stat((dest + "/keep").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mode & 07777, 04400u);
  EXPECT_FALSE(fs::exists(dest + "/gone"));
  EXPECT_FALSE(fs::exists(dest + "/opaque/old"));
  EXPECT_EQ(read_file(dest + "/opaque/new"), "new\n");
  char value[4];
  EXPECT_LT(::getxattr((dest + "/opaque").c_str(), "trusted.overlay.opaque", value, sizeof value),
            0);
  struct stat a, b;
  ASSERT_EQ(::stat((dest + "/bin/a").c_str(), &a), 0);
  ASSERT_EQ(::stat((dest + "/bin/b").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_FALSE(fs::is_symlink(dest + "/bin/link"));
  EXPECT_EQ(read_file(dest + "/bin/link"), "now a file\n");

  EXPECT_EQ(clear_directory(dest), 0);
  EXPECT_TRUE(fs::is_empty(dest));
}

}  // namespace
}  // namespace sockerless::sandbox::testing
