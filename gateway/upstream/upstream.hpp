// One upstream MQTT session (Paho async_client) for one sensor, or the shared gateway session.
// Every Paho callback is turned into a MailboxEvent tagged with the session id and posted; nothing
// here ever waits on a Paho token, so all methods return at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "gateway/core/result.hpp"
#include "gateway/core/session_types.hpp"
#include "gateway/upstream/mailbox.hpp"
#include "gateway/upstream/upstream_options.hpp"

namespace mqtt {
class async_client;
class iasync_client;
class token;
}  // namespace mqtt

namespace gw {

struct UpstreamOptions {
  std::string uri = "tcp://127.0.0.1:1883";
  std::chrono::milliseconds connect_timeout{4000};
  // No Paho automatic reconnect: the runtime reconnects (docs/design.md "Connect storms and
  // broker outages"): the gateway client probes every reconnect_min while the broker is down; a
  // sensor's upstream dropped while the broker is up backs off from reconnect_min to _max.
  std::chrono::milliseconds reconnect_min{250};
  std::chrono::milliseconds reconnect_max{30000};
  std::size_t max_connects_in_flight = 256;  // sensors' connects under way at once; 0: no limit
  UpstreamSecurity security;                 // credentials, TLS, MQTT version, ClientId prefix
};

// A sensor session's upstream MQTT session as the runtime drives it. Transparent mode: an
// UpstreamClient (its own connection); aggregating mode: a handle on the one shared connection
// (gateway/upstream/aggregator.hpp). Results come back as MailboxEvents with the session's id,
// never as calls into the session.
class Upstream {
 public:
  Upstream() noexcept;
  virtual ~Upstream() = default;
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;
  // Names this client in its UpstreamClosed event: unique in the process, never 0.
  std::uint64_t serial() const noexcept { return serial_; }
  // Posts UpstreamConnected (with session_present) or UpstreamConnectFailed. Later drops post
  // UpstreamLost; the runtime then calls retry().
  virtual void connect(bool clean_session, std::uint16_t keep_alive_s,
                       const std::optional<Will>& will) = 0;
  // The will changed (MQTT sets it only at connect); posts UpstreamConnected when done.
  virtual void reconnect(const std::optional<Will>& will) = 0;
  // Same, with new connect parameters too (a CONNECT on a session that already has one).
  virtual void restart(bool clean_session, std::uint16_t keep_alive_s,
                       const std::optional<Will>& will) = 0;
  // token 0: QoS 0, no completion event. Failures post UpstreamPublishFailed.
  virtual void publish(std::uint32_t token, const std::string& topic, const Bytes& payload, int qos,
                       bool retain) = 0;
  virtual void subscribe(std::uint32_t token, const std::string& filter, int qos) = 0;
  virtual void unsubscribe(std::uint32_t token, const std::string& filter) = 0;
  // Clean end (no will); posts UpstreamClosed when done (also when not connected).
  virtual void disconnect(std::chrono::milliseconds timeout) = 0;
  // The runtime got UpstreamClosed for it. Returns true if it reconnects (keep it), false if it
  // may be destroyed (at once: see UpstreamClient).
  virtual bool after_closed() = 0;
  virtual bool connected() const noexcept = 0;
  // After UpstreamLost or UpstreamConnectFailed: connect again with the same parameters; posts
  // UpstreamConnected or UpstreamConnectFailed. (The aggregator's handles never need it.)
  virtual void retry() {}

 private:
  std::uint64_t serial_;
};

// Lifetime: a Paho client may be destroyed on the loop thread at any time, also while one of its
// callbacks still runs on a Paho thread: Paho C calls every callback with its global mutex held and
// MQTTAsync_destroy takes that mutex, so the destructor waits until the callback and what Paho C++
// does after it (token::on_success -> async_client::remove_token) have returned. Operations still
// open then (a QoS 1/2 publish of a persistent session) fail inside the destructor, on the loop
// thread. So a client is destroyed as soon as the event of its last operation (UpstreamClosed:
// disconnect completed) is handled, never on a timer (docs/design.md).
//
// Paho C's failed write: when the connection breaks while Paho writes a QoS 1/2 PUBLISH, Paho C
// (Debian 12 ships 1.3.11) frees the message's topic and payload; in a kept session it also keeps
// the message in its list for resending. Connecting that client again sends the freed memory (the
// broker drops the connection as malformed, at every reconnect); destroying it, or a clean
// session, frees the memory a second time. Such a client is set aside for good and a new one
// made (set_aside(), renew_client(); docs/design.md "Paho C's failed write").
class UpstreamClient final : public Upstream {
 public:
  // An error if Paho refuses the URI or ClientId.
  static Result<std::unique_ptr<Upstream>> create(const UpstreamOptions& options,
                                                  const std::string& client_id,
                                                  std::uint64_t session_id, Mailbox& mailbox);
  struct Private {};  // only create() constructs
  UpstreamClient(Private, const UpstreamOptions& options, std::string client_id,
                 std::uint64_t session_id, Mailbox& mailbox);
  ~UpstreamClient() override;
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  // Posts UpstreamConnected (with session_present) or UpstreamConnectFailed. Later drops post
  // UpstreamLost; retry() connects again.
  void connect(bool clean_session, std::uint16_t keep_alive_s,
               const std::optional<Will>& will) override;
  // MQTT sets the will only at connect: disconnect cleanly, then connect again with `will`
  // (when the runtime hands back the UpstreamClosed event through after_closed()).
  void reconnect(const std::optional<Will>& will) override;
  // Same, with new connect parameters too (a CONNECT on a session that already has a client).
  void restart(bool clean_session, std::uint16_t keep_alive_s,
               const std::optional<Will>& will) override;
  // token 0: QoS 0, no completion event. Failures post UpstreamPublishFailed.
  void publish(std::uint32_t token, const std::string& topic, const Bytes& payload, int qos,
               bool retain) override;
  void subscribe(std::uint32_t token, const std::string& filter, int qos) override;
  void unsubscribe(std::uint32_t token, const std::string& filter) override;
  // Clean MQTT DISCONNECT; posts UpstreamClosed when done (also when not connected).
  void disconnect(std::chrono::milliseconds timeout) override;
  // The runtime got UpstreamClosed for this client. Returns true if it reconnects (keep it),
  // false if it may be destroyed.
  bool after_closed() override;

  bool connected() const noexcept override;
  void retry() override;
  std::uint64_t session_id() const noexcept { return session_id_; }
  const std::string& client_id() const noexcept { return client_id_; }
  // Paho clients made by UpstreamClient and not destroyed yet, in the whole process (not
  // counting the ones set aside).
  static std::size_t paho_clients() noexcept;
  // Paho clients set aside after a failed write of a QoS 1/2 PUBLISH, in the whole process.
  static std::size_t set_aside_clients() noexcept;

 private:
  class Listener;
  void post(UpstreamEvent event);
  void post_closed();
  void start_connect();
  void make_client();
  static void destroy(std::unique_ptr<mqtt::async_client> client) noexcept;
  void set_aside(std::unique_ptr<mqtt::async_client> client,
                 std::unique_ptr<Listener> connect_listener,
                 std::unique_ptr<Listener> action_listener,
                 std::unique_ptr<Listener> disconnect_listener) noexcept;
  // A new Paho client in place of the current one; false (UpstreamConnectFailed posted) if Paho
  // refuses to make one.
  bool renew_client();
  // Paho thread, the connect listener: the CONNECT ended; true if a disconnect was waiting for
  // it (now sent; the outcome is not reported).
  bool connect_ended(const mqtt::token& tok, bool connected);
  void disconnect_now(mqtt::iasync_client& client, bool connected,
                      std::chrono::milliseconds timeout);

  UpstreamOptions options_;
  std::string client_id_;
  std::uint64_t session_id_;
  Mailbox& mailbox_;
  bool clean_session_ = true;
  std::uint16_t keep_alive_s_ = 0;
  std::optional<Will> will_;
  bool reconnect_pending_ = false;
  bool disconnecting_ = false;
  // Set by connection-lost: the next "connected" callback is an automatic reconnect.
  std::atomic<bool> lost_{false};
  // Whether UpstreamConnected was posted for the current connection.
  std::atomic<bool> up_{false};
  // Set by the action listener when Paho failed to write a QoS 1/2 PUBLISH of a kept session:
  // this Paho client holds a message whose memory Paho freed (see the class comment).
  std::atomic<bool> poisoned_{false};
  // The current connection keeps its session (Paho keeps its messages in flight when it breaks;
  // with a clean session it drops them, and the client stays usable).
  std::atomic<bool> kept_session_{false};
  // The next connection is a new Paho client's: the old one's operations in flight are lost.
  std::atomic<bool> in_flight_lost_{false};
  // Between the loop (disconnect()) and the connect listener (connect_ended()).
  std::mutex close_mutex_;
  bool connecting_ = false;                                       // a CONNECT is under way
  std::optional<std::chrono::milliseconds> close_after_connect_;  // disconnect when it ends
  // Declared before the client: Paho holds references to them until the client is destroyed.
  std::unique_ptr<Listener> connect_listener_;
  std::unique_ptr<Listener> action_listener_;
  std::unique_ptr<Listener> disconnect_listener_;
  std::unique_ptr<mqtt::async_client> client_;
};

// Makes the upstream clients that have a connection of their own: the shared gateway client
// (session id 0) and, in transparent mode, each sensor's. The runtime gets one passed in, so its
// routing can be unit-tested with a fake (tests/routing); the gateway uses Paho's.
class UpstreamFactory {
 public:
  virtual ~UpstreamFactory() = default;
  virtual Result<std::unique_ptr<Upstream>> create(const std::string& client_id,
                                                   std::uint64_t session_id, Mailbox& mailbox) = 0;
  // Its clients are Paho's: the runtime wakes Paho's receive thread for their connects.
  virtual bool paho() const noexcept { return false; }
};

class PahoUpstreamFactory final : public UpstreamFactory {
 public:
  explicit PahoUpstreamFactory(UpstreamOptions options) : options_(std::move(options)) {}
  Result<std::unique_ptr<Upstream>> create(const std::string& client_id, std::uint64_t session_id,
                                           Mailbox& mailbox) override {
    return UpstreamClient::create(options_, client_id, session_id, mailbox);
  }
  bool paho() const noexcept override { return true; }

 private:
  UpstreamOptions options_;
};

}  // namespace gw
