// The system under test: one mosquitto and one gateway process on loopback, with generated
// configuration in a temporary directory.
#pragma once

#include <netinet/in.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

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
  bool paho_subscriber = false;  // keep the temporary directory (configs, logs)
  bool wants(const std::string& name) const;
  double step_seconds() const { return duration_s > 0 ? duration_s : (quick ? 0.5 : 2.0); }
};

class Rig {
 public:
  explicit Rig(const Options& options);
  ~Rig();
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  std::string start_broker();
  // Stops the running gateway (if any), starts a fresh one and waits for its GWINFO.
  std::string restart_gateway();
  void stop_gateway();

  std::string broker_uri() const;
  std::uint16_t broker_port() const noexcept { return broker_port_; }
  const sockaddr_in& gateway_address() const noexcept { return gateway_address_; }
  pid_t gateway_pid() const noexcept { return gateway_pid_; }
  pid_t broker_pid() const noexcept { return broker_pid_; }
  const std::string& dir() const noexcept { return dir_; }
  std::string gateway_log_tail() const;
  // The gateway's own count of what it dropped: the sum of mqttsn_gateway_dropped_total over all
  // reasons, read from its /metrics ([metrics] listen on a free loopback port). -1: unreadable.
  std::int64_t gateway_drops() const;

 private:
  bool probe_gateway(int timeout_ms) const;
  const Options& options_;
  std::string dir_;
  std::uint16_t broker_port_ = 0;
  pid_t broker_pid_ = -1;
  pid_t gateway_pid_ = -1;
  int gateway_starts_ = 0;
  std::string gateway_log_;
  sockaddr_in gateway_address_{};
  std::uint16_t metrics_port_ = 0;
};

// Progress lines on stderr (the table goes to stdout).
void progress(const std::string& line);

}  // namespace bench
