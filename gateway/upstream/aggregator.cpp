#include "gateway/upstream/aggregator.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "gateway/core/overloaded.hpp"
#include "mqttsn/print.hpp"
#include "transports/log/limited_log.hpp"

namespace gw {

namespace {
const char* const kLinkDown = "broker unreachable (shared upstream connection down)";
}  // namespace

// One sensor session's upstream: a few bytes on top of the shared link. MQTT's will is not set
// on the link: the session publishes its will itself when it is lost (Session::lose), so a will
// change needs no reconnect.
class SharedUpstream final : public Upstream {
 public:
  SharedUpstream(Aggregator& agg, std::uint64_t session_id, std::string client_id)
      : agg_(agg), session_id_(session_id), client_id_(std::move(client_id)) {}
  ~SharedUpstream() override {
    if (attached_) agg_.detach(*this, false);
  }
  SharedUpstream(const SharedUpstream&) = delete;
  SharedUpstream& operator=(const SharedUpstream&) = delete;

  void connect(bool clean_session, std::uint16_t, const std::optional<Will>&) override {
    agg_.attach(*this, clean_session);
  }
  void reconnect(const std::optional<Will>&) override { agg_.reconnected(*this); }
  void restart(bool clean_session, std::uint16_t, const std::optional<Will>&) override {
    agg_.attach(*this, clean_session);
  }
  void publish(std::uint32_t token, const std::string& topic, const Bytes& payload, int qos,
               bool retain) override {
    agg_.publish(*this, token, topic, payload, qos, retain);
  }
  void subscribe(std::uint32_t token, const std::string& filter, int qos) override {
    agg_.subscribe(*this, token, filter, qos);
  }
  void unsubscribe(std::uint32_t token, const std::string& filter) override {
    agg_.unsubscribe(*this, token, filter);
  }
  void disconnect(std::chrono::milliseconds) override { agg_.detach(*this, true); }
  bool after_closed() override { return false; }
  bool connected() const noexcept override { return attached_ && agg_.up(); }

 private:
  friend class Aggregator;
  Aggregator& agg_;
  std::uint64_t session_id_;
  std::string client_id_;
  bool clean_session_ = true;
  bool attached_ = false;
};

Aggregator::Aggregator(Mailbox& mailbox, const std::unique_ptr<Upstream>& link,
                       std::chrono::seconds parked_expiry, std::size_t max_parked,
                       std::function<TimePoint()> now)
    : mailbox_(mailbox),
      link_(link),
      parked_expiry_(parked_expiry),
      max_parked_(max_parked),
      now_(std::move(now)) {}

Aggregator::~Aggregator() {
  // Handles outliving the aggregator would point at it: the runtime destroys them first.
  for (auto& [id, s] : open_) s->attached_ = false;
}

std::unique_ptr<Upstream> Aggregator::open(std::uint64_t session_id, const std::string& client_id) {
  return std::make_unique<SharedUpstream>(*this, session_id, client_id);
}

bool Aggregator::up() const noexcept {
  return up_ && link_ != nullptr && !stopping_;
}

std::uint32_t Aggregator::new_token() {
  do {
    if (++next_token_ == 0) next_token_ = 1;
  } while (pending_.count(next_token_) != 0);
  return next_token_;
}

void Aggregator::post(std::uint64_t session_id, UpstreamEvent event) {
  mailbox_.post(MailboxEvent{session_id, std::move(event)});
}

// ---------------------------------------------------------------- handle operations

void Aggregator::attach(SharedUpstream& s, bool clean_session) {
  const auto now = now_();
  expire_parked(now);
  s.clean_session_ = clean_session;
  s.attached_ = true;
  open_[s.session_id_] = &s;
  bool present = false;
  if (restored_.erase(s.session_id_) != 0) {
    present = true;  // restored from the state store with its subscriptions (restore_live)
  } else if (clean_session) {
    // CleanSession=true: whatever this ClientId (or this session) held before is gone.
    drop_parked(s.client_id_);
    for (const auto& filter : table_.remove_holder(s.session_id_)) unsubscribe_upstream(filter);
  } else if (auto it = parked_.find(s.client_id_); it != parked_.end()) {
    // Like a broker's persistent session: the subscriptions kept since it ended carry over.
    table_.move_holder(it->second.holder, s.session_id_);
    parked_order_.erase({it->second.since, it->second.holder});
    parked_by_holder_.erase(it->second.holder);
    parked_.erase(it);
    present = true;
  }
  if (up())
    post(s.session_id_, ev::UpstreamConnected{present});
  else if (!first_connect_done_ && !stopping_)
    waiting_[s.session_id_] = present;
  else
    post(s.session_id_, ev::UpstreamConnectFailed{kLinkDown});
}

void Aggregator::reconnected(SharedUpstream& s) {
  // Nothing to redo on the link; the session keeps its subscriptions.
  if (s.attached_ && up())
    post(s.session_id_, ev::UpstreamConnected{true});
  else
    post(s.session_id_, ev::UpstreamConnectFailed{kLinkDown});
}

void Aggregator::publish(const SharedUpstream& s, std::uint32_t token, const std::string& topic,
                         const Bytes& payload, int qos, bool retain) {
  if (!up()) {
    // Token 0 (QoS 0) too: counted as dropped.
    post(s.session_id_, ev::UpstreamPublishFailed{.token = token, .link_down = true});
    return;
  }
  if (token == 0) {
    link_->publish(0, topic, payload, qos, retain);
    return;
  }
  const auto link_token = new_token();
  pending_[link_token] = Pending{Kind::Publish, s.session_id_, token, {}, qos, false};
  link_->publish(link_token, topic, payload, qos, retain);
}

void Aggregator::subscribe(const SharedUpstream& s, std::uint32_t token, const std::string& filter,
                           int qos) {
  if (!up()) {
    post(s.session_id_, ev::UpstreamSubscribed{token, false, 0});
    return;
  }
  // Every SUBSCRIBE goes upstream, also for a filter already held: the broker then sends the
  // retained messages the sensor expects (to this session only, see SubscriptionTable), and a
  // higher QoS takes effect.
  const bool was_held = table_.holds(s.session_id_, filter);
  const int upstream_qos = table_.add(s.session_id_, filter, qos);
  const auto link_token = new_token();
  on_broker_.insert(filter);
  pending_[link_token] = Pending{Kind::Subscribe, s.session_id_, token, filter, qos, was_held};
  link_->subscribe(link_token, filter, upstream_qos);
}

void Aggregator::unsubscribe(const SharedUpstream& s, std::uint32_t token,
                             const std::string& filter) {
  if (table_.remove(s.session_id_, filter) && up()) {
    // The last holder: the UNSUBACK answers the session.
    on_broker_.erase(filter);
    const auto link_token = new_token();
    pending_[link_token] = Pending{Kind::Unsubscribe, s.session_id_, token, filter, 0, false};
    link_->unsubscribe(link_token, filter);
    return;
  }
  post(s.session_id_, ev::UpstreamUnsubscribed{token});
}

void Aggregator::detach(SharedUpstream& s, bool post_closed) {
  if (s.attached_) {
    s.attached_ = false;
    open_.erase(s.session_id_);
    waiting_.erase(s.session_id_);
    if (!s.clean_session_ && parked_expiry_.count() > 0 && max_parked_ > 0 && post_closed &&
        !stopping_) {
      // CleanSession=false: keep its subscriptions for its next CONNECT, as the broker would.
      const auto now = now_();
      expire_parked(now);
      drop_parked(s.client_id_);
      while (parked_.size() >= max_parked_ && !parked_order_.empty())
        drop_parked(parked_order_.begin()->second);  // the cap: the oldest makes room
      const Holder holder = next_parked_holder_++;
      table_.move_holder(s.session_id_, holder);
      parked_[s.client_id_] = Parked{holder, now};
      parked_order_.emplace(std::make_pair(now, holder), s.client_id_);
      parked_by_holder_.emplace(holder, s.client_id_);
    } else {
      for (const auto& filter : table_.remove_holder(s.session_id_)) {
        if (post_closed) unsubscribe_upstream(filter);
      }
    }
  }
  if (post_closed) mailbox_.post(MailboxEvent{s.session_id_, UpstreamClosed{s.serial()}});
}

// ---------------------------------------------------------------- helpers

void Aggregator::subscribe_upstream(const std::string& filter, int qos) {
  if (!up()) return;
  on_broker_.insert(filter);
  const auto link_token = new_token();
  pending_[link_token] = Pending{Kind::Internal, 0, 0, filter, qos, false};
  link_->subscribe(link_token, filter, qos);
}

void Aggregator::unsubscribe_upstream(const std::string& filter) {
  // Link down: undone when it is back (on_link_up), if the broker kept the link's session.
  if (!up()) return;
  on_broker_.erase(filter);
  const auto link_token = new_token();
  pending_[link_token] = Pending{Kind::Internal, 0, 0, filter, 0, false};
  link_->unsubscribe(link_token, filter);
}

void Aggregator::drop_parked(const std::string& client_id) {
  auto it = parked_.find(client_id);
  if (it == parked_.end()) return;
  const Holder holder = it->second.holder;
  parked_order_.erase({it->second.since, holder});
  parked_by_holder_.erase(holder);
  parked_.erase(it);
  for (const auto& filter : table_.remove_holder(holder)) unsubscribe_upstream(filter);
}

void Aggregator::expire_parked(TimePoint now) {
  // Checked whenever a session starts or ends: a kept subscription outlives its expiry at most
  // until then (it only costs traffic the gateway drops).
  while (!parked_order_.empty() && now - parked_order_.begin()->first.first >= parked_expiry_)
    drop_parked(std::string(parked_order_.begin()->second));
}

// ---------------------------------------------------------------- link events

void Aggregator::on_link_event(const UpstreamEvent& event) {
  if (stopping_) return;
  std::visit(Overloaded{
                 [&](const ev::UpstreamConnected& c) {
                   if (c.in_flight_lost) fail_in_flight();
                   on_link_up(c.session_present);
                 },
                 [&](const ev::UpstreamConnectFailed&) {
                   up_ = false;
                   first_connect_done_ = true;
                   for (const auto& [id, present] : waiting_)
                     post(id, ev::UpstreamConnectFailed{kLinkDown});
                   waiting_.clear();
                 },
                 [&](const ev::UpstreamLost& l) {
                   const bool was_up = up_;
                   up_ = false;
                   if (!was_up) return;
                   for (const auto& [id, s] : open_) post(id, ev::UpstreamLost{l.reason});
                 },
                 [&](const ev::UpstreamMessage& m) { on_message(m); },
                 [&](const ev::UpstreamDelivered& d) {
                   auto it = pending_.find(d.token);
                   if (it == pending_.end()) return;
                   if (it->second.kind == Kind::Publish)
                     post(it->second.session_id, ev::UpstreamDelivered{it->second.token});
                   pending_.erase(it);
                 },
                 [&](const ev::UpstreamPublishFailed& f) {
                   auto it = pending_.find(f.token);
                   if (it == pending_.end()) return;
                   if (it->second.kind == Kind::Publish)
                     post(it->second.session_id,
                          ev::UpstreamPublishFailed{.token = it->second.token,
                                                    .reason_code = f.reason_code,
                                                    .queue_full = f.queue_full});
                   pending_.erase(it);
                 },
                 [&](const ev::UpstreamSubscribed& s) { on_subscribed(s); },
                 [&](const ev::UpstreamUnsubscribed& u) {
                   auto it = pending_.find(u.token);
                   if (it == pending_.end()) return;
                   if (it->second.kind == Kind::Unsubscribe)
                     post(it->second.session_id, ev::UpstreamUnsubscribed{it->second.token});
                   pending_.erase(it);
                 },
             },
             event);
}

void Aggregator::fail_in_flight() {
  // The link's previous Paho client, and what was in flight on it, is gone: each operation fails
  // as it would have (the sessions answer their sensors). Whether the broker got an (un)subscribe
  // is unknown, so its filter is taken as held there exactly when no one holds it any more:
  // on_link_up() then unsubscribes it, or subscribes it again.
  auto pending = std::move(pending_);
  pending_.clear();
  std::vector<std::string> unsure;
  for (auto& [link_token, p] : pending) {
    switch (p.kind) {
      case Kind::Publish:
        post(p.session_id, ev::UpstreamPublishFailed{.token = p.token, .link_down = true});
        break;
      case Kind::Subscribe:
        if (!p.was_held) table_.remove(p.session_id, p.filter);
        post(p.session_id, ev::UpstreamSubscribed{p.token, false, 0});
        unsure.push_back(p.filter);
        break;
      case Kind::Unsubscribe:
        post(p.session_id, ev::UpstreamUnsubscribed{p.token});
        unsure.push_back(p.filter);
        break;
      case Kind::Internal:
        unsure.push_back(p.filter);
        break;
    }
  }
  for (const auto& filter : unsure) {
    if (table_.holder_count(filter) != 0)
      on_broker_.erase(filter);
    else
      on_broker_.insert(filter);
  }
}

void Aggregator::on_link_up(bool session_present) {
  up_ = true;
  first_connect_done_ = true;
  // Bring the link's broker session in line with what the sessions hold, then tell the sessions
  // their upstream session is present (so they do not subscribe again themselves). A clean
  // session (or one the broker lost) gets every filter again; a kept one (broker.persistent_link)
  // only what changed while the link was down, so the broker does not re-send retained messages.
  const auto filters = table_.filters();
  if (!session_present) on_broker_.clear();
  std::vector<std::string> stale;
  for (const auto& filter : on_broker_)
    if (!std::binary_search(filters.begin(), filters.end(), std::make_pair(filter, 0),
                            [](const auto& a, const auto& b) { return a.first < b.first; }))
      stale.push_back(filter);
  for (const auto& filter : stale) unsubscribe_upstream(filter);
  std::size_t subscribed = 0;
  for (const auto& [filter, qos] : filters) {
    if (on_broker_.contains(filter)) continue;
    subscribe_upstream(filter, qos);
    ++subscribed;
  }
  // As a sensor's own reconnect would, the re-subscription brings the retained messages to all.
  if (!session_present) table_.refresh_all(now_());
  if (subscribed != 0)
    spdlog::info("shared upstream: {} filters subscribed again for {} sessions", subscribed,
                 open_.size());
  if (!stale.empty())
    spdlog::info("shared upstream: {} filters given up while the link was down unsubscribed",
                 stale.size());
  for (const auto& [id, s] : open_) {
    auto w = waiting_.find(id);
    post(id, ev::UpstreamConnected{w == waiting_.end() || w->second});
  }
  waiting_.clear();
}

void Aggregator::on_message(const ev::UpstreamMessage& m) {
  // Each session once, even when several of its filters match; it caps the QoS itself.
  for (Holder holder : table_.match(m.topic, m.retained, now_())) {
    if (open_.count(holder) != 0) {
      post(holder, m);
    } else if (auto p = parked_by_holder_.find(holder);
               p != parked_by_holder_.end() && parked_sink_) {
      parked_sink_(p->second, m);
    }
  }
}

// ---------------------------------------------------------------- restored sessions

void Aggregator::hold_restored(Holder holder, const std::vector<Subscription>& subscriptions) {
  // Acknowledged long ago: the broker's retained messages are not for them.
  const auto long_ago = now_() - SubscriptionTable::kRetainedWindow;
  for (const auto& sub : subscriptions) {
    table_.add(holder, sub.filter, sub.qos);
    table_.acked(holder, sub.filter, long_ago);
    // Held by the link's broker session before the restart (if the broker kept it: on_link_up
    // subscribes everything when it did not).
    on_broker_.insert(sub.filter);
  }
}

void Aggregator::restore_live(std::uint64_t session_id,
                              const std::vector<Subscription>& subscriptions) {
  hold_restored(session_id, subscriptions);
  restored_.insert(session_id);
}

void Aggregator::restore_parked(const std::string& client_id,
                                const std::vector<Subscription>& subscriptions, TimePoint since) {
  if (parked_expiry_.count() <= 0 || max_parked_ == 0 || parked_.contains(client_id)) return;
  while (parked_.size() >= max_parked_ && !parked_order_.empty())
    drop_parked(std::string(parked_order_.begin()->second));
  const Holder holder = next_parked_holder_++;
  hold_restored(holder, subscriptions);
  parked_[client_id] = Parked{holder, since};
  parked_order_.emplace(std::make_pair(since, holder), client_id);
  parked_by_holder_.emplace(holder, client_id);
}

void Aggregator::on_subscribed(const ev::UpstreamSubscribed& s) {
  auto it = pending_.find(s.token);
  if (it == pending_.end()) return;
  const Pending p = std::move(it->second);
  pending_.erase(it);
  if (p.kind == Kind::Internal) {
    if (!s.ok) on_broker_.erase(p.filter);
    if (!s.ok)
      util::log_limited("session protocol", spdlog::level::warn,
                        "shared upstream: broker refused the subscription to '{}'",
                        mqttsn::printable(p.filter));
    return;
  }
  if (p.kind != Kind::Subscribe) return;
  if (!s.ok) {
    if (!p.was_held && table_.remove(p.session_id, p.filter)) unsubscribe_upstream(p.filter);
    post(p.session_id, ev::UpstreamSubscribed{p.token, false, 0, s.reason_code});
    return;
  }
  table_.acked(p.session_id, p.filter, now_());
  post(p.session_id, ev::UpstreamSubscribed{p.token, true, std::min(p.qos, s.granted_qos)});
}

}  // namespace gw
