// Ends the wait of Paho C's receive thread without broker traffic. That thread polls the sockets
// it had when its wait began, for up to 1 s, and only takes up a socket opened since (a new
// upstream connection: its CONNECT, then its CONNACK) when that wait ends. The waker is one more
// Paho client, connected to a listener of the gateway's own on 127.0.0.1; wake() writes an MQTT
// PINGRESP (2 bytes, which Paho takes and ignores) on that connection, so the wait ends at once.
// docs/design.md "Threads and the one mailbox" has the reading of Paho's source. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gateway/core/result.hpp"
#include "gateway/runtime/uv_handle.hpp"

namespace mqtt {
class async_client;
}

namespace gw {

class PahoWaker {
 public:
  explicit PahoWaker(uv_loop_t* loop);
  ~PahoWaker();
  PahoWaker(const PahoWaker&) = delete;
  PahoWaker& operator=(const PahoWaker&) = delete;

  // Listens on 127.0.0.1 (a free port) and starts connecting the waker's Paho client to it. An
  // error if either fails: upstream connects then take up to 2 s longer, nothing else changes.
  Status start();
  // Wakes Paho's receive thread; nothing until the waker's client is connected.
  void wake();
  // The waker's client is connected (its CONNECT was read and answered).
  bool ready() const noexcept { return peer_ != nullptr; }
  // Destroys the Paho client and closes the handles (each counted in `group` if given).
  void close(const std::shared_ptr<CloseGroup>& group);

 private:
  struct Conn;
  static void on_connection(uv_stream_t* server, int status);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void received(Conn& c);
  void drop(Conn& c, const std::shared_ptr<CloseGroup>& group = {});

  uv_loop_t* loop_;
  std::string client_id_;  // random: only our own client is taken as the waker
  struct Server;
  std::unique_ptr<Server> server_;
  std::vector<std::unique_ptr<Conn>> conns_;  // accepted, newest last
  Conn* peer_ = nullptr;                      // the waker client's connection, one of conns_
  std::unique_ptr<mqtt::async_client> client_;
};

}  // namespace gw
