// sockerless-loadgen: a fixed-concurrency HTTP load generator for Docker API daemons over a
// unix socket. Each worker holds one keep-alive connection and sends its next request as
// soon as the previous answer is read; every latency is kept, so percentiles are exact.
//
//   sockerless-loadgen --socket /run/x.sock --path /_ping --concurrency 8 --duration 5
//   sockerless-loadgen --socket /run/x.sock --mode lifecycle --image busybox --requests 50
//
// Prints one JSON document: counts, rate, latency percentiles (microseconds) and up to
// 2000 evenly spaced samples of the sorted latencies (for plots).
#include <algorithm>
#include <atomic>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bh = beast::http;
using local = net::local::stream_protocol;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

struct Options {
  std::string socket;
  std::string mode = "request";  // request | lifecycle
  std::string method = "GET";
  std::string path = "/_ping";
  std::string body;
  std::string image = "busybox";
  int concurrency = 1;
  double duration = 0;  // seconds; 0: use requests
  long requests = 0;
  double warmup = 0;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "sockerless-loadgen: " << why
            << "\nusage: sockerless-loadgen --socket PATH [--mode request|lifecycle] [--method M] "
               "[--path P] [--body JSON] [--image REF] [--concurrency N] (--duration S | "
               "--requests N) [--warmup S]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--socket")
      o.socket = next();
    else if (a == "--mode")
      o.mode = next();
    else if (a == "--method")
      o.method = next();
    else if (a == "--path")
      o.path = next();
    else if (a == "--body")
      o.body = next();
    else if (a == "--image")
      o.image = next();
    else if (a == "--concurrency")
      o.concurrency = std::stoi(next());
    else if (a == "--duration")
      o.duration = std::stod(next());
    else if (a == "--requests")
      o.requests = std::stol(next());
    else if (a == "--warmup")
      o.warmup = std::stod(next());
    else
      usage("unknown argument " + a);
  }
  if (o.socket.empty()) usage("--socket is required");
  if (o.duration <= 0 && o.requests <= 0) usage("give --duration or --requests");
  if (o.mode != "request" && o.mode != "lifecycle") usage("unknown mode " + o.mode);
  if (o.concurrency < 1) usage("--concurrency must be at least 1");
  return o;
}

// One keep-alive connection; reconnects when the daemon closes it.
class Connection {
 public:
  explicit Connection(const std::string& path) : path_(path) {}

  // Sends one request and reads the whole answer; returns the status (0 on failure).
  int call(const std::string& method, const std::string& target, const std::string& body,
           std::string* out = nullptr) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!socket_) {
          socket_.emplace(io_);
          socket_->connect(local::endpoint(path_));
        }
        bh::request<bh::string_body> req{bh::string_to_verb(method), target, 11};
        req.set(bh::field::host, "docker");
        if (!body.empty()) req.set(bh::field::content_type, "application/json");
        req.body() = body;
        req.prepare_payload();
        bh::write(*socket_, req);
        bh::response_parser<bh::string_body> parser;
        parser.body_limit(std::numeric_limits<std::uint64_t>::max());
        bh::read(*socket_, buffer_, parser);
        auto& res = parser.get();
        if (!res.keep_alive()) socket_.reset();
        if (out) *out = std::move(res.body());
        return res.result_int();
      } catch (const std::exception&) {
        socket_.reset();
        buffer_.clear();
      }
    }
    return 0;
  }

 private:
  std::string path_;
  net::io_context io_;
  std::optional<local::socket> socket_;
  beast::flat_buffer buffer_;
};

// One unit of work; true when it succeeded.
bool one(Connection& c, const Options& o) {
  if (o.mode == "request") {
    int s = c.call(o.method, o.path, o.body);
    return s >= 200 && s < 400;
  }
  std::string out;
  json create = {{"Image", o.image}, {"Cmd", {"true"}}};
  if (c.call("POST", "/containers/create", create.dump(), &out) != 201) return false;
  std::string id = json::parse(out).value("Id", "");
  bool ok = c.call("POST", "/containers/" + id + "/start", "") == 204 &&
            c.call("POST", "/containers/" + id + "/wait", "") == 200;
  ok = c.call("DELETE", "/containers/" + id + "?force=1", "") == 204 && ok;
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  std::atomic<long> issued{0};
  std::atomic<long> errors{0};
  std::mutex mu;
  std::vector<std::int64_t> latencies;  // microseconds
  Clock::time_point start = Clock::now();
  Clock::time_point measure_start =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup));
  Clock::time_point deadline = measure_start + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(o.duration));

  auto worker = [&] {
    Connection c(o.socket);
    std::vector<std::int64_t> mine;
    for (;;) {
      auto t0 = Clock::now();
      if (o.duration > 0) {
        if (t0 >= deadline) break;
      } else if (issued.fetch_add(1) >= o.requests) {
        break;
      }
      bool ok = one(c, o);
      auto t1 = Clock::now();
      if (o.duration > 0 && t0 < measure_start) continue;  // warm-up
      if (!ok) errors.fetch_add(1);
      mine.push_back(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
    }
    std::lock_guard lock(mu);
    latencies.insert(latencies.end(), mine.begin(), mine.end());
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < o.concurrency; ++i)
    threads.emplace_back(worker);
  for (auto& t : threads)
    t.join();
  double seconds =
      std::chrono::duration<double>(Clock::now() - (o.duration > 0 ? measure_start : start))
          .count();

  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) -> std::int64_t {
    if (latencies.empty()) return 0;
    std::size_t i = static_cast<std::size_t>(p * static_cast<double>(latencies.size() - 1));
    return latencies[i];
  };
  double mean = 0;
  for (auto l : latencies)
    mean += static_cast<double>(l);
  if (!latencies.empty()) mean /= static_cast<double>(latencies.size());
  json samples = json::array();
  std::size_t n = latencies.size(), keep = std::min<std::size_t>(n, 2000);
  for (std::size_t i = 0; i < keep; ++i)
    samples.push_back(latencies[keep == 1 ? 0 : i * (n - 1) / (keep - 1)]);
  json out = {{"mode", o.mode},
              {"path", o.path},
              {"concurrency", o.concurrency},
              {"requests", static_cast<long>(n)},
              {"errors", errors.load()},
              {"seconds", seconds},
              {"rate", seconds > 0 ? static_cast<double>(n) / seconds : 0},
              {"latency_us",
               {{"p50", pct(0.50)},
                {"p90", pct(0.90)},
                {"p99", pct(0.99)},
                {"max", latencies.empty() ? 0 : latencies.back()},
                {"mean", mean}}},
              {"samples_us", samples}};
  std::cout << out.dump() << std::endl;
  return errors.load() > 0 && static_cast<std::size_t>(errors.load()) == n ? 1 : 0;
}
