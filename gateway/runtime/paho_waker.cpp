#include "gateway/runtime/paho_waker.hpp"

#include <mqtt/async_client.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <optional>
#include <random>
#include <utility>

namespace gw {

namespace {

// Connections that have not sent our CONNECT yet; a newer one pushes out the oldest, so a local
// process holding connections open cannot keep the waker out.
constexpr std::size_t kMaxConns = 4;
constexpr std::size_t kMaxConnectBytes = 512;
const std::array<char, 4> kConnack = {0x20, 0x02, 0x00, 0x00};  // MQTT 3.1.1, accepted
const std::array<char, 2> kPingresp = {static_cast<char>(0xd0), 0x00};

std::string random_client_id() {
  std::random_device rd;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%08x%08x", rd(), rd());
  return std::string("mqttsn-gw-waker-") + hex;
}

// The ClientId of a complete MQTT 3.1.1 CONNECT at the start of `in`; nullopt while incomplete,
// "" if it is not one.
std::optional<std::string> connect_client_id(const std::vector<std::uint8_t>& in) {
  if (in.empty()) return std::nullopt;
  if (in[0] != 0x10) return std::string();
  std::size_t length = 0, pos = 1;
  for (int shift = 0;; shift += 7) {
    if (pos >= in.size()) return std::nullopt;
    if (shift > 21) return std::string();
    length |= static_cast<std::size_t>(in[pos] & 0x7f) << shift;
    if ((in[pos++] & 0x80) == 0) break;
  }
  if (in.size() < pos + length) return std::nullopt;
  const std::size_t end = pos + length;
  auto u16 = [&](std::size_t at) { return static_cast<std::size_t>(in[at] << 8 | in[at + 1]); };
  if (pos + 2 > end) return std::string();
  pos += 2 + u16(pos) + 4;  // protocol name, level, flags, keep alive
  if (pos + 2 > end) return std::string();
  const std::size_t id_len = u16(pos);
  pos += 2;
  if (pos + id_len > end) return std::string();
  return std::string(in.begin() + static_cast<std::ptrdiff_t>(pos),
                     in.begin() + static_cast<std::ptrdiff_t>(pos + id_len));
}

template <class T>
uv_handle_t* as_handle(T* h) {
  return reinterpret_cast<uv_handle_t*>(h);  // libuv's handle "base class"
}
template <class T>
uv_stream_t* as_stream(T* h) {
  return reinterpret_cast<uv_stream_t*>(h);
}

// Hands `owned` (a struct whose first member is the handle) to uv_close; freed in its callback.
template <class T>
void close_owned(std::unique_ptr<T> owned, const std::shared_ptr<CloseGroup>& group) {
  T* raw = owned.release();
  raw->closed = group ? CloseGroup::hold(group) : std::function<void()>();
  uv_close(as_handle(&raw->tcp), [](uv_handle_t* h) {
    std::unique_ptr<T> self(static_cast<T*>(h->data));
    if (self->closed) self->closed();
  });
}

}  // namespace

struct PahoWaker::Server {
  uv_tcp_t tcp{};
  std::function<void()> closed;
};

struct PahoWaker::Conn {
  uv_tcp_t tcp{};
  std::function<void()> closed;
  PahoWaker* owner = nullptr;
  std::array<char, 256> buf{};
  std::vector<std::uint8_t> in;
};

PahoWaker::PahoWaker(uv_loop_t* loop) : loop_(loop), client_id_(random_client_id()) {}

PahoWaker::~PahoWaker() {
  close({});
}

Status PahoWaker::start() {
  server_ = std::make_unique<Server>();
  uv_tcp_init(loop_, &server_->tcp);
  server_->tcp.data = server_.get();
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", 0, &addr);
  int rc = uv_tcp_bind(&server_->tcp, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) {
    server_->tcp.data = this;
    rc = uv_listen(as_stream(&server_->tcp), static_cast<int>(kMaxConns), &on_connection);
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  if (rc == 0) rc = uv_tcp_getsockname(&server_->tcp, reinterpret_cast<sockaddr*>(&bound), &len);
  if (rc != 0) {
    server_->tcp.data = server_.get();
    close_owned(std::move(server_), {});
    return Error{std::string("loopback listener: ") + uv_strerror(rc)};
  }
  const int port = ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  try {
    client_ = std::make_unique<mqtt::async_client>(
        "tcp://127.0.0.1:" + std::to_string(port), client_id_,
        mqtt::create_options(MQTTVERSION_3_1_1), static_cast<mqtt::iclient_persistence*>(nullptr));
    mqtt::connect_options opts;
    opts.set_keep_alive_interval(0);  // nothing but our PINGRESPs ever crosses the connection
    opts.set_clean_session(true);
    opts.set_connect_timeout(5);
    opts.set_automatic_reconnect(1, 5);
    client_->connect(opts);
  } catch (const std::exception& e) {
    client_.reset();
    return Error{std::string("waker client: ") + e.what()};
  }
  return {};
}

void PahoWaker::wake() {
  if (peer_ == nullptr) return;
  uv_buf_t b =
      uv_buf_init(const_cast<char*>(kPingresp.data()), static_cast<unsigned>(kPingresp.size()));
  // EAGAIN: the socket is full of wake-ups Paho has not read yet; one more adds nothing.
  static_cast<void>(uv_try_write(as_stream(&peer_->tcp), &b, 1));
}

void PahoWaker::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<PahoWaker*>(server->data);
  if (status < 0 || !self->server_) return;
  auto conn = std::make_unique<Conn>();
  conn->owner = self;
  uv_tcp_init(self->loop_, &conn->tcp);
  conn->tcp.data = conn.get();
  if (uv_accept(server, as_stream(&conn->tcp)) != 0) {
    close_owned(std::move(conn), {});
    return;
  }
  if (self->conns_.size() >= kMaxConns) {
    auto oldest = std::find_if(self->conns_.begin(), self->conns_.end(),
                               [&](const auto& c) { return c.get() != self->peer_; });
    if (oldest != self->conns_.end()) self->drop(**oldest);
  }
  uv_read_start(
      as_stream(&conn->tcp),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* c = static_cast<Conn*>(h->data);
        *buf = uv_buf_init(c->buf.data(), static_cast<unsigned>(c->buf.size()));
      },
      &on_read);
  self->conns_.push_back(std::move(conn));
}

void PahoWaker::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(stream->data);
  if (nread < 0) {
    c->owner->drop(*c);
    return;
  }
  if (c == c->owner->peer_) return;  // after its CONNECT: nothing is expected, nothing kept
  c->in.insert(c->in.end(), buf->base, buf->base + nread);
  c->owner->received(*c);
}

void PahoWaker::received(Conn& c) {
  const auto id = connect_client_id(c.in);
  if (!id) {
    if (c.in.size() > kMaxConnectBytes) drop(c);
    return;
  }
  if (*id != client_id_) {
    drop(c);
    return;
  }
  uv_buf_t b =
      uv_buf_init(const_cast<char*>(kConnack.data()), static_cast<unsigned>(kConnack.size()));
  if (uv_try_write(as_stream(&c.tcp), &b, 1) != static_cast<int>(kConnack.size())) {
    drop(c);
    return;
  }
  c.in.clear();
  if (peer_ != nullptr) drop(*peer_);  // a reconnect of the waker: the new connection counts
  peer_ = &c;
}

void PahoWaker::drop(Conn& c, const std::shared_ptr<CloseGroup>& group) {
  if (peer_ == &c) peer_ = nullptr;
  auto it =
      std::find_if(conns_.begin(), conns_.end(), [&](const auto& p) { return p.get() == &c; });
  if (it == conns_.end()) return;
  std::unique_ptr<Conn> owned = std::move(*it);
  conns_.erase(it);
  close_owned(std::move(owned), group);
}

void PahoWaker::close(const std::shared_ptr<CloseGroup>& group) {
  client_.reset();  // MQTTAsync_destroy, on this thread
  while (!conns_.empty()) drop(*conns_.front(), group);
  if (server_) {
    server_->tcp.data = server_.get();
    close_owned(std::move(server_), group);
  }
}

}  // namespace gw
