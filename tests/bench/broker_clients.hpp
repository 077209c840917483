// The MQTT side, with Paho C++: a subscriber collecting what reaches the broker, and publishers
// (the direct-to-broker ceiling, and the downlink source).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <mqtt/async_client.h>

#include "stats.hpp"

namespace bench {

// Subscribes to a topic filter and counts the stamped messages of the current phase.
class Collector {
 public:
  Collector(const std::string& uri, const std::string& client_id);
  ~Collector();
  // Connects and subscribes; returns an error text, empty on success.
  std::string start(const std::string& filter, int qos);
  // Instead of Paho: one raw MQTT 3.1.1 connection read by a thread of its own (--raw-subscriber),
  // to tell a slow subscriber client from a slow path.
  std::string start_raw(std::uint16_t port, const std::string& filter, int qos);
  // Starts counting messages stamped with `phase`; seq must stay below max_seq.
  void begin(std::uint32_t phase, std::size_t max_seq);
  std::uint64_t received() const noexcept { return received_.load(); }
  struct Result {
    std::uint64_t received = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t stale = 0;   // stamped with another phase
    std::int64_t last_ns = 0;  // when the last new message arrived
    std::vector<std::int64_t> latencies_ns;
  };
  Result finish();

 private:
  void on_message(const mqtt::const_message_ptr& m);
  void count(std::span<const std::uint8_t> payload, std::int64_t now);
  void raw_loop();
  mqtt::async_client client_;
  int raw_fd_ = -1;
  std::thread raw_thread_;
  std::mutex mutex_;
  std::uint32_t phase_ = 0;
  std::vector<std::uint8_t> seen_;
  Result result_;
  std::atomic<std::uint64_t> received_{0};
};

// N Paho clients publishing straight to the broker.
class Publishers {
 public:
  Publishers(const std::string& uri, std::size_t count, const std::string& id_prefix);
  ~Publishers();
  Publishers(const Publishers&) = delete;
  Publishers& operator=(const Publishers&) = delete;
  std::string connect();
  // Connects all at once; each client's connect time in ns (0: failed / timed out).
  // `after_issue` runs once all connects are issued.
  std::vector<std::int64_t> connect_timed(int timeout_ms,
                                          const std::function<void()>& after_issue = {});
  mqtt::async_client& client(std::size_t i) { return *clients_[i]; }
  // Never blocks; false when skipped or refused. With `window` > 0 a QoS 1 message is skipped
  // while client i has that many unacknowledged, as a sensor's window does. A message Paho
  // refused is counted in failed(), with the last refusal's code in last_error().
  bool publish(std::size_t i, const std::string& topic, const std::uint8_t* data, std::size_t size,
               int qos, std::uint32_t window = 0);
  // From now on only PUBACKs of messages stamped with `phase` count in acked().
  void begin_step(std::uint32_t phase) noexcept { phase_.store(phase); }
  // PUBACKs of QoS 1 messages of the current phase (delivery completions of QoS 0 messages are
  // not acks); late_acks(): those of an earlier phase.
  std::uint64_t acked() const noexcept { return acked_.load(); }
  std::uint64_t late_acks() const noexcept { return late_acks_.load(); }
  std::uint64_t failed() const noexcept { return failed_; }
  int last_error() const noexcept { return last_error_; }
  std::size_t size() const noexcept { return clients_.size(); }
  void disconnect();

 private:
  // Each client's callback knows its index, so that its window opens on its own acks.
  struct Acks : mqtt::callback {
    Publishers* owner = nullptr;
    std::size_t index = 0;
    void delivery_complete(mqtt::delivery_token_ptr tok) override;
  };
  std::vector<std::unique_ptr<mqtt::async_client>> clients_;
  std::vector<std::unique_ptr<Acks>> callbacks_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> inflight_;  // QoS 1 unacknowledged, per client
  std::atomic<std::uint64_t> acked_{0};
  std::atomic<std::uint64_t> late_acks_{0};
  std::atomic<std::uint32_t> phase_{0};
  std::uint64_t failed_ = 0;
  int last_error_ = 0;
};

}  // namespace bench
