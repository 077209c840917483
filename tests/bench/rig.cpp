#include "rig.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
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

void progress(const std::string& line) {
  std::cerr << "[bench] " << line << std::endl;
}

Rig::Rig(const Options& options) : options_(options), dir_(make_temp_dir()) {}

Rig::~Rig() {
  stop_gateway();
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

std::string Rig::restart_gateway() {
  stop_gateway();
  const std::uint16_t port = free_port(SOCK_DGRAM);
  metrics_port_ = free_port(SOCK_STREAM);
  gateway_address_ = sockaddr_in{};
  gateway_address_.sin_family = AF_INET;
  gateway_address_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  gateway_address_.sin_port = htons(port);
  std::ostringstream conf;
  conf << "[gateway]\nid = 1\nlog_level = \"warn\"\n\n"
       << "[broker]\nuri = \"" << broker_uri() << "\"\nmode = \"" << options_.mode << "\"\n"
       << (options_.connect_timeout_ms > 0
               ? "connect_timeout_ms = " + std::to_string(options_.connect_timeout_ms) + "\n"
               : std::string())
       << (std::getenv("MQTTSN_BENCH_BROKER_EXTRA") ? std::getenv("MQTTSN_BENCH_BROKER_EXTRA") : "")
       << "\n"
       << "[udp]\nlisten = [\"127.0.0.1:" << port << "\"]\nreceive_buffer_bytes = 4194304\n\n"
       << "[topics.predefined]\n\"1\" = \"bench/predefined\"\n\n"
       << "[protocol]\nretry_interval_ms = 10000\nretry_count = 3\nmax_buffered_per_client = 1000\n"
       << (std::getenv("MQTTSN_BENCH_NO_METRICS")
               ? std::string()
               : "\n[metrics]\nlisten = \"127.0.0.1:" + std::to_string(metrics_port_) + "\"\n");
  ++gateway_starts_;
  if (options_.state)
    conf << "\n[state]\npath = \"" << dir_ << "/state-" << gateway_starts_ << ".db\"\n";
  const std::string path = dir_ + "/gateway-" + std::to_string(gateway_starts_) + ".toml";
  gateway_log_ = dir_ + "/gateway-" + std::to_string(gateway_starts_) + ".log";
  write_file(path, conf.str());
  gateway_pid_ = spawn({options_.gateway, "--config", path}, gateway_log_);
  if (gateway_pid_ < 0) return "cannot start " + options_.gateway;
  if (!probe_gateway(10000)) {
    return "gateway did not answer SEARCHGW within 10 s; log: " + gateway_log_tail();
  }
  return {};
}

void Rig::stop_gateway() {
  if (gateway_pid_ > 0) stop(gateway_pid_, std::chrono::milliseconds(5000));
  gateway_pid_ = -1;
}

bool Rig::probe_gateway(int timeout_ms) const {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{0, 100'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  connect(fd, reinterpret_cast<const sockaddr*>(&gateway_address_), sizeof gateway_address_);
  const auto searchgw = mqttsn::encode(mqttsn::SearchGw{1});
  bool ready = false;
  for (int waited = 0; waited < timeout_ms && !ready; waited += 100) {
    if (!alive(gateway_pid_)) break;
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
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(metrics_port_);
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
    const auto n = std::stoll(line.substr(space + 1));
    sum = std::max<std::int64_t>(sum, 0) + n;
    if (n != 0) progress("gateway drops: " + line);
  }
  return sum;
}

std::string Rig::gateway_log_tail() const {
  const std::string all = read_file(gateway_log_);
  return all.size() > 1500 ? all.substr(all.size() - 1500) : all;
}

}  // namespace bench
