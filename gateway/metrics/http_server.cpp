#include "gateway/metrics/http_server.hpp"

#include <http_parser.h>

#include <cstring>
#include <string_view>

#include "gateway/metrics/exposition.hpp"
#include "transports/udp/udp_transport.hpp"

namespace gw::metrics {

struct HttpServer::Connection {
  HttpServer* server = nullptr;
  std::uint64_t serial = 0;
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  uv_write_t write_req{};
  http_parser parser{};
  std::string url;
  std::size_t received = 0;
  bool complete = false;  // the whole request has been parsed
  bool answered = false;  // the answer is queued: no more reading
  bool closing = false;
  int handles = 0;  // of tcp and timer, still open
  std::string response;
  char buffer[1024];  // the one read buffer (a request is at most max_request_bytes anyway)
};

// libuv and http-parser callbacks, with access to the server's private parts.
struct ConnectionOps {
  using Connection = HttpServer::Connection;

  static Connection& of(const void* data) {
    return *static_cast<Connection*>(const_cast<void*>(data));
  }

  static int on_url(http_parser* p, const char* at, std::size_t n) {
    of(p->data).url.append(at, n);  // bounded by max_request_bytes
    return 0;
  }

  static int on_message_complete(http_parser* p) {
    of(p->data).complete = true;
    http_parser_pause(p, 1);  // one request per connection: ignore what follows
    return 0;
  }

  static const http_parser_settings& settings() {
    static const http_parser_settings s = [] {
      http_parser_settings v;
      http_parser_settings_init(&v);
      v.on_url = on_url;
      v.on_message_complete = on_message_complete;
      return v;
    }();
    return s;
  }

  static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    Connection& c = of(h->data);
    *buf = uv_buf_init(c.buffer, sizeof c.buffer);
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    Connection& c = of(s->data);
    HttpServer& server = *c.server;
    if (nread < 0) {  // EOF or error before the answer: nobody to answer
      server.drop(c);
      return;
    }
    if (nread == 0 || c.answered) return;
    const auto n = static_cast<std::size_t>(nread);
    c.received += n;
    if (c.received > server.limits_.max_request_bytes) {
      server.finish(c, 413, "Content Too Large");
      return;
    }
    http_parser_execute(&c.parser, &settings(), buf->base, n);
    if (c.complete) {
      respond(c);
    } else if (HTTP_PARSER_ERRNO(&c.parser) != HPE_OK) {
      server.finish(c, 400, "Bad Request");
    }
  }

  static void respond(Connection& c) {
    HttpServer& server = *c.server;
    const auto method = static_cast<http_method>(c.parser.method);
    if (method != HTTP_GET && method != HTTP_HEAD) {
      server.finish(c, 405, "Method Not Allowed");
      return;
    }
    http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(c.url.data(), c.url.size(), 0, &u) != 0 ||
        (u.field_set & (1u << UF_PATH)) == 0) {
      server.finish(c, 400, "Bad Request");
      return;
    }
    const std::string_view path(c.url.data() + u.field_data[UF_PATH].off,
                                u.field_data[UF_PATH].len);
    if (path != "/metrics") {
      server.finish(c, 404, "Not Found");
      return;
    }
    server.finish(c, 200, "OK");
  }

  static void on_timeout(uv_timer_t* t) {
    Connection& c = of(t->data);
    ++c.server->counters_.timeouts;
    c.server->drop(c);
  }

  static void on_written(uv_write_t* w, int) {
    Connection& c = of(w->data);
    c.server->drop(c);  // the answer is in the kernel's hands (or the client is gone)
  }

  static void on_closed(uv_handle_t* h) {
    Connection& c = of(h->data);
    c.server->handle_closed(h);
  }
};

HttpServer::HttpServer(uv_loop_t* loop, BodyFn body, HttpLimits limits)
    : loop_(loop), body_(std::move(body)), limits_(limits) {}

HttpServer::~HttpServer() = default;

std::string HttpServer::start(const std::string& listen) {
  const auto addr = transport::parse_udp_address(listen);
  if (!addr) return "metrics.listen: bad address \"" + listen + "\"";
  sockaddr_storage sa{};
  std::memcpy(&sa, addr->raw.data(), std::min<std::size_t>(addr->size, sizeof sa));
  uv_tcp_init(loop_, &listener_);
  listener_.data = this;
  ++open_handles_;
  listening_ = true;
  int rc = uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&sa), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 64, on_connection);
  if (rc != 0) {
    close();
    return "metrics.listen " + listen + ": " + uv_strerror(rc);
  }
  return {};
}

int HttpServer::port() const {
  sockaddr_storage sa{};
  int len = sizeof sa;
  if (uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return 0;
  if (sa.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&sa)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&sa)->sin_port);
}

void HttpServer::on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  static_cast<HttpServer*>(server->data)->accept();
}

bool HttpServer::make_room() {
  std::size_t open = 0;
  Connection* oldest = nullptr;
  for (auto& [p, c] : connections_) {
    if (c->closing) continue;
    ++open;
    if (!c->answered && (oldest == nullptr || c->serial < oldest->serial)) oldest = p;
  }
  if (open < limits_.max_connections) return true;
  if (oldest == nullptr) return false;  // all busy taking their answers: refuse the new one
  ++counters_.evicted;
  drop(*oldest);
  return true;
}

void HttpServer::accept() {
  const bool room = make_room();
  auto owned = std::make_unique<Connection>();
  Connection& c = *owned;
  c.server = this;
  c.serial = next_serial_++;
  uv_tcp_init(loop_, &c.tcp);
  uv_timer_init(loop_, &c.timer);
  c.tcp.data = c.timer.data = c.write_req.data = &c;
  c.handles = 2;
  open_handles_ += 2;
  connections_.emplace(&c, std::move(owned));
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener_),
                reinterpret_cast<uv_stream_t*>(&c.tcp)) != 0 ||
      !room) {
    drop(c);
    return;
  }
  http_parser_init(&c.parser, HTTP_REQUEST);
  c.parser.data = &c;
  uv_timer_start(&c.timer, ConnectionOps::on_timeout,
                 static_cast<std::uint64_t>(limits_.request_timeout.count()), 0);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c.tcp), ConnectionOps::on_alloc,
                ConnectionOps::on_read);
}

void HttpServer::finish(Connection& c, int status, std::string_view reason) {
  c.answered = true;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.tcp));
  std::string body;
  std::string_view type = "text/plain; charset=utf-8";
  if (status == 200) {
    ++counters_.requests;
    body = body_();
    type = kContentType;
  } else {
    ++counters_.rejected;
    body = std::string(reason) + "\n";
  }
  const bool head = c.complete && static_cast<http_method>(c.parser.method) == HTTP_HEAD;
  c.response = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
               "\r\nContent-Type: " + std::string(type) +
               "\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\nConnection: close\r\n\r\n";
  if (!head) c.response += body;
  uv_buf_t buf = uv_buf_init(c.response.data(), static_cast<unsigned>(c.response.size()));
  uv_timer_start(&c.timer, ConnectionOps::on_timeout,
                 static_cast<std::uint64_t>(limits_.response_timeout.count()), 0);
  if (uv_write(&c.write_req, reinterpret_cast<uv_stream_t*>(&c.tcp), &buf, 1,
               ConnectionOps::on_written) != 0)
    drop(c);
}

void HttpServer::drop(Connection& c) {
  if (c.closing) return;
  c.closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), ConnectionOps::on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c.timer), ConnectionOps::on_closed);
}

void HttpServer::handle_closed(uv_handle_t* h) {
  --open_handles_;
  Connection& c = ConnectionOps::of(h->data);
  if (--c.handles == 0) connections_.erase(&c);
}

void HttpServer::close() {
  if (listening_) {
    listening_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_),
             [](uv_handle_t* h) { --static_cast<HttpServer*>(h->data)->open_handles_; });
  }
  for (auto& [p, c] : connections_) drop(*c);
}

}  // namespace gw::metrics
