// A minimal HTTP/1.1 endpoint on the libuv loop for Prometheus scrapes: GET/HEAD /metrics,
// one request per connection, then close. Requests are parsed by http-parser (libhttp-parser).
// A slow or hostile client cannot block the loop or grow memory: the open connections, the bytes
// of a request and the time to send it and to take the answer are all capped; when the
// connections are all taken, the oldest one still sending its request makes room for the new one.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

namespace gw::metrics {

struct HttpLimits {
  std::size_t max_connections = 16;
  std::size_t max_request_bytes = 8192;               // request line, headers and body together
  std::chrono::milliseconds request_timeout{5000};    // accept -> complete request
  std::chrono::milliseconds response_timeout{10000};  // answer queued -> taken by the client
};

struct HttpCounters {
  std::uint64_t requests = 0;  // answered with 200
  std::uint64_t rejected = 0;  // 400/404/405/413 answers
  std::uint64_t timeouts = 0;  // closed for being too slow
  std::uint64_t evicted = 0;   // closed to make room for a new connection
};

class HttpServer {
 public:
  using BodyFn = std::function<std::string()>;

  HttpServer(uv_loop_t* loop, BodyFn body, HttpLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Listens on "1.2.3.4:port" or "[v6]:port". Returns an error text, empty on success.
  std::string start(const std::string& listen);
  // Closes the listener and every connection; their handles are closed on the loop.
  void close();
  bool closed() const noexcept { return open_handles_ == 0; }
  const HttpCounters& counters() const noexcept { return counters_; }
  // The bound port (useful with port 0).
  int port() const;

  struct Connection;

 private:
  static void on_connection(uv_stream_t* server, int status);
  void accept();
  bool make_room();
  void finish(Connection& c, int status, std::string_view reason);
  void drop(Connection& c);
  void handle_closed(uv_handle_t* h);

  uv_loop_t* loop_;
  BodyFn body_;
  HttpLimits limits_;
  uv_tcp_t listener_{};
  bool listening_ = false;
  std::size_t open_handles_ = 0;
  std::uint64_t next_serial_ = 0;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  HttpCounters counters_;

  friend struct ConnectionOps;
};

}  // namespace gw::metrics
