#include "transports/udp/udp_transport.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

namespace transport {

namespace {

// recvmmsg reads up to this many datagrams per system call (libuv: buffer size / 64 KiB).
constexpr std::size_t kDatagramsPerRead = 8;
constexpr std::size_t kMaxDatagram = 64 * 1024;

PeerAddress from_sockaddr(const sockaddr* sa, std::uint8_t endpoint) {
  PeerAddress p;
  p.kind = Kind::Udp;
  p.endpoint = endpoint;
  const std::size_t len = sa->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  p.size = static_cast<std::uint8_t>(len);
  std::memcpy(p.raw.data(), sa, len);
  return p;
}

int family_of(const PeerAddress& p) {
  sa_family_t family = 0;
  std::memcpy(&family, p.raw.data(), sizeof family);
  return family;
}

}  // namespace

std::optional<PeerAddress> parse_udp_address(std::string_view text) {
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535 ||
      port_text.empty())
    return std::nullopt;
  const bool v6 = !text.empty() && text.front() == '[';
  if (v6) {
    sockaddr_in6 sin6{};
    if (uv_ip6_addr(host.c_str(), static_cast<int>(port), &sin6) != 0) return std::nullopt;
    return from_sockaddr(reinterpret_cast<const sockaddr*>(&sin6), 0);
  }
  sockaddr_in sin{};
  if (uv_ip4_addr(host.c_str(), static_cast<int>(port), &sin) != 0) return std::nullopt;
  return from_sockaddr(reinterpret_cast<const sockaddr*>(&sin), 0);
}

struct UdpTransport::Socket {
  uv_udp_t handle{};
  UdpTransport* owner = nullptr;
  std::uint8_t index = 0;
  int family = AF_INET;
  bool open = false;
  std::vector<std::uint8_t> buffer;  // reused: datagrams are handed on before the next read
};

namespace {
// A send that could not complete at once owns its bytes until libuv is done with them.
struct SendRequest {
  uv_udp_send_t req{};
  std::vector<std::uint8_t> data;
  UdpCounters* counters = nullptr;
};
}  // namespace

UdpTransport::UdpTransport(uv_loop_t* loop, ReceiveFn on_receive, LogFn log)
    : loop_(loop), on_receive_(std::move(on_receive)), log_(std::move(log)) {}

UdpTransport::~UdpTransport() = default;

void UdpTransport::log(LogLevel level, const std::string& text) const {
  if (log_) log_(level, text);
}

std::string UdpTransport::start(const UdpOptions& options) {
  for (const auto& text : options.advertise_to) {
    auto addr = parse_udp_address(text);
    if (!addr) return "udp.advertise_to: bad address \"" + text + "\"";
    advertise_to_.push_back(*addr);
  }
  if (options.listen.size() > 255) return "udp.listen: too many addresses";
  for (const auto& text : options.listen) {
    auto addr = parse_udp_address(text);
    if (!addr) return "udp.listen: bad address \"" + text + "\"";
    auto s = std::make_unique<Socket>();
    s->owner = this;
    s->index = static_cast<std::uint8_t>(sockets_.size());
    s->family = family_of(*addr);
    s->buffer.resize(kDatagramsPerRead * kMaxDatagram);
    s->handle.data = s.get();
    int rc = uv_udp_init_ex(loop_, &s->handle, static_cast<unsigned>(s->family) | UV_UDP_RECVMMSG);
    if (rc != 0) return "udp.listen " + text + ": " + uv_strerror(rc);
    s->open = true;
    ++open_handles_;
    Socket* raw = s.get();
    sockets_.push_back(std::move(s));
    sockaddr_storage ss{};
    std::memcpy(&ss, addr->raw.data(), addr->size);
    // "[::]:p" is IPv6 only, so it can share port p with "0.0.0.0:p".
    const unsigned flags = raw->family == AF_INET6 ? static_cast<unsigned>(UV_UDP_IPV6ONLY) : 0u;
    rc = uv_udp_bind(&raw->handle, reinterpret_cast<const sockaddr*>(&ss), flags);
    if (rc != 0) return "udp.listen " + text + ": " + uv_strerror(rc);

    if (options.receive_buffer_bytes > 0) {
      const int wanted =
          static_cast<int>(std::min<std::size_t>(options.receive_buffer_bytes, 1u << 30));
      uv_os_fd_t fd{};
      // SO_RCVBUFFORCE passes the rmem_max cap when we may (CAP_NET_ADMIN); else the normal way.
      if (uv_fileno(reinterpret_cast<uv_handle_t*>(&raw->handle), &fd) != 0 ||
          setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &wanted, sizeof wanted) != 0) {
        int value = wanted;
        uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&raw->handle), &value);
      }
      int granted = 0;
      uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&raw->handle), &granted);
      // Linux reports twice what it books for payload.
      log(granted < wanted ? LogLevel::Warn : LogLevel::Info,
          "udp " + text + ": receive buffer " + std::to_string(granted) + " bytes (asked " +
              std::to_string(wanted) + ")");
    }
    if (raw->family == AF_INET && !options.advertise_to.empty())
      uv_udp_set_broadcast(&raw->handle, 1);
    rc = uv_udp_recv_start(&raw->handle, &UdpTransport::on_alloc, &UdpTransport::on_recv);
    if (rc != 0) return "udp.listen " + text + ": " + uv_strerror(rc);
  }
  return {};
}

void UdpTransport::close() {
  for (auto& s : sockets_) {
    if (!s->open) continue;
    s->open = false;
    uv_udp_recv_stop(&s->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->handle), &UdpTransport::on_closed);
  }
}

void UdpTransport::on_closed(uv_handle_t* h) {
  auto* s = static_cast<Socket*>(h->data);
  --s->owner->open_handles_;
}

void UdpTransport::on_alloc(uv_handle_t* h, std::size_t /*suggested*/, uv_buf_t* buf) {
  auto* s = static_cast<Socket*>(h->data);
  *buf = uv_buf_init(reinterpret_cast<char*>(s->buffer.data()),
                     static_cast<unsigned>(s->buffer.size()));
}

void UdpTransport::on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                           unsigned flags) {
  auto* s = static_cast<Socket*>(h->data);
  UdpTransport& self = *s->owner;
  if (nread < 0) {
    ++self.counters_.receive_errors;
    return;
  }
  if (addr == nullptr) return;  // nothing more to read (or the end of a recvmmsg batch)
  if ((flags & UV_UDP_PARTIAL) != 0) {
    ++self.counters_.truncated;
    return;
  }
  ++self.counters_.received;
  if (!self.on_receive_) return;
  const PeerAddress peer = from_sockaddr(addr, s->index);
  self.on_receive_(peer,
                   std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(buf->base),
                                                 static_cast<std::size_t>(nread)));
}

UdpTransport::Socket* UdpTransport::socket_for(const PeerAddress& to) {
  const int family = family_of(to);
  if (to.endpoint < sockets_.size()) {
    Socket* s = sockets_[to.endpoint].get();
    if (s->open && s->family == family) return s;
  }
  for (auto& s : sockets_)
    if (s->open && s->family == family) return s.get();
  return nullptr;
}

void UdpTransport::on_sent(uv_udp_send_t* req, int status) {
  std::unique_ptr<SendRequest> owned(static_cast<SendRequest*>(req->data));
  if (status != 0) ++owned->counters->send_errors;
}

void UdpTransport::send(const PeerAddress& to, std::span<const std::uint8_t> bytes) {
  Socket* s = to.kind == Kind::Udp ? socket_for(to) : nullptr;
  if (s == nullptr || bytes.size() > kMaxDatagram) {
    ++counters_.send_errors;
    return;
  }
  sockaddr_storage ss{};
  std::memcpy(&ss, to.raw.data(), std::min<std::size_t>(to.size, sizeof ss));
  const auto* sa = reinterpret_cast<const sockaddr*>(&ss);
  // uv_buf_t wants a mutable pointer; libuv only reads it.
  uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())),
                             static_cast<unsigned>(bytes.size()));
  int rc = uv_udp_try_send(&s->handle, &buf, 1, sa);
  if (rc >= 0) {
    ++counters_.sent;
    return;
  }
  if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
    ++counters_.send_errors;
    return;
  }
  // The socket is busy (or sends are queued): queue an owned copy.
  auto req = std::make_unique<SendRequest>();
  req->data.assign(bytes.begin(), bytes.end());
  req->counters = &counters_;
  req->req.data = req.get();
  buf = uv_buf_init(reinterpret_cast<char*>(req->data.data()),
                    static_cast<unsigned>(req->data.size()));
  rc = uv_udp_send(&req->req, &s->handle, &buf, 1, sa, &UdpTransport::on_sent);
  if (rc != 0) {
    ++counters_.send_errors;
    return;
  }
  ++counters_.sent;
  static_cast<void>(req.release());  // on_sent takes it back
}

void UdpTransport::broadcast(std::span<const std::uint8_t> bytes) {
  for (const auto& to : advertise_to_) send(to, bytes);
}

std::vector<std::string> UdpTransport::local_addresses() const {
  std::vector<std::string> out;
  for (const auto& s : sockets_) {
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (!s->open || uv_udp_getsockname(&s->handle, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      out.emplace_back();
      continue;
    }
    const auto text = to_string(from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), s->index));
    out.push_back(text.substr(4));  // without "udp:"
  }
  return out;
}

}  // namespace transport
