// Connect storms and broker outages in transparent mode (gateway/runtime/runtime_connects.cpp):
// bounded upstream connects in flight, every CONNECT answered in time, repeated CONNECTs opening
// nothing more, and lost connections retried when the broker is back.
#include "tests/routing/rig.hpp"

using namespace rt;
using mqttsn::ReturnCode;

namespace {
transport::PeerAddress sensor(int i) {
  return ble(static_cast<std::uint8_t>(i));
}
std::string name(int i) {
  return "s" + std::to_string(i);
}
int sensor_clients(const Rig& rig) {
  return rig.broker.created - 1;  // the gateway's own client is the first
}
std::optional<ReturnCode> connack(Rig& rig, int i) {
  const auto ack = find<mqttsn::ConnAck>(rig.sent_to(sensor(i)));
  if (!ack) return std::nullopt;
  return ack->return_code;
}
}  // namespace

TEST_CASE("connect storm: at most max_connects_in_flight upstream connects, the rest in order") {
  Options o;
  o.max_connects_in_flight = 2;
  Rig rig(o);
  rig.broker.hold_connects = true;
  for (int i = 1; i <= 5; ++i) rig.receive(sensor(i), connect_msg(name(i), true, 60));
  CHECK(sensor_clients(rig) == 2);
  CHECK(rig.broker.client(name(1))->connecting());
  CHECK(rig.broker.client(name(2))->connecting());
  CHECK(rig.broker.client(name(3)) == nullptr);

  // Repeated CONNECTs (same ClientId, same address), one under way and one queued: nothing more.
  rig.receive(sensor(1), connect_msg(name(1), true, 60));
  rig.receive(sensor(4), connect_msg(name(4), true, 60));
  CHECK(sensor_clients(rig) == 2);
  CHECK(rig.broker.count("connect s1") == 1);

  rig.broker.client(name(2))->finish_connect(true);
  rig.drain();
  CHECK(connack(rig, 2) == ReturnCode::Accepted);
  CHECK(sensor_clients(rig) == 3);  // s3 took the slot, first in line
  REQUIRE(rig.broker.client(name(3)) != nullptr);
  rig.broker.client(name(1))->finish_connect(true);
  rig.broker.client(name(3))->finish_connect(false);  // refused: CONNACK 0x01, the slot is free
  rig.drain();
  CHECK(connack(rig, 1) == ReturnCode::Accepted);
  CHECK(connack(rig, 3) == ReturnCode::RejectedCongestion);
  CHECK(rig.runtime->counters().connack_upstream_failed == 1);
  rig.broker.client(name(4))->finish_connect(true);
  rig.broker.client(name(5))->finish_connect(true);
  rig.drain();
  CHECK(connack(rig, 4) == ReturnCode::Accepted);
  CHECK(connack(rig, 5) == ReturnCode::Accepted);
  for (int i = 1; i <= 5; ++i) CHECK(rig.broker.count("connect " + name(i)) == 1);
  CHECK(sensor_clients(rig) == 5);
}

TEST_CASE(
    "connect storm: a CONNECT not connected upstream in time gets CONNACK 0x01, then nothing") {
  Options o;
  o.max_connects_in_flight = 1;
  Rig rig(o);
  rig.broker.hold_connects = true;
  rig.receive(sensor(1), connect_msg(name(1), true, 60));  // under way
  rig.receive(sensor(2), connect_msg(name(2), true, 60));  // waits for the slot
  CHECK(sensor_clients(rig) == 1);
  rig.advance(3999ms);  // broker.connect_timeout_ms: 4000 by default
  CHECK_FALSE(connack(rig, 1).has_value());
  CHECK_FALSE(connack(rig, 2).has_value());
  rig.advance(1ms);
  CHECK(connack(rig, 1) == ReturnCode::RejectedCongestion);
  CHECK(connack(rig, 2) == ReturnCode::RejectedCongestion);
  CHECK(rig.runtime->session_count() == 0);
  CHECK(rig.runtime->counters().connack_connect_timeout == 1);
  CHECK(rig.runtime->counters().connack_queue_timeout == 1);
  // The queued connect never started; the one under way was given up (disconnected).
  CHECK(sensor_clients(rig) == 1);
  CHECK(rig.broker.count("disconnect s1") == 1);
  // The slot is free again: the sensor's next CONNECT goes straight through.
  rig.broker.hold_connects = false;
  rig.advance(1000ms);
  rig.connect(sensor(2), name(2));
  CHECK(connack(rig, 1) == std::nullopt);  // no late CONNACK for the given-up one
}

TEST_CASE("broker outage: nobody retries while it is down; all retried once it is back") {
  Rig rig;
  rig.connect(sensor(1), name(1));
  rig.connect(sensor(2), name(2));
  rig.broker.reachable = false;
  rig.link().lose();
  rig.broker.client(name(1))->lose();
  rig.broker.client(name(2))->lose();
  rig.drain();
  CHECK_FALSE(rig.runtime->broker_reachable());
  for (int i = 0; i < 10; ++i) rig.advance(1000ms);
  CHECK(rig.broker.count("retry s1") == 0);
  CHECK(rig.broker.count("retry s2") == 0);
  // The gateway's own client (the probe) gets through: every lost connection is tried at once.
  rig.broker.reachable = true;
  rig.link().back(false);
  rig.drain();
  CHECK(rig.broker.count("retry s1") == 1);
  CHECK(rig.broker.count("retry s2") == 1);
  CHECK(rig.broker.client(name(1))->connected());
  CHECK(rig.runtime->counters().upstream_retries == 2);
  // QoS 1 goes through again.
  rig.receive(sensor(1),
              publish_msg(mqttsn::TopicIdType::Short, 0x6162, mqttsn::QoS::AtLeastOnce, 7, "x"));
  const auto ack = find<mqttsn::PubAck>(rig.sent_to(sensor(1)));
  REQUIRE(ack.has_value());
  CHECK(ack->return_code == ReturnCode::Accepted);
}

TEST_CASE("broker up, one client dropped: retried after reconnect_min, backing off on failure") {
  Rig rig;
  rig.connect(sensor(1), name(1));
  rig.broker.hold_connects = true;
  rig.broker.client(name(1))->lose();
  rig.drain();
  rig.advance(249ms);
  CHECK(rig.broker.count("retry s1") == 0);
  rig.advance(1ms);  // broker.reconnect_min_ms: 250 by default
  CHECK(rig.broker.count("retry s1") == 1);
  rig.broker.client(name(1))->finish_connect(false);
  rig.drain();
  rig.advance(499ms);
  CHECK(rig.broker.count("retry s1") == 1);
  rig.advance(1ms);  // doubled
  CHECK(rig.broker.count("retry s1") == 2);
  rig.broker.client(name(1))->finish_connect(true);
  rig.drain();
  CHECK(rig.broker.client(name(1))->connected());
}
