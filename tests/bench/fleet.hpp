// The sensor side: N MQTT-SN clients, each its own UDP socket (own source port), all driven by one
// thread through one epoll set so that the client is never the bottleneck.
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mqttsn/messages.hpp"

namespace bench {

struct Sensor {
  int fd = -1;
  std::string client_id;
  std::uint16_t topic_id = 0;    // registered uplink topic
  std::uint16_t down_topic = 0;  // subscribed downlink topic
  std::uint16_t next_msg_id = 1;
  std::uint32_t inflight = 0;   // QoS 1 PUBLISHes not yet acknowledged
  std::int64_t request_ns = 0;  // when the pending request (CONNECT, ...) was sent
  std::int64_t answer_ns = 0;   // when its answer came (0: not yet)
  std::uint8_t answer_code = 0xFF;
  int tries = 0;
};

struct FleetCounters {
  std::uint64_t sent = 0;
  std::uint64_t send_errors = 0;
  std::uint64_t received = 0;
  std::uint64_t receive_errors = 0;  // ECONNREFUSED (gateway gone) and the like
  std::uint64_t undecodable = 0;
};

class Fleet {
 public:
  using Handler = std::function<void(std::size_t sensor, const mqttsn::Message&, std::int64_t now)>;

  // Opens `count` sockets connected to the gateway. Check ok() (fd limit...).
  Fleet(const sockaddr_in& gateway, std::size_t count, const std::string& id_prefix);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  bool ok() const noexcept { return error_.empty(); }
  const std::string& error() const noexcept { return error_; }
  std::size_t size() const noexcept { return sensors_.size(); }
  Sensor& operator[](std::size_t i) noexcept { return sensors_[i]; }
  const FleetCounters& counters() const noexcept { return counters_; }

  bool send(std::size_t i, const mqttsn::Message& m);
  bool send_raw(std::size_t i, const std::vector<std::uint8_t>& bytes);
  // Waits up to timeout_ms for datagrams and hands each decoded one to the handler.
  // Returns the number of datagrams handled.
  std::size_t poll(int timeout_ms, const Handler& on_message);

 private:
  std::vector<Sensor> sensors_;
  int epoll_fd_ = -1;
  std::string error_;
  std::vector<std::uint8_t> out_;
  FleetCounters counters_;
};

// Sends a request to every sensor whose answer_ns is 0 (at most `window` unanswered at once),
// resending after `retry_ms` up to `tries` times, until every sensor is answered or `timeout_ms`.
// `is_answer` returns true (and records what it needs) when a message answers sensor i.
// Used for setup (CONNECT, REGISTER, SUBSCRIBE), where retries are fine; the storm measures
// CONNECT without any retry elsewhere. Returns the number answered.
std::size_t request_all(Fleet& fleet, std::size_t window, int retry_ms, int tries, int timeout_ms,
                        const std::function<mqttsn::Message(std::size_t)>& make_request,
                        const std::function<bool(std::size_t, const mqttsn::Message&)>& is_answer,
                        const Fleet::Handler& other = {});

}  // namespace bench
