// spawn() against a real busybox root: output, exit codes, identity, filesystem, network
// and capabilities as docker gives them. Needs root; skipped otherwise.
#include <sys/mount.h>
#include <sys/stat.h>

#include <cstring>

#include "sandbox_test_support.h"

namespace sockerless::sandbox::testing {
namespace {

class SandboxSpawn : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { remove_test_cgroup_parents(); }
  void SetUp() override {
    SANDBOX_REQUIRE_ROOT();
    layer_ = make_busybox_layer(tmp_.path() + "/lower");
  }
  ContainerSpec spec(std::vector<std::string> argv) {
    return busybox_spec({layer_}, tmp_.path(), std::move(argv));
  }
  ContainerSpec sh(const std::string& script) { return spec({"sh", "-c", script}); }

  TempDir tmp_;
  std::string layer_;
};

TEST_F(SandboxSpawn, EchoesThroughAPipe) {
  auto r = run(sh("echo hi"));
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.exit_code, 0);
}

TEST_F(SandboxSpawn, ReportsTheExitCode) {
  EXPECT_EQ(run(sh("echo oops >&2; exit 3")).exit_code, 3);
  EXPECT_EQ(run(sh("echo oops >&2; exit 3")).err, "oops\n");
  EXPECT_EQ(run(spec({"false"})).exit_code, 1);
}

TEST_F(SandboxSpawn, SetsHostnameAndGeneratesEtcFiles) {
  auto s =
      sh("hostname; cat /etc/hostname; grep box /etc/hosts; grep -c localhost /etc/hosts; cat "
         "/etc/resolv.conf");
  s.hostname = "box1";
  s.dns_servers = {"192.0.2.53"};
  s.dns_search = {"example.test"};
  s.extra_hosts = {"db:192.0.2.7"};
  auto r = run(s);
  EXPECT_EQ(r.out, "box1\nbox1\n127.0.0.1\tbox1\n2\nnameserver 192.0.2.53\nsearch example.test\n");
  s.hostname = "";
  s.domainname = "example.test";
  s.argv = {"sh", "-c", "hostname; grep -w db /etc/hosts; grep example /etc/hosts"};
  r = run(s);
  std::string short_id = s.id.substr(0, 12);
  EXPECT_EQ(r.out, short_id + "\n192.0.2.7\tdb\n127.0.0.1\t" + short_id + ".example.test " +
                       short_id + "\n");
}

TEST_F(SandboxSpawn, ResolvesUsersThroughTheImage) {
  auto s = sh("id -u; id -g; id -G");
  s.user = "app";
  EXPECT_EQ(run(s).out, "1000\n1000\n1000 50\n");
  s.user = "1000:1000";
  EXPECT_EQ(run(s).out, "1000\n1000\n1000\n");
  s.user = "4242";  // no passwd entry: fine, gid 0
  EXPECT_EQ(run(s).out, "4242\n0\n0\n");
  s.user = "app:staff";
  s.additional_groups = {"root"};
  EXPECT_EQ(run(s).out, "1000\n50\n50 0\n");
  s.user = "";
  s.additional_groups = {};
  EXPECT_EQ(run(s).out, "0\n0\n0\n");
}

TEST_F(SandboxSpawn, UnknownUserNamesTheStep) {
  auto s = spec({"true"});
  s.user = "nobody-here";
  try {
    run(s);
    FAIL() << "spawn succeeded";
  } catch (const SandboxError& e) {
    EXPECT_EQ(e.step(), "user");
    EXPECT_STREQ(e.what(),
                 "user: unable to find user nobody-here: no matching entries in passwd file");
  }
  EXPECT_FALSE(mounted_under(s.state_dir));
  for (const auto& dir : cgroup_dirs(s))
    EXPECT_FALSE(fs::exists(dir)) << dir;
}

TEST_F(SandboxSpawn, PassesTheEnvironmentAndAddsHome) {
  auto s = spec({"env"});
  s.env.push_back("FOO=bar baz");
  auto r = run(s);
  EXPECT_NE(r.out.find("FOO=bar baz\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("HOME=/root\n"), std::string::npos) << r.out;
  s.user = "app";
  EXPECT_NE(run(s).out.find("HOME=/home/app\n"), std::string::npos);
}

TEST_F(SandboxSpawn, CreatesTheWorkingDirOwnedByTheUser) {
  auto s = sh("pwd; stat -c '%u:%g %a' . ..");
  s.working_dir = "/srv/app/data";
  s.user = "app";
  EXPECT_EQ(run(s).out, "/srv/app/data\n1000:1000 755\n1000:1000 755\n");
  // An existing directory keeps its owner.
  s.working_dir = "/tmp";
  EXPECT_EQ(run(s).out, "/tmp\n0:0 1777\n0:0 755\n");
}

TEST_F(SandboxSpawn, ProcShowsOnlyTheContainersProcesses) {
  auto r = run(sh("cat /proc/1/comm; ps -o pid,comm > /tmp/ps; wc -l < /tmp/ps; echo $$"));
  // The header, sh (pid 1) and ps.
  EXPECT_EQ(r.out, "sh\n3\n1\n");
}

TEST_F(SandboxSpawn, ReadonlyRootfsKeepsTmpfsAndEtcFilesWritable) {
  auto s =
      sh("echo x > /file && echo wrote-root; echo x > /scratch/f && echo wrote-tmpfs;"
         "echo '# more' >> /etc/hosts && echo wrote-hosts; grep -c ' /scratch tmpfs' /proc/mounts");
  s.readonly_rootfs = true;
  Mount tmpfs;
  tmpfs.type = "tmpfs";
  tmpfs.target = "/scratch";
  tmpfs.tmpfs_size = 1 << 20;
  s.mounts = {tmpfs};
  auto r = run(s);
  EXPECT_EQ(r.out, "wrote-tmpfs\nwrote-hosts\n1\n");
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r.err;
}

TEST_F(SandboxSpawn, BindMountsHonourReadonly) {
  std::string host = tmp_.path() + "/host-data";
  write_file(host + "/hello", "from host\n");
  Mount ro;
  ro.type = "bind";
  ro.source = host;
  ro.target = "/data/ro";
  ro.readonly = true;
  Mount rw = ro;
  rw.target = "/data/rw";
  rw.readonly = false;
  auto s =
      sh("cat /data/ro/hello; echo x > /data/ro/new || echo ro-refused; echo y > /data/rw/new && "
         "echo rw-ok");
  s.mounts = {rw, ro};
  auto r = run(s);
  EXPECT_EQ(r.out, "from host\nro-refused\nrw-ok\n");
  EXPECT_EQ(read_file(host + "/new"), "y\n");
}

TEST_F(SandboxSpawn, BindMountOfAFileAndAMissingSource) {
  std::string host = tmp_.path() + "/config.txt";
  write_file(host, "cfg\n");
  Mount file;
  file.type = "bind";
  file.source = host;
  file.target = "/etc/app/config.txt";
  auto s = spec({"cat", "/etc/app/config.txt"});
  s.mounts = {file};
  EXPECT_EQ(run(s).out, "cfg\n");
  s.mounts[0].source = tmp_.path() + "/missing";
  try {
    run(s);
    FAIL() << "spawn succeeded";
  } catch (const SandboxError& e) {
    EXPECT_EQ(e.step(), "mounts");
    EXPECT_NE(std::string(e.what()).find("bind source path does not exist"), std::string::npos);
  }
}

TEST_F(SandboxSpawn, SharedBindsNeverLeakMountsToTheHost) {
  // The host side is a shared mount (as under systemd), and the container asks for rshared.
  std::string host = tmp_.path() + "/shared";
  fs::create_directories(host + "/sub");
  ASSERT_EQ(::mount(host.c_str(), host.c_str(), nullptr, MS_BIND, nullptr), 0);
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{host};
  ASSERT_EQ(::mount(nullptr, host.c_str(), nullptr, MS_SHARED, nullptr), 0);
  Mount m;
  m.type = "bind";
  m.source = host;
  m.target = "/data";
  m.propagation = "rshared";
  auto s = sh("mount -t tmpfs none /data/sub && grep -c ' /data/sub ' /proc/self/mountinfo");
  s.privileged = true;
  s.mounts = {m};
  Container c(s);
  Pipe out;
  c.start(Stdio{-1, out.w(), -1});
  out.close_write();
  EXPECT_EQ(out.read_line(), "1\n");
  EXPECT_FALSE(mounted_under(host + "/sub"));
  EXPECT_FALSE(mounted_under(s.state_dir));
  c.wait();
}

TEST_F(SandboxSpawn, MountTargetsNeverLeaveTheRoot) {
  // An image whose symlinks point at host paths, absolutely and upwards: the mounts and
  // the directories created for them must land inside the root.
  std::string outside = tmp_.path() + "/outside";
  fs::create_directories(outside);
  fs::create_symlink(outside, layer_ + "/escape");
  fs::create_symlink("../../../../../../../../" + outside, layer_ + "/tmp/up");
  Mount a;
  a.type = "tmpfs";
  a.target = "/escape/sub";
  Mount b = a;
  b.target = "/tmp/up/other";
  auto s = sh("echo inside > /escape/sub/f; cat /escape/sub/f; ls -d " + outside + "/sub " +
              outside + "/other");
  s.mounts = {a, b};
  auto r = run(s);
  EXPECT_EQ(r.out, "inside\n" + outside + "/other\n" + outside + "/sub\n") << r.err;
  EXPECT_TRUE(fs::is_empty(outside));
}

TEST_F(SandboxSpawn, NetworkModes) {
  // Which network namespace the process is in is what the sandbox decides; the host's
  // interfaces are not (other processes add and remove them at any time).
  std::error_code ec;
  std::string host_ns = std::filesystem::read_symlink("/proc/self/ns/net", ec).string() + "\n";
  ASSERT_FALSE(ec) << ec.message();
  auto s =
      sh("readlink /proc/self/ns/net; grep -c : /proc/net/dev; grep -o 'lo:' /proc/net/dev; "
         "cat /sys/class/net/lo/operstate");
  for (const char* mode : {"none", "default"}) {
    s.network_mode = mode;
    auto out = run(s).out;
    auto nl = out.find('\n');
    ASSERT_NE(nl, std::string::npos) << mode;
    EXPECT_NE(out.substr(0, nl + 1), host_ns) << mode;
    EXPECT_EQ(out.substr(nl + 1), "1\nlo:\nunknown\n") << mode;
  }
  s.network_mode = "host";
  s.argv = {"sh", "-c", "readlink /proc/self/ns/net"};
  EXPECT_EQ(run(s).out, host_ns);
}

TEST_F(SandboxSpawn, LoopbackIsUp) {
  auto s = sh("cat /sys/class/net/lo/flags; grep -c lo /proc/net/if_inet6");
  s.network_mode = "none";
  // IFF_UP | IFF_LOOPBACK; ::1 is assigned only once lo is up.
  EXPECT_EQ(run(s).out, "0x9\n1\n");
}

TEST_F(SandboxSpawn, CapabilitiesDefaultPrivilegedAndDropped) {
  auto s = sh("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status | sed 's/\\t/ /'");
  EXPECT_EQ(run(s).out,
            "CapInh: 0000000000000000\nCapPrm: 00000000a80425fb\nCapEff: 00000000a80425fb\n"
            "CapBnd: 00000000a80425fb\nCapAmb: 0000000000000000\n");
  s.user = "app";
  EXPECT_EQ(run(s).out,
            "CapInh: 0000000000000000\nCapPrm: 0000000000000000\nCapEff: 0000000000000000\n"
            "CapBnd: 00000000a80425fb\nCapAmb: 0000000000000000\n");
  s.user = "";
  s.cap_drop = {"ALL"};
  EXPECT_EQ(run(s).out,
            "CapInh: 0000000000000000\nCapPrm: 0000000000000000\nCapEff: 0000000000000000\n"
            "CapBnd: 0000000000000000\nCapAmb: 0000000000000000\n");
  s.cap_drop = {"chown", "CAP_KILL"};
  s.cap_add = {"NET_ADMIN"};
  EXPECT_NE(run(s).out.find("CapBnd: 00000000a80435da\n"), std::string::npos);
  s.cap_drop = {};
  s.cap_add = {};
  s.privileged = true;
  // Everything this (possibly confined) test process holds itself.
  std::string own = read_file("/proc/self/status");
  std::string own_eff = own.substr(own.find("CapEff:\t") + 8, 16);
  EXPECT_NE(run(s).out.find("CapEff: " + own_eff + "\n"), std::string::npos) << own_eff;
}

TEST_F(SandboxSpawn, HidesHostPartsOfProcAndSys) {
  auto s =
      sh("wc -c < /proc/keys; wc -c < /proc/timer_list; ls /sys/firmware | wc -l;"
         "echo 1 > /proc/sys/kernel/domainname || echo sys-ro;"
         "echo x > /sys/kernel/uevent_helper || echo sysfs-ro");
  auto r = run(s);
  EXPECT_EQ(r.out, "0\n0\n0\nsys-ro\nsysfs-ro\n");
  s.privileged = true;
  r = run(s);
  EXPECT_NE(r.out.find("sysfs-ro"), std::string::npos);
  EXPECT_NE(r.out.substr(0, 2), "0\n");
}

TEST_F(SandboxSpawn, DevHasTheMinimalNodes) {
  auto r =
      run(sh("ls /dev | sort | tr '\\n' ' '; echo; stat -c '%t,%T %a' /dev/null /dev/zero "
             "/dev/urandom /dev/tty;"
             "readlink /dev/ptmx; readlink /dev/fd; stat -c %a /dev/shm; grep /dev/shm "
             "/proc/mounts | grep -o 'size=[0-9]*k';"
             "grep -o 'devpts /dev/pts [^ ]* [^ ]*' /proc/mounts"));
  EXPECT_EQ(r.out,
            "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero \n"
            "1,3 666\n1,5 666\n1,9 666\n5,0 666\n"
            "pts/ptmx\n/proc/self/fd\n1777\nsize=65536k\n"
            "devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666\n")
      << r.err;
}

TEST_F(SandboxSpawn, AppliesUlimits) {
  auto s = sh("ulimit -n; ulimit -Hn");
  s.ulimits = {{"nofile", 100, 200}};
  EXPECT_EQ(run(s).out, "100\n200\n");
  s.ulimits = {{"bogus", 1, 1}};
  EXPECT_THROW(run(s), SandboxError);
}

TEST_F(SandboxSpawn, MissingExecutablesGetDockersMessages) {
  auto expect = [&](std::vector<std::string> argv, const std::string& detail) {
    try {
      run(spec(std::move(argv)));
      ADD_FAILURE() << "spawn succeeded";
    } catch (const SandboxError& e) {
      EXPECT_EQ(e.step(), "exec");
      EXPECT_EQ(std::string(e.what()), "exec: " + detail);
    }
  };
  expect({"nonexistent"}, "exec: \"nonexistent\": executable file not found in $PATH");
  expect({"/nope"}, "exec: \"/nope\": stat /nope: no such file or directory");
  expect({"/etc/passwd"}, "exec: \"/etc/passwd\": permission denied");
  expect({"/etc"}, "exec: \"/etc\": is a directory");
}

// Everything the container writes to its terminal, until the last process closes it.
std::string read_terminal(int master) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(master, buf, sizeof buf)) > 0)
    out.append(buf, static_cast<std::size_t>(n));
  return out;
}

TEST_F(SandboxSpawn, TtyComesFromTheContainersOwnDevpts) {
  // As under runc: /dev/pts/0 of the container's devpts, its controlling terminal, and
  // also bound over /dev/console; the stdio the caller passes is not used.
  auto s =
      sh("tty; test -t 0 && echo is-a-tty > /dev/tty; test -c /dev/console && echo console;"
         "stat -c '%a %u %g' /dev/pts/0");
  s.tty = true;
  s.user = "app";
  Container c(s);
  Pipe unused;
  c.start(Stdio{unused.w(), unused.w(), unused.w()});
  ASSERT_TRUE(c.pty());
  std::string out = read_terminal(c.pty().get());
  EXPECT_EQ(exit_code(c.wait()), 0);
  EXPECT_EQ(out, "/dev/pts/0\r\nis-a-tty\r\nconsole\r\n620 1000 5\r\n");
}

TEST_F(SandboxSpawn, TtyInExecIsTheNextPtyOfTheContainer) {
  auto s = sh("sleep 100");
  s.tty = true;
  Container c(s);
  c.start(Stdio{});
  ASSERT_TRUE(c.pty());
  ExecSpec exec;
  exec.argv = {"sh", "-c", "tty; stty size"};
  exec.env = s.env;
  exec.tty = true;
  exec.tty_size = {33, 77};
  auto started = enter(c.pid(), s, exec, Stdio{});
  ASSERT_TRUE(started.pty);
  std::string out = read_terminal(started.pty.get());
  EXPECT_EQ(exit_code(wait_status(started.pid)), 0);
  EXPECT_EQ(out, "/dev/pts/1\r\n33 77\r\n");
}

TEST_F(SandboxSpawn, LayersStackWithWhiteouts) {
  std::string upper = tmp_.path() + "/layer2";
  write_file(upper + "/etc/motd", "layer two\n");
  fs::create_directories(upper + "/bin");
  ASSERT_EQ(::mknod((upper + "/bin/grep").c_str(), S_IFCHR, 0), 0);  // deletes grep
  auto s = busybox_spec({layer_, upper}, tmp_.path(),
                        {"sh", "-c", "cat /etc/motd; ls /bin/grep || echo gone"});
  EXPECT_EQ(run(s).out, "layer two\ngone\n");
}

TEST_F(SandboxSpawn, ChangesPersistInUpperAcrossRestarts) {
  auto s = sh("cat /counter 2>/dev/null || echo 0 > /counter; echo 1 >> /counter");
  Container first(s);
  Pipe out;
  first.start(Stdio{-1, out.w(), -1});
  out.close_write();
  EXPECT_EQ(out.read_all(), "");
  EXPECT_EQ(exit_code(first.wait()), 0);
  cleanup(s, false);
  EXPECT_EQ(read_file(s.state_dir + "/upper/counter"), "0\n1\n");
  EXPECT_EQ(run(s).out, "0\n1\n");
}

TEST_F(SandboxSpawn, CopiesTheLayersWhereOverlayCannotMount) {
  // An overlay wants upper/ and work/ on one mount; a work/ of its own makes it fail.
  std::string layer2 = tmp_.path() + "/layer2";
  write_file(layer2 + "/etc/motd", "layer two\n");
  fs::create_directories(layer2 + "/bin");
  ASSERT_EQ(::mknod((layer2 + "/bin/grep").c_str(), S_IFCHR, 0), 0);
  auto s = busybox_spec({layer_, layer2}, tmp_.path(),
                        {"sh", "-c", "cat /etc/motd; ls /bin/grep || echo gone; echo x > /new"});
  CleanupGuard guard(s);
  fs::create_directories(s.state_dir + "/work");
  ASSERT_EQ(::mount("tmpfs", (s.state_dir + "/work").c_str(), "tmpfs", 0, nullptr), 0)
      << std::strerror(errno);

  // Runs the container and cleans up keeping its changes, as a restart would.
  auto run_keeping_changes = [&] {
    Container c(s, false);
    Pipe out;
    c.start(Stdio{-1, out.w(), -1});
    out.close_write();
    std::string output = out.read_all();
    c.wait();
    return output;
  };
  EXPECT_EQ(run_keeping_changes(), "layer two\ngone\n");
  EXPECT_TRUE(fs::exists(s.state_dir + "/rootfs.copied"));
  EXPECT_EQ(read_file(s.state_dir + "/rootfs/new"), "x\n");
  EXPECT_FALSE(mounted_under(s.state_dir));  // cleanup took the test's tmpfs along too
  s.argv = {"cat", "/new"};
  EXPECT_EQ(run_keeping_changes(), "x\n");
  cleanup(s, true);  // the guard's is a second, idempotent one
  EXPECT_FALSE(fs::exists(s.state_dir + "/rootfs.copied"));
  EXPECT_FALSE(fs::exists(s.state_dir + "/rootfs"));
}

TEST_F(SandboxSpawn, NeverCopiesOverChangesAnOverlayLeft) {
  auto s = sh("echo change > /changed");
  CleanupGuard guard(s);
  {
    Container first(s, false);
    first.start(Stdio{});
    first.wait();
  }
  ASSERT_EQ(read_file(s.state_dir + "/upper/changed"), "change\n");
  // Now the overlay can't mount; a copy of the layers would lose /changed.
  ASSERT_EQ(::mount("tmpfs", (s.state_dir + "/work").c_str(), "tmpfs", 0, nullptr), 0);
  try {
    Container second(s, false);
    second.start(Stdio{});
    ADD_FAILURE() << "spawn succeeded";
  } catch (const SandboxError& e) {
    EXPECT_EQ(e.step(), "mount overlay rootfs");
    EXPECT_NE(std::string(e.what()).find("holds the container's changes"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(mounted_under(s.state_dir));  // the failed spawn's cleanup unmounted it too
}

TEST_F(SandboxSpawn, InvalidSpecsAreRejectedBeforeAnythingRuns) {
  auto s = spec({});
  EXPECT_THROW(spawn(s, Stdio{}), SandboxError);
  s = spec({"true"});
  s.cap_add = {"CAP_FLY"};
  try {
    spawn(s, Stdio{});
    FAIL();
  } catch (const SandboxError& e) {
    EXPECT_STREQ(e.what(), "capabilities: unknown capability: \"CAP_FLY\"");
  }
  s = spec({"true"});
  s.id = "../escape";
  EXPECT_THROW(spawn(s, Stdio{}), SandboxError);
  s = spec({"true"});
  s.cgroup_parent = "a/../../escape";
  EXPECT_THROW(spawn(s, Stdio{}), SandboxError);
}

}  // namespace
}  // namespace sockerless::sandbox::testing
