#include "fleet.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "mqttsn/codec.hpp"
#include "stats.hpp"

namespace bench {

Fleet::Fleet(const sockaddr_in& gateway, std::size_t count, const std::string& id_prefix) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    error_ = std::string("epoll_create1: ") + std::strerror(errno);
    return;
  }
  sensors_.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    Sensor& s = sensors_[i];
    s.client_id = id_prefix + std::to_string(i);
    s.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.fd < 0) {
      error_ = "socket #" + std::to_string(i) + ": " + std::strerror(errno);
      return;
    }
    // Room for a downlink burst to one sensor.
    const int rcvbuf = 256 * 1024;
    setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (connect(s.fd, reinterpret_cast<const sockaddr*>(&gateway), sizeof gateway) != 0) {
      error_ = std::string("connect: ") + std::strerror(errno);
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s.fd, &ev) != 0) {
      error_ = std::string("epoll_ctl: ") + std::strerror(errno);
      return;
    }
  }
}

Fleet::~Fleet() {
  for (auto& s : sensors_) {
    if (s.fd >= 0) close(s.fd);
  }
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

bool Fleet::send(std::size_t i, const mqttsn::Message& m) {
  out_.clear();
  if (!mqttsn::encode_into(m, out_)) return false;
  return send_raw(i, out_);
}

bool Fleet::send_raw(std::size_t i, const std::vector<std::uint8_t>& bytes) {
  if (::send(sensors_[i].fd, bytes.data(), bytes.size(), 0) < 0) {
    ++counters_.send_errors;
    return false;
  }
  ++counters_.sent;
  return true;
}

std::size_t Fleet::poll(int timeout_ms, const Handler& on_message) {
  std::array<epoll_event, 256> events{};
  const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
  if (n <= 0) return 0;
  std::array<std::uint8_t, 2048> buf{};
  std::size_t handled = 0;
  for (int e = 0; e < n; ++e) {
    const auto i = static_cast<std::size_t>(events[static_cast<std::size_t>(e)].data.u64);
    // A few datagrams per socket per wake keep one busy sensor from starving the others.
    for (int k = 0; k < 64; ++k) {
      const ssize_t got = recv(sensors_[i].fd, buf.data(), buf.size(), 0);
      if (got < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) ++counters_.receive_errors;
        break;
      }
      ++counters_.received;
      const auto now = now_ns();
      auto decoded =
          mqttsn::decode(std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(got)));
      if (const auto* m = std::get_if<mqttsn::Message>(&decoded)) {
        on_message(i, *m, now);
        ++handled;
      } else {
        ++counters_.undecodable;
      }
    }
  }
  return handled;
}

std::size_t request_all(Fleet& fleet, std::size_t window, int retry_ms, int tries, int timeout_ms,
                        const std::function<mqttsn::Message(std::size_t)>& make_request,
                        const std::function<bool(std::size_t, const mqttsn::Message&)>& is_answer,
                        const Fleet::Handler& other) {
  for (std::size_t i = 0; i < fleet.size(); ++i) {
    fleet[i].answer_ns = 0;
    fleet[i].request_ns = 0;
    fleet[i].tries = 0;
  }
  const auto start = now_ns();
  const auto deadline = start + std::int64_t{timeout_ms} * 1'000'000;
  const auto retry_ns = std::int64_t{retry_ms} * 1'000'000;
  std::size_t answered = 0;
  std::size_t pending = 0;  // sent, unanswered, not given up
  std::size_t next = 0;     // first sensor never asked
  std::vector<std::size_t> outstanding;
  auto handler = [&](std::size_t i, const mqttsn::Message& m, std::int64_t now) {
    if (fleet[i].answer_ns == 0 && fleet[i].request_ns != 0 && is_answer(i, m)) {
      fleet[i].answer_ns = now;
      ++answered;
      --pending;
    } else if (other) {
      other(i, m, now);
    }
  };
  while (answered < fleet.size() && now_ns() < deadline) {
    while (pending < window && next < fleet.size()) {
      fleet[next].request_ns = now_ns();
      fleet[next].tries = 1;
      fleet.send(next, make_request(next));
      outstanding.push_back(next);
      ++pending;
      ++next;
    }
    fleet.poll(5, handler);
    const auto now = now_ns();
    std::size_t kept = 0;
    for (const std::size_t i : outstanding) {
      Sensor& s = fleet[i];
      if (s.answer_ns != 0) continue;
      if (now - s.request_ns > retry_ns) {
        if (s.tries >= tries) {
          s.request_ns = 0;  // given up: a late answer no longer counts
          --pending;
          continue;
        }
        ++s.tries;
        s.request_ns = now;
        fleet.send(i, make_request(i));
      }
      outstanding[kept++] = i;
    }
    outstanding.resize(kept);
    if (pending == 0 && next >= fleet.size()) break;
  }
  return answered;
}

}  // namespace bench
