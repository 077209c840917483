// A minimal MQTT 3.1.1 listener on a free loopback port that breaks connections on purpose: it
// answers CONNECT with CONNACK (session present) and PUBLISH with PUBACK, and when armed resets
// the connection (RST) as soon as a PUBLISH arrives, while the client is still writing. It checks
// that every packet it reads is well formed: the test behind gateway/upstream/upstream.hpp's
// "Paho C's failed write".
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace upstream_test {

class RawBroker {
 public:
  // Every PUBLISH must carry `topic` and a payload starting with `payload_prefix`.
  RawBroker(std::string topic, std::string payload_prefix);
  ~RawBroker();
  RawBroker(const RawBroker&) = delete;
  RawBroker& operator=(const RawBroker&) = delete;
  bool up() const noexcept { return listener_ >= 0; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

  std::atomic<bool> armed{false};   // reset the connection at the next PUBLISH
  std::atomic<int> connections{0};  // CONNECTs answered
  std::atomic<int> publishes{0};    // well-formed PUBLISH packets read
  std::atomic<int> resets{0};       // connections reset on purpose
  // Packets that are not what the client was asked to send (freed memory, garbage).
  std::vector<std::string> problems() const;

 private:
  void run();
  void serve(int fd);
  void problem(std::string what);

  std::string topic_;
  std::string payload_prefix_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<std::string> problems_;
  std::thread thread_;
};

}  // namespace upstream_test
