// Client-to-broker: REGISTER (§6.5), PUBLISH QoS 0/1/2 (§6.6), predefined and short topics (§6.7).
#include "helpers.hpp"

using namespace st;
namespace ev = gw::ev;

TEST_CASE("REGISTER: ids per client from 1, the same name keeps its id") {
  Sensor s;
  s.connect_plain();
  EXPECT_ACTIONS(s.packet(mqttsn::Register{0, 1, "a/b"}),
                 send(mqttsn::RegAck{1, 1, ReturnCode::Accepted}));
  EXPECT_ACTIONS(s.packet(mqttsn::Register{0, 2, "a/c"}),
                 send(mqttsn::RegAck{2, 2, ReturnCode::Accepted}));
  EXPECT_ACTIONS(s.packet(mqttsn::Register{0, 3, "a/b"}),
                 send(mqttsn::RegAck{1, 3, ReturnCode::Accepted}));
}

TEST_CASE("REGISTER: two clients get ids independently (§7.3)") {
  Sensor a, b;
  a.connect_plain("a");
  b.connect_plain("b");
  a.packet(mqttsn::Register{0, 1, "x/1"});
  EXPECT_ACTIONS(b.packet(mqttsn::Register{0, 1, "y/1"}),
                 send(mqttsn::RegAck{1, 1, ReturnCode::Accepted}));
  // b's id 1 is y/1, never a's x/1.
  EXPECT_ACTIONS(b.packet(publish(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "v")),
                 publish_up(0, "y/1", "v", 0));
}

TEST_CASE("REGISTER: a wildcard name is refused") {
  Sensor s;
  s.connect_plain();
  EXPECT_ACTIONS(s.packet(mqttsn::Register{0, 4, "a/+"}),
                 send(mqttsn::RegAck{0, 4, ReturnCode::RejectedNotSupported}));
}

TEST_CASE("PUBLISH QoS 0 on a registered id goes upstream with token 0, retain passed through") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t/temp"});
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "21")),
                 publish_up(0, "t/temp", "21", 0, false));
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "22", false, true)),
                 publish_up(0, "t/temp", "22", 0, true));
}

TEST_CASE("PUBLISH QoS 1: PUBACK only when the broker acknowledged") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t/temp"});
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 5, "21", false, true)),
                 publish_up(1, "t/temp", "21", 1, true));
  // The sensor repeats it before the broker answered: not forwarded twice.
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 5, "21", true, true)));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamDelivered{1}),
                 send(mqttsn::PubAck{1, 5, ReturnCode::Accepted}));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamDelivered{1}));  // once only
}

TEST_CASE("PUBLISH QoS 1 that the broker never got: no PUBACK, the sensor's retry goes upstream") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t"});
  s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 5, "x"));
  auto a = s.upstream(ev::UpstreamPublishFailed{1});
  EXPECT_ACTIONS(a);
  CHECK(has_log(a, "failed"));
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 5, "x", true)),
                 publish_up(2, "t", "x", 1));
}

TEST_CASE("upstream down: QoS 1/2 PUBLISH answered PUBACK congestion at once and counted") {
  auto cfg = Sensor::default_config();
  cfg.limit_counters = std::make_shared<gw::LimitCounters>();
  Sensor s(cfg);
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t"});
  s.upstream(ev::UpstreamLost{"down"});
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 2, "x")),
                 send(mqttsn::PubAck{1, 2, ReturnCode::RejectedCongestion}));
  // §5.4.13: PUBACK also answers a refused QoS 2 PUBLISH; it is not remembered as received.
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::ExactlyOnce, 3, "y")),
                 send(mqttsn::PubAck{1, 3, ReturnCode::RejectedCongestion}));
  CHECK(cfg.limit_counters->uplink_congestion == 2);
  // QoS 0 is not acknowledged: it still goes to the upstream, which counts it if it drops it.
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "z")),
                 publish_up(0, "t", "z", 0));
  EXPECT_ACTIONS(s.packet(mqttsn::PingReq{}), send(mqttsn::PingResp{}));
  s.upstream(ev::UpstreamConnected{true});
  // Back up: the sensor's resend is forwarded and acknowledged once delivered.
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 4, "x")),
                 publish_up(1, "t", "x", 1));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamDelivered{1}),
                 send(mqttsn::PubAck{1, 4, ReturnCode::Accepted}));
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::ExactlyOnce, 3, "y")),
                 publish_up(2, "t", "y", 2));
  CHECK(cfg.limit_counters->uplink_congestion == 2);
}

TEST_CASE("upstream lost with a QoS 1 PUBLISH in flight: acknowledged once delivered") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t"});
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 2, "x")),
                 publish_up(1, "t", "x", 1));
  s.upstream(ev::UpstreamLost{"down"});
  // The sensor's retry of the message in flight is neither refused nor forwarded twice.
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 2, "x", true)));
  s.upstream(ev::UpstreamConnected{true});
  EXPECT_ACTIONS(s.upstream(ev::UpstreamDelivered{1}),
                 send(mqttsn::PubAck{1, 2, ReturnCode::Accepted}));
}

TEST_CASE(
    "PUBLISH QoS 2: PUBREC once the broker has it, a DUP before PUBREL is not forwarded again") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t"});
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::ExactlyOnce, 7, "once")),
                 publish_up(1, "t", "once", 2));
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::ExactlyOnce, 7, "once", true)));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamDelivered{1}), send(mqttsn::PubRec{7}));
  // PUBREC lost on the radio: the sensor sends the PUBLISH again; answered, not forwarded.
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::ExactlyOnce, 7, "once", true)),
                 send(mqttsn::PubRec{7}));
  EXPECT_ACTIONS(s.packet(mqttsn::PubRel{7}), send(mqttsn::PubComp{7}));
  // PUBCOMP lost: PUBREL again is answered again.
  EXPECT_ACTIONS(s.packet(mqttsn::PubRel{7}), send(mqttsn::PubComp{7}));
  // After the exchange the MsgId may be reused for a new message.
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::ExactlyOnce, 7, "twice")),
                 publish_up(2, "t", "twice", 2));
}

TEST_CASE("PUBLISH QoS 2 that the broker never got: no PUBREC, the retry is forwarded") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t"});
  s.packet(publish(TopicIdType::Normal, 1, QoS::ExactlyOnce, 7, "m"));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamPublishFailed{1}));
  EXPECT_ACTIONS(s.packet(mqttsn::PubRel{7}), send(mqttsn::PubComp{7}));  // unknown: completes
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::ExactlyOnce, 7, "m", true)),
                 publish_up(2, "t", "m", 2));
}

TEST_CASE("PUBREL before the broker acknowledged is not completed") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t"});
  s.packet(publish(TopicIdType::Normal, 1, QoS::ExactlyOnce, 7, "m"));
  EXPECT_ACTIONS(s.packet(mqttsn::PubRel{7}));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamDelivered{1}), send(mqttsn::PubRec{7}));
  EXPECT_ACTIONS(s.packet(mqttsn::PubRel{7}), send(mqttsn::PubComp{7}));
}

TEST_CASE("PUBLISH on an unknown topic id: PUBACK 0x02 for QoS 1/2, dropped for QoS 0") {
  Sensor s;
  s.connect_plain();
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 9, QoS::AtLeastOnce, 1, "x")),
                 send(mqttsn::PubAck{9, 1, ReturnCode::RejectedInvalidTopicId}));
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 9, QoS::ExactlyOnce, 2, "x")),
                 send(mqttsn::PubAck{9, 2, ReturnCode::RejectedInvalidTopicId}));
  auto a = s.packet(publish(TopicIdType::Normal, 9, QoS::AtMostOnce, 0, "x"));
  EXPECT_ACTIONS(a);
  CHECK(has_log(a, "unknown"));
  // An unknown predefined id is as invalid (§6.7).
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Predefined, 99, QoS::AtLeastOnce, 3, "x")),
                 send(mqttsn::PubAck{99, 3, ReturnCode::RejectedInvalidTopicId}));
  // Ids 0 and 0xFFFF are never valid.
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 0, QoS::AtLeastOnce, 4, "x")),
                 send(mqttsn::PubAck{0, 4, ReturnCode::RejectedInvalidTopicId}));
}

TEST_CASE("PUBLISH on predefined and short topics needs no REGISTER") {
  Sensor s;
  s.connect_plain();
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Predefined, 1, QoS::AtLeastOnce, 1, "p")),
                 publish_up(1, "sensors/predefined/one", "p", 1));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamDelivered{1}),
                 send(mqttsn::PubAck{1, 1, ReturnCode::Accepted}));
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Short, 0x7A31, QoS::AtMostOnce, 0, "s")),
                 publish_up(0, "z1", "s", 0));
  // A "short topic" that is not a valid topic name is not forwarded.
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Short, 0x612B, QoS::AtLeastOnce, 2, "s")),
                 send(mqttsn::PubAck{0x612B, 2, ReturnCode::RejectedInvalidTopicId}));
}

TEST_CASE("PUBLISH QoS -1 reaching a session is forwarded as QoS 0") {
  Sensor s;
  s.connect_plain();
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Predefined, 7, QoS::MinusOne, 0, "q")),
                 publish_up(0, "cmd/seven", "q", 0));
}

TEST_CASE("any packet keeps an active sensor alive; PINGREQ answered") {
  Sensor s;
  s.connect_plain("s1", 10);  // lost after 15 s of silence
  EXPECT_ACTIONS(s.after(14s));
  s.packet(mqttsn::Register{0, 1, "t"});
  EXPECT_ACTIONS(s.after(14s));
  EXPECT_ACTIONS(s.packet(mqttsn::PingReq{}), send(mqttsn::PingResp{}));
  EXPECT_ACTIONS(s.after(14s));
  CHECK(s.session.state() == gw::SessionState::Active);
}

TEST_CASE("order: the sensor's own QoS 1 PUBLISH is acknowledged before the broker's echo of it") {
  Sensor s;
  s.connect_plain();
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 2, "x")),
                 publish_up(2, "t", "x", 1));
  // mosquitto delivers the echo before its PUBACK: held while the PUBLISH awaits the broker.
  EXPECT_ACTIONS(s.upstream(message("t", "x", 1)));
  EXPECT_ACTIONS(s.upstream(message("t", "later", 0)));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamDelivered{2}),
                 send(mqttsn::PubAck{1, 2, ReturnCode::Accepted}),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "x")));
  EXPECT_ACTIONS(s.packet(mqttsn::PubAck{1, 1, ReturnCode::Accepted}),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "later")));
}

TEST_CASE("order: QoS 2 PUBREC first; a failed upstream PUBLISH releases the held downlink") {
  Sensor s;
  s.connect_plain();
  s.subscribed("t", QoS::AtMostOnce, 1, 1, 1);
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::ExactlyOnce, 2, "x")),
                 publish_up(2, "t", "x", 2));
  EXPECT_ACTIONS(s.upstream(message("t", "x", 2)));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamDelivered{2}), send(mqttsn::PubRec{2}),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "x")));
  // Held while a QoS 1 PUBLISH is pending, released when it fails (the sensor will retry).
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 3, "y")),
                 publish_up(3, "t", "y", 1));
  EXPECT_ACTIONS(s.upstream(message("t", "z", 0)));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamPublishFailed{3}),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "z")));
  // QoS 0 uplink holds nothing.
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "q")),
                 publish_up(0, "t", "q", 0));
  EXPECT_ACTIONS(s.upstream(message("t", "q", 0)),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "q")));
}

TEST_CASE("order: downlink held behind a pending PUBLISH stays within the buffer cap") {
  auto cfg = Sensor::default_config();
  cfg.max_buffered = 2;
  Sensor s(cfg);
  s.connect_plain();
  s.subscribed("t", QoS::AtMostOnce, 1, 1, 1);
  s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 2, "x"));
  for (const char* v : {"a", "b", "c"}) EXPECT_ACTIONS(s.upstream(message("t", v, 0)));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamDelivered{2}),
                 send(mqttsn::PubAck{1, 2, ReturnCode::Accepted}),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "b")),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "c")));
}

TEST_CASE("the runtime's packet path: appends to its action list and moves the PUBLISH payload") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t/a-topic-name-longer-than-sso"});
  Actions out;
  out.emplace_back(gw::act::DisconnectUpstream{});  // what the caller had: kept, not cleared
  mqttsn::Message m =
      publish(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "payload of 32 octets..........");
  s.session.on_packet(std::move(m), s.now, out);
  EXPECT_ACTIONS(
      out, disconnect_up(),
      publish_up(0, "t/a-topic-name-longer-than-sso", "payload of 32 octets..........", 0));
  // Moved, not copied: the packet no longer holds it (the upstream client makes the one copy).
  CHECK(std::get<mqttsn::Publish>(m).data.empty());  // NOLINT(bugprone-use-after-move)

  // QoS 1 moves it too; a packet given by const reference keeps its payload.
  mqttsn::Message q1 = publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 7, "v1");
  out.clear();
  s.session.on_packet(std::move(q1), s.now, out);
  EXPECT_ACTIONS(out, publish_up(1, "t/a-topic-name-longer-than-sso", "v1", 1));
  CHECK(std::get<mqttsn::Publish>(q1).data.empty());  // NOLINT(bugprone-use-after-move)
  const mqttsn::Message kept = publish(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "v2");
  EXPECT_ACTIONS(s.packet(kept), publish_up(0, "t/a-topic-name-longer-than-sso", "v2", 0));
  CHECK(std::get<mqttsn::Publish>(kept).data == bytes("v2"));
}

TEST_CASE("the packet path keeps the revision rule: uplink PUBLISH changes nothing stored") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t/x"});
  const auto rev = s.session.revision();
  Actions out;
  s.session.on_packet(mqttsn::Message{publish(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "1")},
                      s.now, out);
  CHECK(s.session.revision() == rev);
  s.session.on_packet(mqttsn::Message{mqttsn::Register{0, 2, "t/y"}}, s.now, out);
  CHECK(s.session.revision() > rev);
}
