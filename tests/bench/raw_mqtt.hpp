// Minimal MQTT 3.1.1 publishers on raw non-blocking TCP sockets, all on one epoll thread: a
// direct-to-broker ceiling that is not limited by a client library (Paho's shared threads).
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
  bool publish(std::size_t i, const std::string& topic, const std::uint8_t* data, std::size_t size,
               int qos);
  // Reads PUBACKs (the only thing the broker sends these clients).
  void poll(int timeout_ms);
  std::uint64_t acked() const noexcept { return acked_; }
  std::size_t size() const noexcept { return fds_.size(); }

 private:
  std::vector<int> fds_;
  std::vector<std::uint16_t> next_id_;
  std::vector<std::uint8_t> out_;
  int epoll_fd_ = -1;
  std::uint64_t acked_ = 0;
  std::uint64_t ack_bytes_ = 0;
};

}  // namespace bench
