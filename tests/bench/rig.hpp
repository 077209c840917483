// The system under test: one mosquitto and one gateway process on loopback, with generated
// configuration in a temporary directory.
#pragma once

#include <netinet/in.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "processes.hpp"

namespace bench {

struct Options {
  bool quick = false;
  bool json = false;
  std::vector<std::string> only;  // scenario names; empty: all
  std::string gateway;
  std::string mosquitto = "/usr/sbin/mosquitto";
  double duration_s = 0;  // per measured step; 0: default
  bool keep = false;
  int connect_timeout_ms = 0;  // [broker] connect_timeout_ms for the gateway; 0: its default
  bool state = false;          // [state] path: sessions kept in a state file (persistence cost)
  std::string mode = "transparent";  // [broker] mode for the gateway
  // Count at the broker with a Paho C++ client instead of the raw MQTT socket. Off by default: in
  // one process Paho's shared threads serve the subscriber and the direct publishers alike, and
  // the subscriber became the bottleneck of both paths.
  bool paho_subscriber = false;
  // A second gateway executable (the "before" build): every scenario runs against both.
  std::string compare;
  // Uplink selections (empty: all / the defaults).
  std::vector<std::size_t> sensors;  // fleet sizes
  std::vector<double> rates;         // offered msg/s ladder
  std::vector<int> qos;              // 0, 1
  std::vector<std::string> paths;    // gateway, paho, epoll
  // Unacknowledged QoS 1 messages per direct client (the sensors' window); 0: unlimited.
  std::uint32_t direct_window = 64;
  // Runs of each uplink step (interleaved across gateways), combined: lossless only if all were.
  int repeat = 1;
  bool warm_up = false;  // an unrecorded step (its progress line says so)
  bool wants(const std::string& name) const;
  bool wants_path(const std::string& name) const;
  bool wants_qos(int q) const;
  double step_seconds() const { return duration_s > 0 ? duration_s : (quick ? 0.5 : 2.0); }
};

class Rig {
 public:
  explicit Rig(const Options& options);
  ~Rig();
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  std::string start_broker();
  // The gateway executables under test: one, or with --compare the "before" one and this build's
  // ("after"). The calls below act on the selected one; each can run while the other does.
  std::size_t gateway_count() const noexcept { return gateways_.size(); }
  void select_gateway(std::size_t i) noexcept { current_ = i; }
  // "gateway", or "before" / "after" with --compare.
  const std::string& gateway_label() const noexcept { return gw().label; }
  // Stops the selected gateway (if running), starts a fresh one, waits for its GWINFO and then
  // kSettleMs more before it reads the idle figures (idle_stats()).
  std::string restart_gateway();
  void stop_gateway();
  void stop_all_gateways();
  ProcStats idle_stats() const noexcept { return gw().idle; }

  std::string broker_uri() const;
  std::uint16_t broker_port() const noexcept { return broker_port_; }
  const sockaddr_in& gateway_address() const noexcept { return gw().address; }
  pid_t gateway_pid() const noexcept { return gw().pid; }
  pid_t broker_pid() const noexcept { return broker_pid_; }
  const std::string& dir() const noexcept { return dir_; }
  std::string gateway_log_tail() const;
  // The gateway's own count of what it dropped: the sum of mqttsn_gateway_dropped_total over all
  // reasons, read from its /metrics ([metrics] listen on a free loopback port). -1: unreadable.
  std::int64_t gateway_drops() const;

 private:
  struct Gateway {
    std::string binary;
    std::string label;
    pid_t pid = -1;
    std::string log;
    sockaddr_in address{};
    std::uint16_t metrics_port = 0;
    bool checked = false;  // its --check-config accepted one of our configs
    bool metrics = true;   // it accepts [metrics] (older builds do not)
    ProcStats idle;
  };
  Gateway& gw() noexcept { return gateways_[current_]; }
  const Gateway& gw() const noexcept { return gateways_[current_]; }
  std::string config_text(std::uint16_t udp_port) const;
  std::string check_config(const std::string& path);
  bool probe_gateway(int timeout_ms) const;
  const Options& options_;
  std::string dir_;
  std::uint16_t broker_port_ = 0;
  pid_t broker_pid_ = -1;
  std::vector<Gateway> gateways_;
  std::size_t current_ = 0;
  int gateway_starts_ = 0;
};

// Settle time before every memory reading (idle and with sensors), so that all are alike.
constexpr int kSettleMs = 1000;

// Progress lines on stderr (the table goes to stdout).
void progress(const std::string& line);

}  // namespace bench
