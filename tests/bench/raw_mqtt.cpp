#include "raw_mqtt.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace bench {

namespace {
void put_length(std::vector<std::uint8_t>& out, std::size_t n) {
  do {
    auto digit = static_cast<std::uint8_t>(n % 128);
    n /= 128;
    if (n > 0) digit = static_cast<std::uint8_t>(digit | 0x80);
    out.push_back(digit);
  } while (n > 0);
}
void put_string(std::vector<std::uint8_t>& out, const std::string& s) {
  out.push_back(static_cast<std::uint8_t>(s.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(s.size() & 0xFF));
  out.insert(out.end(), s.begin(), s.end());
}
bool write_all(int fd, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        pollfd pfd{fd, POLLOUT, 0};
        ::poll(&pfd, 1, 100);
        continue;
      }
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}
}  // namespace

RawPublishers::~RawPublishers() {
  const std::uint8_t disconnect[] = {0xE0, 0x00};
  for (const int fd : fds_) {
    write_all(fd, disconnect, sizeof disconnect);
    close(fd);
  }
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

std::string RawPublishers::connect(std::uint16_t port, std::size_t count,
                                   const std::string& id_prefix) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  for (std::size_t i = 0; i < count; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
      if (fd >= 0) close(fd);
      return std::string("raw MQTT connect: ") + std::strerror(errno);
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fds_.push_back(fd);
    next_id_.push_back(1);
    inflight_.push_back(0);
    in_.emplace_back();
    pending_.emplace_back(65536, false);
    std::vector<std::uint8_t> body;
    put_string(body, "MQTT");
    body.insert(body.end(), {0x04, 0x02, 0x00, 0x00});  // 3.1.1, clean session, keep-alive 0
    put_string(body, id_prefix + std::to_string(i));
    std::vector<std::uint8_t> packet{0x10};
    put_length(packet, body.size());
    packet.insert(packet.end(), body.begin(), body.end());
    std::array<std::uint8_t, 4> connack{};
    pollfd pfd{fd, POLLIN, 0};
    if (!write_all(fd, packet.data(), packet.size()) || ::poll(&pfd, 1, 5000) != 1 ||
        ::read(fd, connack.data(), connack.size()) != 4 || connack[0] != 0x20 || connack[3] != 0) {
      return "raw MQTT: no CONNACK for client " + std::to_string(i);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  return {};
}

bool RawPublishers::publish(std::size_t i, const std::string& topic, const std::uint8_t* data,
                            std::size_t size, int qos, std::uint32_t window) {
  if (qos == 1 && window > 0 && inflight_[i] >= window) return false;
  out_.clear();
  out_.push_back(qos == 1 ? 0x32 : 0x30);
  put_length(out_, 2 + topic.size() + (qos == 1 ? 2 : 0) + size);
  put_string(out_, topic);
  std::uint16_t id = 0;
  if (qos == 1) {
    id = next_id_[i]++;
    if (next_id_[i] == 0) next_id_[i] = 1;
    out_.push_back(static_cast<std::uint8_t>(id >> 8));
    out_.push_back(static_cast<std::uint8_t>(id & 0xFF));
  }
  out_.insert(out_.end(), data, data + size);
  if (!write_all(fds_[i], out_.data(), out_.size())) return false;
  if (qos == 1) {
    ++inflight_[i];
    pending_[i][id] = true;
  }
  return true;
}

void RawPublishers::begin_step() {
  for (auto& p : pending_) p.assign(p.size(), false);
}

void RawPublishers::poll(int timeout_ms) {
  std::array<epoll_event, 256> events{};
  const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
  std::array<std::uint8_t, 65536> buf{};
  for (int e = 0; e < n; ++e) {
    const auto i = static_cast<std::size_t>(events[static_cast<std::size_t>(e)].data.u64);
    auto& in = in_[i];
    for (;;) {
      const ssize_t got = ::read(fds_[i], buf.data(), buf.size());
      if (got <= 0) break;
      in.insert(in.end(), buf.begin(), buf.begin() + got);
      std::size_t at = 0;
      for (; in.size() - at >= 4; at += 4) {  // PUBACK: 0x40 0x02 and the packet id
        if (in[at] != 0x40 || in[at + 1] != 0x02) {
          unexpected_ += in.size() - at;  // out of step: give up on this stream's rest
          at = in.size();
          break;
        }
        if (inflight_[i] > 0) --inflight_[i];
        const auto id = static_cast<std::uint16_t>((in[at + 2] << 8) | in[at + 3]);
        if (pending_[i][id]) {
          pending_[i][id] = false;
          ++acked_;
        } else {
          ++late_acks_;
        }
      }
      in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(at));
    }
  }
}

}  // namespace bench
