#include "rig.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "mqttsn/codec.hpp"
#include "processes.hpp"

namespace bench {

bool Options::wants(const std::string& name) const {
  return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
}

bool Options::wants_path(const std::string& name) const {
  return paths.empty() || std::find(paths.begin(), paths.end(), name) != paths.end();
}

bool Options::wants_qos(int q) const {
  return qos.empty() || std::find(qos.begin(), qos.end(), q) != qos.end();
}

void progress(const std::string& line) {
  std::cerr << "[bench] " << line << std::endl;
}

Rig::Rig(const Options& options) : options_(options), dir_(make_temp_dir()) {
  auto add = [&](const std::string& binary, const char* label) {
    gateways_.emplace_back();
    gateways_.back().binary = binary;
    gateways_.back().label = label;
  };
  if (options.compare.empty()) {
    add(options.gateway, "gateway");
  } else {
    add(options.compare, "before");
    add(options.gateway, "after");
  }
}

Rig::~Rig() {
  stop_all_gateways();
  stop(broker_pid_, std::chrono::milliseconds(3000));
  if (!options_.keep && !dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string Rig::broker_uri() const {
  return "tcp://127.0.0.1:" + std::to_string(broker_port_);
}

std::string Rig::start_broker() {
  if (dir_.empty()) return "cannot create a temporary directory";
  broker_port_ = free_port(SOCK_STREAM);
  // Queues big enough that the broker never drops what a subscriber is slow to take: loss
  // measured here is then the gateway's (both paths share this broker and its settings).
  std::ostringstream conf;
  conf << "listener " << broker_port_ << " 127.0.0.1\n"
       << "allow_anonymous true\npersistence false\n"
       << "max_queued_messages 1000000\nmax_inflight_messages 1000\n"
       << "set_tcp_nodelay true\nlog_type error\nlog_type warning\n"
       // As root mosquitto would switch to its own user, which clears our PDEATHSIG.
       << (geteuid() == 0 ? "user root\n" : "");
  const std::string path = dir_ + "/mosquitto.conf";
  write_file(path, conf.str());
  broker_pid_ = spawn({options_.mosquitto, "-c", path}, dir_ + "/mosquitto.log");
  if (broker_pid_ < 0 || !wait_tcp(broker_port_, std::chrono::seconds(5))) {
    return "mosquitto did not start (see " + dir_ + "/mosquitto.log)";
  }
  return {};
}

std::string Rig::config_text(std::uint16_t udp_port) const {
  std::ostringstream conf;
  // Its own id per gateway under test: the id names the gateway's own broker client
  // ("mqttsn-gw-<id>"), and two gateways with one ClientId would take it from each other.
  conf
      << "[gateway]\nid = " << current_ + 1 << "\nlog_level = \"warn\"\n\n"
      << "[broker]\nuri = \"" << broker_uri() << "\"\nmode = \"" << options_.mode << "\"\n"
      << (options_.connect_timeout_ms > 0
              ? "connect_timeout_ms = " + std::to_string(options_.connect_timeout_ms) + "\n"
              : std::string())
      << "\n"
      << "[udp]\nlisten = [\"127.0.0.1:" << udp_port << "\"]\nreceive_buffer_bytes = 4194304\n\n"
      << "[topics.predefined]\n\"1\" = \"bench/predefined\"\n\n"
      << "[protocol]\nretry_interval_ms = 10000\nretry_count = 3\nmax_buffered_per_client = 1000\n";
  if (gw().metrics) conf << "\n[metrics]\nlisten = \"127.0.0.1:" << gw().metrics_port << "\"\n";
  if (options_.state)
    conf << "\n[state]\npath = \"" << dir_ << "/state-" << gateway_starts_ << ".db\"\n";
  return conf.str();
}

// Runs the executable's --check-config on `path`; returns its output when it refused it.
std::string Rig::check_config(const std::string& path) {
  const std::string log = dir_ + "/check-" + std::to_string(gateway_starts_) + ".log";
  const pid_t pid = spawn_child({gw().binary, "--config", path, "--check-config"}, log);
  if (pid < 0) return "cannot start " + gw().binary;
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  const auto out = read_file(log);
  return out.empty() ? "--check-config failed" : out;
}

std::string Rig::restart_gateway() {
  stop_gateway();
  auto& g = gw();
  const std::uint16_t port = free_port(SOCK_DGRAM);
  g.metrics_port = free_port(SOCK_STREAM);
  g.address = sockaddr_in{};
  g.address.sin_family = AF_INET;
  g.address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  g.address.sin_port = htons(port);
  ++gateway_starts_;
  const std::string path = dir_ + "/gateway-" + std::to_string(gateway_starts_) + ".toml";
  g.log = dir_ + "/gateway-" + std::to_string(gateway_starts_) + ".log";
  write_file(path, config_text(port));
  if (!g.checked) {
    // An older build may not know every section: without [metrics] it still runs, and its
    // drops read "-" in the tables.
    auto refusal = check_config(path);
    if (!refusal.empty() && refusal.find("metrics") != std::string::npos) {
      g.metrics = false;
      write_file(path, config_text(port));
      progress(g.label + " gateway " + g.binary + " refuses [metrics]: running it without");
      refusal = check_config(path);
    }
    if (!refusal.empty()) return g.binary + " refuses the bench's config " + path + ": " + refusal;
    g.checked = true;
  }
  g.pid = spawn({g.binary, "--config", path}, g.log);
  if (g.pid < 0) return "cannot start " + g.binary;
  if (!probe_gateway(10000)) {
    return "gateway did not answer SEARCHGW within 10 s; log: " + gateway_log_tail();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(kSettleMs));
  g.idle = read_proc(g.pid);
  return {};
}

void Rig::stop_gateway() {
  auto& g = gw();
  if (g.pid > 0) stop(g.pid, std::chrono::milliseconds(5000));
  g.pid = -1;
}

void Rig::stop_all_gateways() {
  const auto selected = current_;
  for (std::size_t i = 0; i < gateways_.size(); ++i) {
    current_ = i;
    stop_gateway();
  }
  current_ = selected;
}

bool Rig::probe_gateway(int timeout_ms) const {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{0, 100'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  connect(fd, reinterpret_cast<const sockaddr*>(&gw().address), sizeof gw().address);
  const auto searchgw = mqttsn::encode(mqttsn::SearchGw{1});
  bool ready = false;
  for (int waited = 0; waited < timeout_ms && !ready; waited += 100) {
    if (!alive(gw().pid)) break;
    send(fd, searchgw.data(), searchgw.size(), 0);
    std::array<std::uint8_t, 512> buf{};
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n > 0) {
      const auto d =
          mqttsn::decode(std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(n)));
      const auto* m = std::get_if<mqttsn::Message>(&d);
      ready = m != nullptr && std::holds_alternative<mqttsn::GwInfo>(*m);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // not bound yet (ECONNREFUSED)
    }
  }
  close(fd);
  return ready;
}

std::int64_t Rig::gateway_drops() const {
  if (!gw().metrics) return -1;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(gw().metrics_port);
  std::string page;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0) {
    const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      std::array<char, 8192> buf{};
      ssize_t n = 0;
      while ((n = recv(fd, buf.data(), buf.size(), 0)) > 0)
        page.append(buf.data(), static_cast<std::size_t>(n));
    }
  }
  close(fd);
  // Samples look like: mqttsn_gateway_dropped_total{reason="link_down"} 12
  std::int64_t sum = -1;
  std::istringstream lines(page);
  std::string line;
  const std::string family = "mqttsn_gateway_dropped_total{";
  while (std::getline(lines, line)) {
    if (line.rfind(family, 0) != 0) continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    sum = std::max<std::int64_t>(sum, 0) + std::stoll(line.substr(space + 1));
  }
  return sum;
}

std::string Rig::gateway_log_tail() const {
  const std::string all = read_file(gw().log);
  return all.size() > 1500 ? all.substr(all.size() - 1500) : all;
}

}  // namespace bench
