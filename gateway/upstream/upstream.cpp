#include "gateway/upstream/upstream.hpp"

#include <mqtt/async_client.h>

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <mutex>
#include <utility>

namespace gw {

namespace {
std::atomic<std::uint64_t> next_serial{1};
std::atomic<std::size_t> live_paho_clients{0};
std::atomic<std::size_t> set_aside_paho_clients{0};
void* to_context(std::uint32_t token) {
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(token));
}
std::uint32_t from_context(void* context) {
  return static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(context));
}
// The broker's refusal in a failed PUBLISH/SUBSCRIBE token, 0 if it is not one (a local failure:
// not connected, connection dropped; Paho then puts its negative error code into the reason
// code too). MQTT 5: a reason code the broker sent (0x80-0xA2) with no local error; MQTT 3.1.1:
// only SUBACK 0x80 (Paho's MQTT_BAD_SUBSCRIBE return code).
int refusal_code(const mqtt::token& tok, int mqtt_version) {
  const int rc = tok.get_return_code();
  const int reason = static_cast<int>(tok.get_reason_code());
  if (mqtt_version == 5 && (rc == 0 || rc == 0x80) && reason >= 0x80 && reason <= 0xa2)
    return reason;
  if (rc == 0x80 && tok.get_type() == mqtt::token::Type::SUBSCRIBE) return 0x80;
  return 0;
}
int connect_timeout_s(std::chrono::milliseconds ms) {
  return static_cast<int>(std::max<std::int64_t>(1, (ms.count() + 999) / 1000));
}
}  // namespace

// Turns Paho completions into events. Runs on Paho's threads: only reads the token and posts.
class UpstreamClient::Listener final : public mqtt::iaction_listener {
 public:
  explicit Listener(UpstreamClient& owner) : owner_ptr_(&owner) {}
  // Its client was set aside (UpstreamClient::set_aside): whatever it still reports is dropped.
  void detach() noexcept { owner_ptr_.store(nullptr); }

  void on_success(const mqtt::token& tok) override {
    UpstreamClient* owner = owner_ptr_.load();
    if (owner == nullptr) return;
    UpstreamClient& owner_ = *owner;
    const std::uint32_t token = from_context(tok.get_user_context());
    switch (tok.get_type()) {
      case mqtt::token::Type::CONNECT: {
        bool present = false;
        try {
          present = tok.get_connect_response().is_session_present();
        } catch (...) {
        }
        // A disconnect asked for meanwhile goes out now; the next connection reports.
        if (owner_.connect_ended(tok, true)) break;
        if (!owner_.up_.exchange(true))
          owner_.post(ev::UpstreamConnected{present, owner_.in_flight_lost_.exchange(false)});
        break;
      }
      case mqtt::token::Type::PUBLISH:
        if (token != 0) owner_.post(ev::UpstreamDelivered{token});
        break;
      case mqtt::token::Type::SUBSCRIBE: {
        int granted = 0;
        bool ok = true;
        try {
          const auto codes = tok.get_subscribe_response().get_reason_codes();
          if (!codes.empty()) {
            granted = static_cast<int>(codes.front());
            ok = granted <= 2;
          }
        } catch (...) {
        }
        owner_.post(ev::UpstreamSubscribed{token, ok, ok ? granted : 0, ok ? 0 : granted});
        break;
      }
      case mqtt::token::Type::UNSUBSCRIBE:
        owner_.post(ev::UpstreamUnsubscribed{token});
        break;
      case mqtt::token::Type::DISCONNECT:
        owner_.post_closed();
        break;
    }
  }

  void on_failure(const mqtt::token& tok) override {
    UpstreamClient* owner = owner_ptr_.load();
    if (owner == nullptr) return;
    UpstreamClient& owner_ = *owner;
    const std::uint32_t token = from_context(tok.get_user_context());
    switch (tok.get_type()) {
      case mqtt::token::Type::CONNECT:
        if (owner_.connect_ended(tok, false)) break;
        owner_.post(ev::UpstreamConnectFailed{
            describe_connect_failure(owner_.options_.security, tok.get_return_code(),
                                     static_cast<int>(tok.get_reason_code()))});
        break;
      case mqtt::token::Type::PUBLISH:
        // Paho C's write of a QoS 1/2 PUBLISH failed (the connection broke under it): Paho freed
        // the message's topic and payload but, in a kept session, kept the message for resending
        // (see the class comment in upstream.hpp). This Paho client must not be used again.
        if (tok.get_return_code() == MQTTASYNC_FAILURE && published_qos(tok) > 0 &&
            owner_.kept_session_.load())
          owner_.poisoned_.store(true);
        if (token != 0)
          owner_.post(ev::UpstreamPublishFailed{
              token, refusal_code(tok, owner_.options_.security.mqtt_version)});
        break;
      case mqtt::token::Type::SUBSCRIBE:
        owner_.post(ev::UpstreamSubscribed{
            token, false, 0, refusal_code(tok, owner_.options_.security.mqtt_version)});
        break;
      case mqtt::token::Type::UNSUBSCRIBE:
        owner_.post(ev::UpstreamUnsubscribed{token});
        break;
      case mqtt::token::Type::DISCONNECT:
        owner_.post_closed();
        break;
    }
  }

 private:
  static int published_qos(const mqtt::token& tok) {
    const auto* delivery = dynamic_cast<const mqtt::delivery_token*>(&tok);
    if (delivery == nullptr || !delivery->get_message()) return 1;  // unknown: assume the worst
    return delivery->get_message()->get_qos();
  }

  std::atomic<UpstreamClient*> owner_ptr_;
};

Upstream::Upstream() noexcept : serial_(next_serial.fetch_add(1, std::memory_order_relaxed)) {}

std::size_t UpstreamClient::paho_clients() noexcept {
  return live_paho_clients.load();
}

std::size_t UpstreamClient::set_aside_clients() noexcept {
  return set_aside_paho_clients.load();
}

Result<std::unique_ptr<Upstream>> UpstreamClient::create(const UpstreamOptions& options,
                                                         const std::string& client_id,
                                                         std::uint64_t session_id,
                                                         Mailbox& mailbox) {
  try {
    return std::unique_ptr<Upstream>(
        std::make_unique<UpstreamClient>(Private{}, options, client_id, session_id, mailbox));
  } catch (const std::exception& e) {
    return Error{e.what()};
  }
}

UpstreamClient::UpstreamClient(Private, const UpstreamOptions& options, std::string client_id,
                               std::uint64_t session_id, Mailbox& mailbox)
    : options_(options),
      client_id_(std::move(client_id)),
      session_id_(session_id),
      mailbox_(mailbox),
      connect_listener_(std::make_unique<Listener>(*this)),
      action_listener_(std::make_unique<Listener>(*this)),
      disconnect_listener_(std::make_unique<Listener>(*this)) {
  make_client();
}

void UpstreamClient::make_client() {
  // No persistence (nullptr): nothing is written to disk. The shared client has session id 0.
  client_ = std::make_unique<mqtt::async_client>(
      options_.uri, upstream_client_id(options_.security, client_id_, session_id_ == 0),
      upstream_create_options(options_.security, session_id_ == 0),
      static_cast<mqtt::iclient_persistence*>(nullptr));
  ++live_paho_clients;
  client_->set_message_callback([this](mqtt::const_message_ptr m) {
    if (!m) return;
    const auto& payload = m->get_payload();
    ev::UpstreamMessage msg;
    msg.topic = m->get_topic();
    msg.payload.assign(payload.begin(), payload.end());
    msg.qos = m->get_qos();
    msg.retained = m->is_retained();
    post(std::move(msg));
  });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    up_.store(false);
    lost_.store(true);
    post(ev::UpstreamLost{cause.empty() ? "connection lost" : cause});
  });
  // MQTT 5: the broker says why it closed the connection. Session taken over: the sensor is
  // connected through another gateway now; reconnecting a sensor session would take the
  // ClientId back from it, so the session is told and ends instead.
  client_->set_disconnected_handler([this](const mqtt::properties&, mqtt::ReasonCode reason) {
    if (reason != mqtt::ReasonCode::SESSION_TAKEN_OVER || session_id_ == 0) return;
    up_.store(false);
    lost_.store(true);
    post(ev::UpstreamLost{"session taken over by another connection", true});
  });
  // Also called after the first connect, which the connect listener reports (with
  // session_present); up_ makes sure each connection is reported once, whichever comes first.
  client_->set_connected_handler([this](const std::string&) {
    if (lost_.exchange(false) && !up_.exchange(true)) post(ev::UpstreamConnected{false});
  });
}

UpstreamClient::~UpstreamClient() {
  // Destroying the Paho client waits for a callback still running and stops them all; the
  // listeners and this object, which they use, are destroyed after it.
  if (poisoned_.load()) {
    set_aside(std::move(client_), std::move(connect_listener_), std::move(action_listener_),
              std::move(disconnect_listener_));
    return;
  }
  destroy(std::move(client_));
}

void UpstreamClient::set_aside(std::unique_ptr<mqtt::async_client> client,
                               std::unique_ptr<Listener> connect_listener,
                               std::unique_ptr<Listener> action_listener,
                               std::unique_ptr<Listener> disconnect_listener) noexcept {
  // Destroying the client would free the message Paho kept a second time, and connecting it
  // again would send that freed memory to the broker. It is kept, disconnected and silent, until
  // the process ends; a fixed table keeps it reachable (no leak report) without a destructor.
  struct SetAside {
    mqtt::async_client* client;
    Listener* listeners[3];
  };
  static std::array<SetAside, 1024> kept{};
  if (client) client->disable_callbacks();
  for (auto* l : {connect_listener.get(), action_listener.get(), disconnect_listener.get()})
    if (l != nullptr) l->detach();
  const std::size_t n = set_aside_paho_clients.fetch_add(1);
  SetAside entry{
      client.release(),
      {connect_listener.release(), action_listener.release(), disconnect_listener.release()}};
  if (n < kept.size()) kept[n] = entry;
  --live_paho_clients;
  spdlog::warn(
      "upstream client {}: a QoS 1/2 PUBLISH failed while Paho wrote it (connection broken); that "
      "Paho client is set aside, not reused or destroyed ({} so far, docs/design.md \"Paho C's "
      "failed write\")",
      client_id_, n + 1);
}

bool UpstreamClient::renew_client() {
  // The old Paho client is destroyed, or set aside when poisoned: then it keeps its listeners
  // (Paho holds references to them) and what was in flight on it is reported lost with the next
  // connection (UpstreamConnected::in_flight_lost).
  const bool poisoned = poisoned_.load();
  auto old_client = std::move(client_);
  std::unique_ptr<Listener> old_connect, old_action, old_disconnect;
  if (poisoned) {
    old_connect = std::exchange(connect_listener_, std::make_unique<Listener>(*this));
    old_action = std::exchange(action_listener_, std::make_unique<Listener>(*this));
    old_disconnect = std::exchange(disconnect_listener_, std::make_unique<Listener>(*this));
  }
  try {
    make_client();
  } catch (const std::exception& e) {
    client_ = std::move(old_client);
    if (poisoned) {
      connect_listener_ = std::move(old_connect);
      action_listener_ = std::move(old_action);
      disconnect_listener_ = std::move(old_disconnect);
    }
    post(ev::UpstreamConnectFailed{e.what()});
    return false;
  }
  if (!poisoned) {
    destroy(std::move(old_client));
    return true;
  }
  poisoned_.store(false);
  in_flight_lost_.store(true);
  set_aside(std::move(old_client), std::move(old_connect), std::move(old_action),
            std::move(old_disconnect));
  return true;
}

void UpstreamClient::destroy(std::unique_ptr<mqtt::async_client> client) noexcept {
  if (!client) return;
  client.reset();  // MQTTAsync_destroy: waits for Paho's mutex (see the class comment)
  --live_paho_clients;
}

void UpstreamClient::post(UpstreamEvent event) {
  mailbox_.post(MailboxEvent{session_id_, std::move(event)});
}

void UpstreamClient::post_closed() {
  mailbox_.post(MailboxEvent{session_id_, UpstreamClosed{serial()}});
}

void UpstreamClient::connect(bool clean_session, std::uint16_t keep_alive_s,
                             const std::optional<Will>& will) {
  clean_session_ = clean_session;
  keep_alive_s_ = keep_alive_s;
  will_ = will;
  start_connect();
}

void UpstreamClient::start_connect() {
  if (poisoned_.load() && !renew_client()) return;
  kept_session_.store(!clean_session_);
  up_.store(false);
  lost_.store(false);
  mqtt::connect_options opts;
  opts.set_keep_alive_interval(static_cast<int>(keep_alive_s_));
  opts.set_connect_timeout(connect_timeout_s(options_.connect_timeout));
  apply_security(opts, options_.security, client_id_, session_id_ == 0, clean_session_);
  if (will_) {
    mqtt::will_options w(will_->topic, will_->payload.data(), will_->payload.size(), will_->qos,
                         will_->retain);
    opts.set_will(std::move(w));
  }
  {
    std::lock_guard lock(close_mutex_);
    connecting_ = true;
  }
  try {
    client_->connect(opts, nullptr, *connect_listener_);
  } catch (const std::exception& e) {
    std::lock_guard lock(close_mutex_);
    connecting_ = false;
    post(ev::UpstreamConnectFailed{e.what()});
  }
}

void UpstreamClient::retry() {
  // The same Paho client: what it still holds for this session (QoS 1/2 in flight) goes on.
  if (!disconnecting_) start_connect();
}

void UpstreamClient::reconnect(const std::optional<Will>& will) {
  will_ = will;
  reconnect_pending_ = true;
  disconnect(std::chrono::milliseconds(1000));
}

void UpstreamClient::restart(bool clean_session, std::uint16_t keep_alive_s,
                             const std::optional<Will>& will) {
  clean_session_ = clean_session;
  keep_alive_s_ = keep_alive_s;
  reconnect(will);
}

bool UpstreamClient::after_closed() {
  disconnecting_ = false;
  if (!reconnect_pending_) return false;
  reconnect_pending_ = false;
  // A fresh Paho client: reusing one right after its disconnect completes makes the next
  // connect fail. The closed one goes now: its disconnect completion was its last callback.
  if (renew_client()) start_connect();
  return true;
}

void UpstreamClient::publish(std::uint32_t token, const std::string& topic, const Bytes& payload,
                             int qos, bool retain) {
  try {
    auto msg = mqtt::make_message(topic, payload.data(), payload.size(), qos, retain);
    client_->publish(msg, to_context(token), *action_listener_);
  } catch (const mqtt::exception& e) {
    // token 0: a QoS 0 drop, counted by the runtime (by reason: the queue cap or not connected).
    post(ev::UpstreamPublishFailed{
        .token = token, .queue_full = e.get_return_code() == MQTTASYNC_MAX_BUFFERED_MESSAGES});
  } catch (const std::exception&) {
    post(ev::UpstreamPublishFailed{token});
  }
}

void UpstreamClient::subscribe(std::uint32_t token, const std::string& filter, int qos) {
  try {
    client_->subscribe(filter, qos, to_context(token), *action_listener_);
  } catch (const std::exception&) {
    post(ev::UpstreamSubscribed{token, false, 0});
  }
}

void UpstreamClient::unsubscribe(std::uint32_t token, const std::string& filter) {
  try {
    client_->unsubscribe(filter, to_context(token), *action_listener_);
  } catch (const std::exception&) {
    post(ev::UpstreamUnsubscribed{token});
  }
}

void UpstreamClient::disconnect(std::chrono::milliseconds timeout) {
  if (disconnecting_) return;
  disconnecting_ = true;
  {
    // A CONNECT under way is an operation Paho has not reported the end of: closing the client
    // now could leave the broker with a connection dropped without DISCONNECT (it would publish
    // the will). The connect listener disconnects when it ends (connect_ended()).
    std::lock_guard lock(close_mutex_);
    if (connecting_) {
      close_after_connect_ = timeout;
      return;
    }
  }
  disconnect_now(*client_, client_->is_connected(), timeout);
}

bool UpstreamClient::connect_ended(const mqtt::token& tok, bool connected) {
  std::optional<std::chrono::milliseconds> close;
  {
    std::lock_guard lock(close_mutex_);
    connecting_ = false;
    close = std::exchange(close_after_connect_, std::nullopt);
  }
  if (close && tok.get_client() != nullptr) disconnect_now(*tok.get_client(), connected, *close);
  return close.has_value();
}

// `connected` comes from the caller: Paho's is_connected() takes the mutex a callback holds.
void UpstreamClient::disconnect_now(mqtt::iasync_client& client, bool connected,
                                    std::chrono::milliseconds timeout) {
  try {
    if (!connected) {
      // Not connected (lost, or its connect failed): Paho still reports the disconnect.
      client.disconnect(0, nullptr, *disconnect_listener_);
      return;
    }
    client.disconnect(static_cast<int>(timeout.count()), nullptr, *disconnect_listener_);
  } catch (const std::exception&) {
    post_closed();
  }
}

bool UpstreamClient::connected() const noexcept {
  try {
    return client_->is_connected();
  } catch (...) {
    return false;
  }
}

}  // namespace gw
