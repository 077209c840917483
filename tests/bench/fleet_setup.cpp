#include <thread>

#include "scenarios.hpp"
#include "stats.hpp"

namespace bench {

namespace {
// Keeps the gateway's upstream connects in a sane number while setting up; the storm measures
// what happens without such a window.
constexpr std::size_t kSetupWindow = 200;
}  // namespace

void answer_gateway(Fleet& fleet, std::size_t i, const mqttsn::Message& m) {
  if (const auto* reg = std::get_if<mqttsn::Register>(&m)) {
    fleet.send(i, mqttsn::RegAck{reg->topic_id, reg->msg_id, mqttsn::ReturnCode::Accepted});
  }
}

std::size_t connect_fleet(Fleet& fleet, std::uint16_t keep_alive_s, int timeout_ms) {
  return request_all(
      fleet, kSetupWindow, 2000, 5, timeout_ms,
      [&](std::size_t i) {
        mqttsn::Connect c;
        c.flags.clean_session = true;
        c.duration = keep_alive_s;
        c.client_id = fleet[i].client_id;
        return mqttsn::Message{c};
      },
      [&](std::size_t i, const mqttsn::Message& m) {
        const auto* ack = std::get_if<mqttsn::ConnAck>(&m);
        if (ack == nullptr) return false;
        fleet[i].answer_code = static_cast<std::uint8_t>(ack->return_code);
        return ack->return_code == mqttsn::ReturnCode::Accepted;
      },
      [&](std::size_t i, const mqttsn::Message& m, std::int64_t) { answer_gateway(fleet, i, m); });
}

std::size_t register_fleet(Fleet& fleet, const std::string& topic_prefix, int timeout_ms) {
  return request_all(
      fleet, kSetupWindow, 2000, 5, timeout_ms,
      [&](std::size_t i) {
        return mqttsn::Message{mqttsn::Register{0, static_cast<std::uint16_t>(i % 65535 + 1),
                                                topic_prefix + std::to_string(i)}};
      },
      [&](std::size_t i, const mqttsn::Message& m) {
        const auto* ack = std::get_if<mqttsn::RegAck>(&m);
        if (ack == nullptr || ack->return_code != mqttsn::ReturnCode::Accepted) return false;
        fleet[i].topic_id = ack->topic_id;
        return true;
      },
      [&](std::size_t i, const mqttsn::Message& m, std::int64_t) { answer_gateway(fleet, i, m); });
}

std::size_t subscribe_fleet(Fleet& fleet, const std::string& topic_prefix, int timeout_ms) {
  return request_all(
      fleet, kSetupWindow, 2000, 5, timeout_ms,
      [&](std::size_t i) {
        mqttsn::Subscribe s;
        s.flags.qos = mqttsn::QoS::AtLeastOnce;
        s.flags.topic_id_type = mqttsn::TopicIdType::Normal;
        s.msg_id = static_cast<std::uint16_t>(i % 65535 + 1);
        s.topic_name = topic_prefix + std::to_string(i);
        return mqttsn::Message{s};
      },
      [&](std::size_t i, const mqttsn::Message& m) {
        const auto* ack = std::get_if<mqttsn::SubAck>(&m);
        if (ack == nullptr || ack->return_code != mqttsn::ReturnCode::Accepted) return false;
        fleet[i].down_topic = ack->topic_id;
        return true;
      },
      [&](std::size_t i, const mqttsn::Message& m, std::int64_t) { answer_gateway(fleet, i, m); });
}

void disconnect_fleet(Fleet& fleet) {
  for (std::size_t i = 0; i < fleet.size(); ++i) fleet.send(i, mqttsn::Disconnect{});
  // Let the gateway take the DISCONNECTs before the sockets close (no ICMP storm).
  const auto until = now_ns() + 300'000'000;
  while (now_ns() < until) fleet.poll(10, [](std::size_t, const mqttsn::Message&, std::int64_t) {});
}

}  // namespace bench
