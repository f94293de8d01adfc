#include "sandbox/pty.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sockerless::sandbox {
namespace {

// A message of one byte (it must carry some data) with room for one descriptor.
struct FdMessage {
  char byte = 'p';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  FdMessage() {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;
};

bool send_fd(int socket, int fd) {
  FdMessage m;
  cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  for (;;) {
    if (::sendmsg(socket, &m.msg, MSG_NOSIGNAL) == 1) return true;
    if (errno != EINTR) return false;
  }
}

}  // namespace

PtyChannel make_pty_channel() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    throw SandboxError("open pty", std::string("socketpair: ") + std::strerror(errno));
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

int open_container_pty(const ErrorChannel& errors, int socket, const WindowSize& size,
                       bool console) {
  // /dev/ptmx is the container's pts/ptmx: the multiplexer of its own devpts instance.
  UniqueFd master(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master) errors.fail_errno("open pty: /dev/ptmx", errno);
  struct stat st;
  if (::fstat(master.get(), &st) != 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 ||
      minor(st.st_rdev) != 2)
    errors.fail("open pty", "/dev/ptmx is not the pty multiplexer");
  int unlock = 0, number = -1;
  if (::ioctl(master.get(), TIOCSPTLCK, &unlock) != 0 ||
      ::ioctl(master.get(), TIOCGPTN, &number) != 0)
    errors.fail_errno("open pty", errno);
  std::string slave_path = "/dev/pts/" + std::to_string(number);
  // The peer through the master itself where the kernel can (4.13+): no path to trust.
  int slave = ::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) slave = ::open(slave_path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) errors.fail_errno("open pty: " + slave_path, errno);
  if (size.rows > 0 && size.cols > 0) {
    winsize ws{};
    ws.ws_row = size.rows;
    ws.ws_col = size.cols;
    ::ioctl(master.get(), TIOCSWINSZ, &ws);
  }
  if (console) {
    UniqueFd target(
        ::open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
    if (!target) errors.fail_errno("mount /dev/console", errno);
    if (::mount(slave_path.c_str(), "/dev/console", nullptr, MS_BIND, nullptr) != 0)
      errors.fail_errno("mount /dev/console", errno);
  }
  if (!send_fd(socket, master.get())) errors.fail_errno("open pty: send the master", errno);
  return slave;
}

UniqueFd receive_pty_master(int socket, pid_t pid) {
  FdMessage m;
  ssize_t n;
  while ((n = ::recvmsg(socket, &m.msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  for (cmsghdr* c = n == 1 ? CMSG_FIRSTHDR(&m.msg) : nullptr; c; c = CMSG_NXTHDR(&m.msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int))) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return UniqueFd(fd);
    }
  }
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  throw SandboxError("open pty", "the container's terminal did not arrive");
}

}  // namespace sockerless::sandbox
