#include "gateway/tools/client_session.hpp"

#include <iostream>
#include <type_traits>
#include <utility>
#include <variant>

#include "gateway/tools/stop_signal.hpp"
#include "gateway/tools/tool_error.hpp"
#include "mqttsn/print.hpp"
#include "mqttsn/topic.hpp"

namespace mqttsn::tools {

namespace {

template <class T>
const T* as(const Message& m) {
  return std::get_if<T>(&m);
}

// §6.13: a retransmitted PUBLISH or SUBSCRIBE carries DUP.
void mark_dup(Message& m) {
  if (auto* p = std::get_if<Publish>(&m)) p->flags.dup = true;
  if (auto* s = std::get_if<Subscribe>(&m)) s->flags.dup = true;
}

void require_accepted(ReturnCode rc, std::string_view what) {
  if (rc != ReturnCode::Accepted) {
    throw ToolError(std::string(what) + " rejected by the gateway: " + std::string(to_string(rc)));
  }
}

}  // namespace

ClientSession::ClientSession(UdpLink& link, std::string client_id, RetryPolicy retry)
    : link_(link), client_id_(std::move(client_id)), retry_(retry) {}

bool ClientSession::stop_requested() const noexcept {
  return stop_ || stop_signal_received();
}

void ClientSession::connect(const ConnectOptions& options) {
  Connect c;
  c.flags.will = options.will.has_value();
  c.flags.clean_session = options.clean_session;
  c.duration = options.keep_alive;
  c.client_id = client_id_;
  const auto is_step = [](const Message& m) {
    return as<ConnAck>(m) || as<WillTopicReq>(m) || as<WillMsgReq>(m);
  };
  const int attempts = retry_.count + 1;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    link_.send(c);
    auto deadline = Clock::now() + retry_.interval;
    while (auto m = wait_for(is_step, deadline)) {
      if (const auto* ack = as<ConnAck>(*m)) {
        require_accepted(ack->return_code, "CONNECT");
        return;
      }
      if (as<WillTopicReq>(*m)) {
        WillTopic wt;
        if (options.will) {
          wt.flags.qos = options.will->qos;
          wt.flags.retain = options.will->retain;
          wt.will_topic = options.will->topic;
        }
        link_.send(wt);
      } else {
        link_.send(WillMsg{options.will ? options.will->payload : Bytes{}});
      }
      deadline = Clock::now() + retry_.interval;  // the handshake is progressing
    }
  }
  no_answer("CONNACK", attempts);
}

std::uint16_t ClientSession::register_topic(const std::string& name) {
  const std::uint16_t id = next_msg_id();
  const Message reply = transact(
      Register{0, id, name},
      [id](const Message& m) {
        const auto* r = as<RegAck>(m);
        return r && r->msg_id == id;
      },
      "REGACK");
  const auto& ack = std::get<RegAck>(reply);
  require_accepted(ack.return_code, "REGISTER of '" + name + "'");
  topics_[ack.topic_id] = name;
  return ack.topic_id;
}

void ClientSession::publish(TopicIdType type, std::uint16_t topic_id, QoS qos, bool retain,
                            Bytes data) {
  Publish p;
  p.flags.qos = qos;
  p.flags.retain = retain;
  p.flags.topic_id_type = type;
  p.topic_id = topic_id;
  p.data = std::move(data);
  if (qos == QoS::AtMostOnce || qos == QoS::MinusOne) {
    link_.send(p);  // §6.8/§6.9: MsgId is 0x0000 and nothing comes back
    return;
  }
  const std::uint16_t id = next_msg_id();
  p.msg_id = id;
  if (qos == QoS::AtLeastOnce) {
    const Message reply = transact(
        p,
        [id](const Message& m) {
          const auto* a = as<PubAck>(m);
          return a && a->msg_id == id;
        },
        "PUBACK");
    require_accepted(std::get<PubAck>(reply).return_code, "PUBLISH");
    return;
  }
  // QoS 2: PUBREC, or a PUBACK carrying a rejection (§6.9).
  const Message reply = transact(
      p,
      [id](const Message& m) {
        const auto* r = as<PubRec>(m);
        const auto* a = as<PubAck>(m);
        return (r && r->msg_id == id) || (a && a->msg_id == id);
      },
      "PUBREC");
  if (const auto* a = as<PubAck>(reply)) {
    require_accepted(a->return_code, "PUBLISH");
    throw ToolError("the gateway answered a QoS 2 PUBLISH with PUBACK instead of PUBREC");
  }
  transact(
      PubRel{id},
      [id](const Message& m) {
        const auto* c = as<PubComp>(m);
        return c && c->msg_id == id;
      },
      "PUBCOMP");
}

QoS ClientSession::subscribe(TopicIdType type, const std::string& name, std::uint16_t topic_id,
                             QoS qos) {
  Subscribe s;
  s.flags.qos = qos;
  s.flags.topic_id_type = type;
  s.msg_id = next_msg_id();
  if (type == TopicIdType::Normal) {
    s.topic_name = name;
  } else {
    s.topic_id = topic_id;
  }
  const std::uint16_t id = s.msg_id;
  const Message reply = transact(
      s,
      [id](const Message& m) {
        const auto* a = as<SubAck>(m);
        return a && a->msg_id == id;
      },
      "SUBACK");
  const auto& ack = std::get<SubAck>(reply);
  require_accepted(ack.return_code, "SUBSCRIBE to '" + name + "'");
  // §6.9: a topic name without wildcards gets its topic id in the SUBACK; wildcards get 0 and
  // the gateway REGISTERs each matching topic later.
  if (type == TopicIdType::Normal && !has_wildcard(name) && ack.topic_id != 0) {
    topics_[ack.topic_id] = name;
  }
  return ack.flags.qos;
}

void ClientSession::ping() {
  transact(
      PingReq{}, [](const Message& m) { return as<PingResp>(m) != nullptr; }, "PINGRESP");
}

bool ClientSession::wake() {
  const auto is_pingresp = [](const Message& m) { return as<PingResp>(m) != nullptr; };
  for (int attempt = 0; attempt <= retry_.count; ++attempt) {
    link_.send(PingReq{client_id_});
    if (wait_for(is_pingresp, Clock::now() + retry_.interval, WaitMode::WakeUp)) return true;
    if (stop_requested()) return true;  // the caller ends the session now
  }
  return false;
}

void ClientSession::disconnect(std::optional<std::uint16_t> sleep_duration) {
  transact(
      Disconnect{sleep_duration}, [](const Message& m) { return as<Disconnect>(m) != nullptr; },
      "DISCONNECT");
}

void ClientSession::pump(Clock::time_point deadline) {
  while (!stop_requested() && Clock::now() < deadline) {
    if (auto m = link_.receive(deadline)) handle_unsolicited(*m);
  }
}

Message ClientSession::transact(Message request, const Matcher& is_reply,
                                std::string_view expected) {
  const int attempts = retry_.count + 1;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0) mark_dup(request);
    link_.send(request);
    if (auto reply = wait_for(is_reply, Clock::now() + retry_.interval)) return *std::move(reply);
  }
  no_answer(expected, attempts);
}

std::optional<Message> ClientSession::wait_for(const Matcher& wanted, Clock::time_point deadline,
                                               WaitMode mode) {
  while (Clock::now() < deadline) {
    if (mode == WaitMode::WakeUp && stop_requested()) return std::nullopt;
    auto m = link_.receive(deadline);
    if (!m) continue;  // timeout (loop ends) or a signal: keep waiting for the reply
    if (wanted(*m)) return m;
    handle_unsolicited(*m);
    if (mode == WaitMode::WakeUp) deadline = Clock::now() + retry_.interval;
  }
  return std::nullopt;
}

void ClientSession::handle_unsolicited(const Message& m) {
  std::visit(
      [this](const auto& msg) {
        using T = std::decay_t<decltype(msg)>;
        if constexpr (std::is_same_v<T, Register>) {
          // §6.10: the gateway names a topic before it publishes on it (wildcard subscriptions).
          topics_[msg.topic_id] = msg.topic_name;
          link_.send(RegAck{msg.topic_id, msg.msg_id, ReturnCode::Accepted});
        } else if constexpr (std::is_same_v<T, Publish>) {
          handle_publish(msg);
        } else if constexpr (std::is_same_v<T, PubRel>) {
          qos2_received_.erase(msg.msg_id);
          link_.send(PubComp{msg.msg_id});
        } else if constexpr (std::is_same_v<T, PingReq>) {
          link_.send(PingResp{});  // §6.11
        } else if constexpr (std::is_same_v<T, Disconnect>) {
          throw ToolError("the gateway ended the session (DISCONNECT)");
        }
        // Anything else (ADVERTISE, late duplicates of acks, ...) needs no answer.
      },
      m);
}

void ClientSession::handle_publish(const Publish& p) {
  std::optional<std::string> topic;
  switch (p.flags.topic_id_type) {
    case TopicIdType::Normal:
      if (auto it = topics_.find(p.topic_id); it != topics_.end()) topic = it->second;
      break;
    case TopicIdType::Predefined:
      topic = std::to_string(p.topic_id);  // the name lives only in the gateway's configuration
      break;
    case TopicIdType::Short:
      topic = short_topic_name(p.topic_id);
      break;
  }
  if (!topic) {
    // §6.10 / §5.4.13: refuse a topic id we were never told about.
    std::cerr << "Warning: PUBLISH with unknown topic id " << p.topic_id << " refused\n";
    if (p.flags.qos == QoS::AtLeastOnce || p.flags.qos == QoS::ExactlyOnce) {
      link_.send(PubAck{p.topic_id, p.msg_id, ReturnCode::RejectedInvalidTopicId});
    }
    return;
  }
  bool fresh = true;
  if (p.flags.qos == QoS::AtLeastOnce) {
    link_.send(PubAck{p.topic_id, p.msg_id, ReturnCode::Accepted});
  } else if (p.flags.qos == QoS::ExactlyOnce) {
    // Deliver once: a retransmission before PUBREL is the same message.
    fresh = qos2_received_.insert(p.msg_id).second;
    link_.send(PubRec{p.msg_id});
  }
  if (fresh && deliver_) deliver_(Delivery{*topic, p.data, p.flags});
}

std::uint16_t ClientSession::next_msg_id() noexcept {
  if (++msg_id_ == 0) msg_id_ = 1;  // 0x0000 is not a valid MsgId for acknowledged messages
  return msg_id_;
}

void ClientSession::no_answer(std::string_view expected, int attempts) const {
  std::string text = "no " + std::string(expected) + " from gateway " + link_.peer() + " after " +
                     std::to_string(attempts) + (attempts == 1 ? " attempt" : " attempts");
  if (link_.refused()) text += " (port unreachable: is the gateway running?)";
  throw ToolError(text);
}

}  // namespace mqttsn::tools
