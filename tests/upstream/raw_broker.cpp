#include "raw_broker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <utility>

namespace upstream_test {

namespace {

// Waits until `fd` is readable; false on timeout or when `stop` is set.
bool readable(int fd, const std::atomic<bool>& stop) {
  while (!stop) {
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, 50);
    if (n > 0) return true;
    if (n < 0) return false;
  }
  return false;
}

bool read_exact(int fd, std::uint8_t* out, std::size_t n, const std::atomic<bool>& stop) {
  while (n > 0) {
    if (!readable(fd, stop)) return false;
    const ssize_t got = ::read(fd, out, n);
    if (got <= 0) return false;
    out += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

void write_all(int fd, const std::uint8_t* data, std::size_t n) {
  while (n > 0) {
    const ssize_t put = ::write(fd, data, n);
    if (put <= 0) return;
    data += put;
    n -= static_cast<std::size_t>(put);
  }
}

void reset(int fd) {
  linger l{1, 0};  // close with RST: the client's next write fails
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

}  // namespace

RawBroker::RawBroker(std::string topic, std::string payload_prefix)
    : topic_(std::move(topic)), payload_prefix_(std::move(payload_prefix)) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return;
  }
  port_ = ntohs(a.sin_port);
  listener_ = fd;
  thread_ = std::thread([this] { run(); });
}

RawBroker::~RawBroker() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listener_ >= 0) ::close(listener_);
}

std::vector<std::string> RawBroker::problems() const {
  std::lock_guard lock(mutex_);
  return problems_;
}

void RawBroker::problem(std::string what) {
  std::lock_guard lock(mutex_);
  problems_.push_back(std::move(what));
}

void RawBroker::run() {
  while (readable(listener_, stop_)) {
    const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) serve(fd);
  }
}

// One connection: CONNECT, then PUBLISHes (PUBACK), reset at the first PUBLISH read while armed.
void RawBroker::serve(int fd) {
  for (;;) {
    std::uint8_t header = 0;
    if (!read_exact(fd, &header, 1, stop_)) break;
    std::size_t remaining = 0;
    for (int shift = 0;; shift += 7) {
      std::uint8_t b = 0;
      if (shift > 21 || !read_exact(fd, &b, 1, stop_)) {
        problem("bad remaining length");
        ::close(fd);
        return;
      }
      remaining |= static_cast<std::size_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) break;
    }
    std::vector<std::uint8_t> body(remaining);
    if (!read_exact(fd, body.data(), remaining, stop_)) break;
    const int type = header >> 4;
    if (type == 1) {  // CONNECT: CONNACK, session present
      ++connections;
      const std::array<std::uint8_t, 4> connack{0x20, 0x02, 0x01, 0x00};
      write_all(fd, connack.data(), connack.size());
    } else if (type == 3) {  // PUBLISH, QoS 1
      const std::size_t topic_len =
          remaining >= 2 ? static_cast<std::size_t>(body[0] << 8 | body[1]) : remaining + 1;
      if (topic_len + 4 > remaining || ((header >> 1) & 3) != 1) {
        problem("malformed PUBLISH, header 0x" + std::to_string(header));
        break;
      }
      const std::string topic(body.begin() + 2, body.begin() + 2 + static_cast<long>(topic_len));
      const std::string payload(body.begin() + 4 + static_cast<long>(topic_len), body.end());
      if (topic != topic_ || payload.rfind(payload_prefix_, 0) != 0) {
        problem("PUBLISH not as sent: topic of " + std::to_string(topic.size()) + " bytes");
        break;
      }
      ++publishes;
      if (armed.exchange(false)) {
        ++resets;
        reset(fd);
        return;
      }
      const std::size_t id = 2 + topic_len;
      const std::array<std::uint8_t, 4> puback{0x40, 0x02, body[id], body[id + 1]};
      write_all(fd, puback.data(), puback.size());
    } else if (type == 12) {  // PINGREQ
      const std::array<std::uint8_t, 2> pingresp{0xd0, 0x00};
      write_all(fd, pingresp.data(), pingresp.size());
    } else if (type == 14) {  // DISCONNECT
      break;
    } else {
      problem("unexpected packet type " + std::to_string(type));
      break;
    }
  }
  ::close(fd);
}

}  // namespace upstream_test
