#include "network/netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "network/net_error.h"

namespace sockerless::network {
namespace {

void bring_up_loopback() {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) throw_errno("bring up lo: socket");
  ifreq req{};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &req) != 0) throw_errno("bring up lo: get flags");
  req.ifr_flags |= IFF_UP;
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &req) != 0) throw_errno("bring up lo");
}

// Runs fn on a fresh thread, rethrowing its exception here. A thread of its own because
// unshare/setns(CLONE_NEWNET) change the calling thread's namespace for good.
void on_own_thread(const std::function<void()>& fn) {
  std::exception_ptr error;
  std::thread worker([&] {
    try {
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  worker.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

void create_netns(const std::string& path) {
  on_own_thread([&] {
    if (::unshare(CLONE_NEWNET) != 0) throw_errno("create netns " + path + ": unshare");
    bring_up_loopback();
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
    if (!file) throw_errno("create netns " + path);
    file.reset();
    if (::mount("/proc/thread-self/ns/net", path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      int saved = errno;
      ::unlink(path.c_str());
      throw NetError("create netns " + path + ": bind mount", saved);
    }
  });
}

void remove_netns(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    throw_errno("remove netns " + path + ": unmount");
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("remove netns " + path);
}

UniqueFd open_netns(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open netns " + path);
  return fd;
}

void run_in_netns(int ns_fd, const std::function<void()>& fn) {
  on_own_thread([&] {
    if (::setns(ns_fd, CLONE_NEWNET) != 0) throw_errno("enter netns");
    fn();
  });
}

ScopedNetns::ScopedNetns(std::string path) : path_(std::move(path)) {
  create_netns(path_);
  try {
    fd_ = open_netns(path_);
  } catch (...) {
    remove_netns(path_);
    throw;
  }
}

ScopedNetns::~ScopedNetns() {
  fd_.reset();
  try {
    remove_netns(path_);
  } catch (...) {  // a destructor: nothing better to do than leave it
  }
}

}  // namespace sockerless::network
