#include "tests/routing/rig.hpp"

#include <algorithm>
#include <utility>

#include "mqttsn/codec.hpp"

namespace rt {

namespace {

class Factory final : public gw::UpstreamFactory {
 public:
  explicit Factory(Broker& b) : broker_(b) {}
  gw::Result<std::unique_ptr<gw::Upstream>> create(const std::string& client_id,
                                                   std::uint64_t session_id,
                                                   gw::Mailbox& mailbox) override {
    if (client_id.empty()) return gw::Error{"empty ClientId"};
    ++broker_.created;
    return std::unique_ptr<gw::Upstream>(
        std::make_unique<FakeUpstream>(broker_, client_id, session_id, mailbox));
  }

 private:
  Broker& broker_;
};

}  // namespace

// ---- broker side

FakeUpstream* Broker::client(std::uint64_t session_id) const {
  auto it = clients.find(session_id);
  return it == clients.end() ? nullptr : it->second;
}

FakeUpstream* Broker::client(const std::string& client_id) const {
  for (const auto& [id, c] : clients)
    if (id != 0 && c->client_id() == client_id) return c;
  return nullptr;
}

std::size_t Broker::count(const std::string& call) const {
  return static_cast<std::size_t>(std::count(calls.begin(), calls.end(), call));
}

FakeUpstream::FakeUpstream(Broker& b, std::string client_id, std::uint64_t session_id,
                           gw::Mailbox& mailbox)
    : broker_(b), client_id_(std::move(client_id)), session_id_(session_id), mailbox_(mailbox) {
  broker_.clients[session_id_] = this;
}

FakeUpstream::~FakeUpstream() {
  if (broker_.client(session_id_) == this) broker_.clients.erase(session_id_);
}

void FakeUpstream::post(gw::UpstreamEvent e) {
  mailbox_.post(gw::MailboxEvent{session_id_, std::move(e)});
}

void FakeUpstream::connect(bool, std::uint16_t, const std::optional<gw::Will>&) {
  broker_.calls.push_back("connect " + client_id_);
  attempt();
}

void FakeUpstream::retry() {
  broker_.calls.push_back("retry " + client_id_);
  attempt();
}

void FakeUpstream::finish_connect(bool ok) {
  REQUIRE(connecting_);
  connecting_ = false;
  connected_ = ok;
  if (ok)
    post(gw::ev::UpstreamConnected{false});
  else
    post(gw::ev::UpstreamConnectFailed{"refused (test)"});
}

void FakeUpstream::attempt() {
  if (broker_.hold_connects && session_id_ != 0) {
    connecting_ = true;
    return;
  }
  if (!broker_.reachable) {
    post(gw::ev::UpstreamConnectFailed{"broker unreachable (test)"});
    return;
  }
  connected_ = true;
  post(gw::ev::UpstreamConnected{false});
}

void FakeUpstream::reconnect(const std::optional<gw::Will>& will) {
  connect(true, 0, will);
}

void FakeUpstream::restart(bool clean_session, std::uint16_t keep_alive_s,
                           const std::optional<gw::Will>& will) {
  connect(clean_session, keep_alive_s, will);
}

void FakeUpstream::publish(std::uint32_t token, const std::string& topic, const gw::Bytes& payload,
                           int qos, bool) {
  if (topic.ends_with("/wake")) {
    ++broker_.wakes;  // the runtime's connect-latency wake-up (gateway/runtime/upstream_pool.hpp)
    return;
  }
  broker_.published.push_back({session_id_, topic, text(payload), qos});
  if (token == 0) return;
  if (connected_ && !broker_.hold_acks)
    post(gw::ev::UpstreamDelivered{token});
  else
    unacked_.push_back(token);
}

void FakeUpstream::subscribe(std::uint32_t token, const std::string& filter, int qos) {
  broker_.calls.push_back("subscribe " + client_id_ + " " + filter);
  post(gw::ev::UpstreamSubscribed{token, true, qos});
}

void FakeUpstream::unsubscribe(std::uint32_t token, const std::string& filter) {
  broker_.calls.push_back("unsubscribe " + client_id_ + " " + filter);
  post(gw::ev::UpstreamUnsubscribed{token});
}

void FakeUpstream::disconnect(std::chrono::milliseconds) {
  broker_.calls.push_back("disconnect " + client_id_);
  connected_ = false;
  mailbox_.post(gw::MailboxEvent{session_id_, gw::UpstreamClosed{serial()}});
}

void FakeUpstream::deliver(const std::string& topic, const std::string& payload, int qos) {
  post(gw::ev::UpstreamMessage{topic, gw::Bytes(payload.begin(), payload.end()), qos, false});
}

void FakeUpstream::lose() {
  connected_ = false;
  post(gw::ev::UpstreamLost{"connection reset (test)"});
}

void FakeUpstream::back(bool session_present) {
  connected_ = true;
  post(gw::ev::UpstreamConnected{session_present});
  for (auto token : std::exchange(unacked_, {})) post(gw::ev::UpstreamDelivered{token});
}

void FakeUpstream::back_on_new_client(bool session_present) {
  connected_ = true;
  unacked_.clear();
  post(gw::ev::UpstreamConnected{session_present, true});
}

// ---- radio side

void Transport::send(const transport::PeerAddress& to, std::span<const std::uint8_t> bytes) {
  auto decoded = mqttsn::decode(bytes);
  REQUIRE(std::holds_alternative<mqttsn::Message>(decoded));
  sent_[to].push_back(std::get<mqttsn::Message>(std::move(decoded)));
}

std::vector<mqttsn::Message> Transport::take(const transport::PeerAddress& to) {
  return std::exchange(sent_[to], {});
}

transport::PeerAddress ble(std::uint8_t n) {
  transport::PeerAddress a;
  a.kind = transport::Kind::Ble;
  a.size = 6;
  a.raw = {0xC0, 0xFF, 0xEE, 0x00, 0x00, n};
  return a;
}

// ---- the rig

Rig::Rig(Options o) {
  uv_loop_init(&loop);
  predefined->replace(gw::PredefinedTopicSet(o.predefined));
  gw::RuntimeOptions ro;
  ro.gw_id = 7;
  ro.aggregating = o.aggregating;
  ro.max_parked_sessions = o.max_parked_sessions;
  ro.upstream.max_connects_in_flight = o.max_connects_in_flight;
  ro.clock = [this] { return now; };
  ro.session.predefined = predefined;
  ro.shutdown_timeout = 1s;
  runtime = std::make_unique<gw::Runtime>(&loop, std::move(ro), std::make_unique<Factory>(broker));
  runtime->add_transport(radio);
  REQUIRE(runtime->start().empty());
  drain();
}

Rig::~Rig() {
  bool stopped = false;
  runtime->stop([&] { stopped = true; });
  while (!stopped && uv_run(&loop, UV_RUN_ONCE) != 0) {
  }
  runtime.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}

void Rig::drain() {
  for (int i = 0; i < 8; ++i) uv_run(&loop, UV_RUN_NOWAIT);
}

void Rig::receive(const transport::PeerAddress& from, const mqttsn::Message& m) {
  const gw::Bytes bytes = mqttsn::encode(m);
  runtime->on_datagram(from, bytes);
  drain();
}

void Rig::advance(std::chrono::milliseconds d) {
  now += d;
  runtime->tick();
  drain();
}

void Rig::connect(const transport::PeerAddress& at, const std::string& client_id, bool clean,
                  std::uint16_t keep_alive) {
  receive(at, connect_msg(client_id, clean, keep_alive));
  const auto sent = sent_to(at);
  const auto ack = find<mqttsn::ConnAck>(sent);
  REQUIRE(ack.has_value());
  REQUIRE(ack->return_code == mqttsn::ReturnCode::Accepted);
}

std::optional<mqttsn::Publish> Rig::publish_to(const transport::PeerAddress& to) {
  auto sent = sent_to(to);
  if (auto reg = find<mqttsn::Register>(sent)) {
    receive(to, mqttsn::RegAck{reg->topic_id, reg->msg_id, mqttsn::ReturnCode::Accepted});
    sent = sent_to(to);
  }
  return find<mqttsn::Publish>(sent);
}

// ---- messages

mqttsn::Connect connect_msg(const std::string& client_id, bool clean, std::uint16_t keep_alive) {
  mqttsn::Connect c;
  c.flags.clean_session = clean;
  c.duration = keep_alive;
  c.client_id = client_id;
  return c;
}

mqttsn::Publish publish_msg(mqttsn::TopicIdType type, std::uint16_t topic_id, mqttsn::QoS qos,
                            std::uint16_t msg_id, const std::string& data) {
  mqttsn::Publish p;
  p.flags.qos = qos;
  p.flags.topic_id_type = type;
  p.topic_id = topic_id;
  p.msg_id = msg_id;
  p.data.assign(data.begin(), data.end());
  return p;
}

mqttsn::Subscribe subscribe_msg(const std::string& filter, mqttsn::QoS qos, std::uint16_t msg_id) {
  mqttsn::Subscribe s;
  s.flags.qos = qos;
  s.msg_id = msg_id;
  s.topic_name = filter;
  return s;
}

std::string text(const gw::Bytes& b) {
  return std::string(b.begin(), b.end());
}

}  // namespace rt
