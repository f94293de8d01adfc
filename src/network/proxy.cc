#include "network/proxy.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/unique_fd.h"
#include "network/net_error.h"
#include "network/sockets.h"

namespace sockerless::network {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kBufferSize = 64 * 1024;
constexpr auto kUdpFlowIdle = std::chrono::seconds(90);  // docker-proxy's UDP conntrack timeout
constexpr auto kSweepEvery = std::chrono::seconds(1);

std::string bind_failure(const PortMapping& m, int code) {
  std::string detail = code == EADDRINUSE ? "port is already allocated" : std::strerror(code);
  if (!detail.empty()) detail[0] = static_cast<char>(std::tolower(detail[0]));
  return "Bind for " + format_sockaddr(make_sockaddr(m.host_ip, m.host_port)) +
         " failed: " + detail;
}

bool transient(int error) {
  return error == EAGAIN || error == EWOULDBLOCK || error == EINTR;
}

}  // namespace

std::string to_string(Protocol protocol) {
  return protocol == Protocol::Tcp ? "tcp" : "udp";
}

PortBindError::PortBindError(const PortMapping& mapping, int code)
    : Error(ErrorKind::Internal, bind_failure(mapping, code)), mapping_(mapping), code_(code) {}

struct ProxyEventLoop::Impl {
  // Something with fds in the epoll set. Lives in `watchers` under each of its fds; only
  // the loop thread touches it.
  struct Watcher {
    std::uint64_t proxy = 0;
    virtual ~Watcher() = default;
    virtual void on_event(Impl& loop, int fd, std::uint32_t events) = 0;
    virtual std::vector<int> fds() const = 0;
    virtual bool expired(Clock::time_point) const { return false; }
  };
  struct TcpListener;
  struct TcpConnection;
  struct UdpListener;
  struct UdpFlow;

  UniqueFd epoll, wake;
  std::thread thread;
  std::mutex mutex;  // guards commands and running
  std::vector<std::function<void()>> commands;
  bool running = false;
  bool stop_requested = false;  // loop thread only
  std::atomic<std::uint64_t> next_id{1};
  std::unordered_map<int, std::shared_ptr<Watcher>> watchers;
  std::vector<char> datagram = std::vector<char>(65536);

  Impl() {
    epoll = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
    wake = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!epoll || !wake) throw_errno("port proxy event loop");
    control(EPOLL_CTL_ADD, wake.get(), EPOLLIN);
    running = true;
    thread = std::thread([this] { run(); });
  }

  void control(int op, int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll.get(), op, fd, &ev) != 0 && op != EPOLL_CTL_DEL)
      throw_errno("port proxy: epoll_ctl");
  }
  void watch(const std::shared_ptr<Watcher>& w, int fd, std::uint32_t events) {
    control(EPOLL_CTL_ADD, fd, events);
    watchers[fd] = w;
  }
  void modify(int fd, std::uint32_t events) { control(EPOLL_CTL_MOD, fd, events); }
  // Drops `w` from the set; its fds close when the last reference goes.
  void forget(Watcher& w) {
    for (int fd : w.fds()) {
      control(EPOLL_CTL_DEL, fd, 0);
      watchers.erase(fd);
    }
  }
  void forget_where(const std::function<bool(const Watcher&)>& match) {
    std::vector<std::shared_ptr<Watcher>> doomed;
    for (auto& [fd, w] : watchers)
      if (match(*w)) doomed.push_back(w);
    for (auto& w : doomed)
      forget(*w);
  }

  void run() {
    epoll_event events[64];
    auto last_sweep = Clock::now();
    while (!stop_requested) {
      int n = ::epoll_wait(epoll.get(), events, 64, 1000);
      if (n < 0 && errno != EINTR) {
        spdlog::error("port proxy: epoll_wait: {}", std::strerror(errno));
        return;
      }
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == wake.get()) {
          run_commands();
          continue;
        }
        auto it = watchers.find(fd);
        if (it == watchers.end()) continue;  // closed earlier in this batch
        auto keep = it->second;
        try {
          keep->on_event(*this, fd, events[i].events);
        } catch (const std::exception& e) {
          spdlog::warn("port proxy: {}", e.what());
          forget(*keep);
        }
      }
      auto now = Clock::now();
      if (now - last_sweep >= kSweepEvery) {
        last_sweep = now;
        forget_where([now](const Watcher& w) { return w.expired(now); });
      }
    }
  }

  void run_commands() {
    std::uint64_t count;
    [[maybe_unused]] auto n = ::read(wake.get(), &count, sizeof count);
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard lock(mutex);
      batch.swap(commands);
    }
    for (auto& command : batch)
      command();
  }

  // Runs fn on the loop thread and waits; inline once the loop has stopped.
  void run_sync(const std::function<void()>& fn) {
    if (std::this_thread::get_id() == thread.get_id()) return fn();
    std::unique_lock lock(mutex);
    if (!running) return fn();
    std::promise<void> done;
    auto finished = done.get_future();
    commands.push_back([&] {
      try {
        fn();
        done.set_value();
      } catch (...) {
        done.set_exception(std::current_exception());
      }
    });
    lock.unlock();
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake.get(), &one, sizeof one);
    finished.get();
  }

  void shutdown() {
    run_sync([this] { stop_requested = true; });
    thread.join();
    std::lock_guard lock(mutex);
    running = false;
    for (auto& command : commands)
      command();  // queued behind the stop
    commands.clear();
    forget_where([](const Watcher&) { return true; });
  }
};

// One direction of a TCP connection: bytes read from one side, not yet written to the
// other, and whether that side has finished sending.
struct Pipe {
  std::unique_ptr<char[]> buffer = std::make_unique<char[]>(kBufferSize);
  std::size_t length = 0, offset = 0;
  bool eof = false, shut = false;
  bool pending() const { return offset < length; }
  bool wants_read() const { return length == 0 && !eof; }
};

struct ProxyEventLoop::Impl::TcpConnection : Watcher {
  UniqueFd client, target;
  bool connected = false;
  Pipe up, down;  // client → target, target → client

  std::vector<int> fds() const override { return {client.get(), target.get()}; }

  // -1 failed, 0 nothing to do, 1 moved something.
  static int step(Pipe& p, int from, int to) {
    int result = 0;
    if (p.wants_read()) {
      ssize_t n = ::recv(from, p.buffer.get(), kBufferSize, MSG_DONTWAIT);
      if (n > 0) {
        p.length = static_cast<std::size_t>(n);
        p.offset = 0;
        result = 1;
      } else if (n == 0) {
        p.eof = true;
        result = 1;
      } else if (!transient(errno)) {
        return -1;
      }
    }
    if (p.pending()) {
      ssize_t n =
          ::send(to, p.buffer.get() + p.offset, p.length - p.offset, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        p.offset += static_cast<std::size_t>(n);
        if (p.offset == p.length) p.offset = p.length = 0;
        result = 1;
      } else if (n < 0 && !transient(errno)) {
        return -1;
      }
    }
    if (p.eof && !p.pending() && !p.shut) {  // pass the half-close on
      ::shutdown(to, SHUT_WR);
      p.shut = true;
      result = 1;
    }
    return result;
  }

  void on_event(Impl& loop, int fd, std::uint32_t events) override {
    if (!connected && fd == target.get()) {
      int error = 0;
      socklen_t len = sizeof error;
      ::getsockopt(target.get(), SOL_SOCKET, SO_ERROR, &error, &len);
      if (error != 0) return loop.forget(*this);
      connected = true;
    } else if (events & EPOLLERR) {
      return loop.forget(*this);
    }
    bool progressed = false;
    if (connected) {
      for (;;) {
        int a = step(up, client.get(), target.get());
        int b = step(down, target.get(), client.get());
        if (a < 0 || b < 0) return loop.forget(*this);
        if (a == 0 && b == 0) break;
        progressed = true;
      }
    }
    if ((up.shut && down.shut) || ((events & EPOLLHUP) && !progressed)) return loop.forget(*this);
    update(loop);
  }

  void update(Impl& loop) {
    loop.modify(client.get(),
                (connected && up.wants_read() ? EPOLLIN : 0u) | (down.pending() ? EPOLLOUT : 0u));
    loop.modify(target.get(),
                !connected ? EPOLLOUT
                           : (down.wants_read() ? EPOLLIN : 0u) | (up.pending() ? EPOLLOUT : 0u));
  }
};

struct ProxyEventLoop::Impl::TcpListener : Watcher {
  UniqueFd fd;
  sockaddr_in target{};

  std::vector<int> fds() const override { return {fd.get()}; }

  void on_event(Impl& loop, int, std::uint32_t) override {
    for (;;) {
      UniqueFd client(::accept4(fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!client) return;  // EAGAIN, or a connection that went away before accept
      auto conn = std::make_shared<TcpConnection>();
      conn->proxy = proxy;
      conn->client = std::move(client);
      conn->target = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!conn->target) continue;
      int rc =
          ::connect(conn->target.get(), reinterpret_cast<const sockaddr*>(&target), sizeof target);
      if (rc != 0 && errno != EINPROGRESS) continue;  // refused at once: drop the client
      try {  // a failure here costs this connection, not the listener
        loop.watch(conn, conn->client.get(), 0);
        loop.watch(conn, conn->target.get(), EPOLLOUT);  // connect completion
      } catch (const NetError&) {
        loop.forget(*conn);
      }
    }
  }
};

struct ProxyEventLoop::Impl::UdpFlow : Watcher {
  UniqueFd fd;  // connected to the target
  int listener_fd = -1;
  sockaddr_in client{};
  Clock::time_point last_active = Clock::now();

  std::vector<int> fds() const override { return {fd.get()}; }
  bool expired(Clock::time_point now) const override { return now - last_active > kUdpFlowIdle; }

  void on_event(Impl& loop, int, std::uint32_t) override {
    for (;;) {
      ssize_t n = ::recv(fd.get(), loop.datagram.data(), loop.datagram.size(), MSG_DONTWAIT);
      if (n < 0) return;  // drained, or an ICMP error from the target: keep the flow
      last_active = Clock::now();
      ::sendto(listener_fd, loop.datagram.data(), static_cast<std::size_t>(n), MSG_DONTWAIT,
               reinterpret_cast<const sockaddr*>(&client), sizeof client);
    }
  }
};

struct ProxyEventLoop::Impl::UdpListener : Watcher {
  UniqueFd fd;
  sockaddr_in target{};
  std::map<std::uint64_t, std::weak_ptr<UdpFlow>> flows;  // by client address and port

  std::vector<int> fds() const override { return {fd.get()}; }

  std::shared_ptr<UdpFlow> flow_for(Impl& loop, const sockaddr_in& client) {
    auto key = std::uint64_t{client.sin_addr.s_addr} << 16 | client.sin_port;
    if (auto flow = flows[key].lock()) return flow;
    std::erase_if(flows, [](const auto& entry) { return entry.second.expired(); });
    auto flow = std::make_shared<UdpFlow>();
    flow->proxy = proxy;
    flow->listener_fd = fd.get();
    flow->client = client;
    flow->fd = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!flow->fd ||
        ::connect(flow->fd.get(), reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0)
      return nullptr;
    try {
      loop.watch(flow, flow->fd.get(), EPOLLIN);
    } catch (const NetError&) {
      return nullptr;
    }
    flows[key] = flow;
    return flow;
  }

  void on_event(Impl& loop, int, std::uint32_t) override {
    for (;;) {
      sockaddr_in client{};
      socklen_t len = sizeof client;
      ssize_t n = ::recvfrom(fd.get(), loop.datagram.data(), loop.datagram.size(), MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&client), &len);
      if (n < 0) return;
      auto flow = flow_for(loop, client);
      if (!flow) continue;
      flow->last_active = Clock::now();
      ::send(flow->fd.get(), loop.datagram.data(), static_cast<std::size_t>(n), MSG_DONTWAIT);
    }
  }
};

using Impl = ProxyEventLoop::Impl;

ProxyEventLoop::ProxyEventLoop() : impl_(std::make_shared<Impl>()) {}
ProxyEventLoop::~ProxyEventLoop() {
  impl_->shutdown();
}

PortProxy::PortProxy(ProxyEventLoop& loop, const PortMapping& mapping)
    : loop_(loop.impl_), mapping_(mapping), id_(loop_->next_id++) {
  bool tcp = mapping.protocol == Protocol::Tcp;
  UniqueFd fd;
  try {
    fd = bind_socket((tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK,
                     make_sockaddr(mapping.host_ip, mapping.host_port));
  } catch (const NetError& e) {
    throw PortBindError(mapping, e.code());
  }
  mapping_.host_port = local_port(fd.get());
  sockaddr_in target = make_sockaddr(mapping.target_ip, mapping.target_port);
  loop_->run_sync([&] {
    std::shared_ptr<Impl::Watcher> listener;
    int listen_fd = fd.get();
    if (tcp) {
      auto l = std::make_shared<Impl::TcpListener>();
      l->fd = std::move(fd);
      l->target = target;
      listener = l;
    } else {
      auto l = std::make_shared<Impl::UdpListener>();
      l->fd = std::move(fd);
      l->target = target;
      listener = l;
    }
    listener->proxy = id_;
    loop_->watch(listener, listen_fd, EPOLLIN);
  });
}

PortProxy::~PortProxy() {
  auto id = id_;
  auto* loop = loop_.get();
  loop_->run_sync(
      [loop, id] { loop->forget_where([id](const Impl::Watcher& w) { return w.proxy == id; }); });
}

}  // namespace sockerless::network
