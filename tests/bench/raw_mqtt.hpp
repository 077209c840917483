// Minimal MQTT 3.1.1 publishers on raw non-blocking TCP sockets, all on one epoll thread: the
// "direct epoll" ceiling, an efficient client that is not Paho (no library threads, no queue, one
// write per PUBLISH, PUBACKs read in batches), with the sensors' QoS 1 window.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bench {

class RawPublishers {
 public:
  RawPublishers() = default;
  ~RawPublishers();
  RawPublishers(const RawPublishers&) = delete;
  RawPublishers& operator=(const RawPublishers&) = delete;

  // Connects `count` clients (keep-alive 0, clean session); returns an error text or empty.
  std::string connect(std::uint16_t port, std::size_t count, const std::string& id_prefix);
  // False when skipped (QoS 1 with `window` > 0 unacknowledged on client i) or not written.
  bool publish(std::size_t i, const std::string& topic, const std::uint8_t* data, std::size_t size,
               int qos, std::uint32_t window = 0);
  // Reads PUBACKs (the only thing the broker sends these clients).
  void poll(int timeout_ms);
  // From now on only PUBACKs of the PUBLISHes sent from now on count in acked().
  void begin_step();
  std::uint64_t acked() const noexcept { return acked_; }
  std::uint64_t late_acks() const noexcept { return late_acks_; }
  // Octets that were not a PUBACK (there should be none).
  std::uint64_t unexpected() const noexcept { return unexpected_; }
  std::size_t size() const noexcept { return fds_.size(); }

 private:
  std::vector<int> fds_;
  std::vector<std::uint16_t> next_id_;
  std::vector<std::uint8_t> out_;
  int epoll_fd_ = -1;
  std::vector<std::uint32_t> inflight_;        // QoS 1 unacknowledged, per client
  std::vector<std::vector<std::uint8_t>> in_;  // an incomplete PUBACK, per client
  std::vector<std::vector<bool>> pending_;     // packet ids sent this step, not yet acked
  std::uint64_t late_acks_ = 0;
  std::uint64_t acked_ = 0;
  std::uint64_t unexpected_ = 0;
};

}  // namespace bench
