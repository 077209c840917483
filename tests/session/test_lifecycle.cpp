// §6.14 client states as the gateway sees them (active, asleep, awake, lost, disconnected), the
// keep-alive (§6.11), will (§6.3, §6.4) and CleanSession=false re-registration.
#include "helpers.hpp"

using namespace st;
using gw::SessionState;
namespace ev = gw::ev;

namespace {

mqttsn::Register reg(std::uint16_t topic_id, std::uint16_t msg_id, std::string name) {
  return mqttsn::Register{topic_id, msg_id, std::move(name)};
}
mqttsn::PubAck puback(std::uint16_t topic_id, std::uint16_t msg_id) {
  return mqttsn::PubAck{topic_id, msg_id, ReturnCode::Accepted};
}
mqttsn::PingReq wake(std::string id = "s1") {
  return mqttsn::PingReq{std::move(id)};
}

// An active sensor "s1" with a will on "dead/s1" and a QoS 1 subscription to "t" (id 1).
void connect_with_will(Sensor& s, std::uint16_t keep_alive = 60, bool clean = true) {
  s.packet(connect("s1", keep_alive, clean, true));
  s.packet(will_topic("dead/s1", QoS::AtLeastOnce, true));
  REQUIRE(render(s.packet(mqttsn::WillMsg{bytes("rip")})) ==
          render(Actions{connect_up("s1", clean, keep_alive, will("dead/s1", "rip", 1, true))}));
  s.upstream(ev::UpstreamConnected{false});
  REQUIRE(s.session.state() == SessionState::Active);
}

}  // namespace

// ---- active -> lost (keep-alive), active -> disconnected

TEST_CASE("active -> lost by keep-alive at 1.5 x the period: the will is published") {
  Sensor s;
  connect_with_will(s, 10);
  EXPECT_ACTIONS(s.after(14999ms));
  auto acts = s.after(1ms);
  EXPECT_ACTIONS(acts, publish_up(1, "dead/s1", "rip", 1, true), disconnect_up(),
                 end_session(true));
  CHECK(has_log(acts, "keep-alive", gw::LogLevel::Warn));
  CHECK(s.session.state() == SessionState::Lost);
  // Nothing more happens to a lost session.
  EXPECT_ACTIONS(s.packet(mqttsn::PingReq{}));
  EXPECT_ACTIONS(s.upstream(message("t", "x", 0)));
}

TEST_CASE("active -> lost without a will: upstream closed, nothing published") {
  Sensor s;
  s.connect_plain("s1", 2);
  EXPECT_ACTIONS(s.after(3s), disconnect_up(), end_session(true));
}

TEST_CASE("keep-alive 0: no supervision") {
  Sensor s;
  s.connect_plain("s1", 0);
  CHECK_FALSE(s.session.next_deadline().has_value());
  EXPECT_ACTIONS(s.after(100000s));
  CHECK(s.session.state() == SessionState::Active);
}

TEST_CASE("active -> disconnected by a clean DISCONNECT: no will") {
  Sensor s;
  connect_with_will(s);
  EXPECT_ACTIONS(s.packet(mqttsn::Disconnect{}), send(mqttsn::Disconnect{}), disconnect_up(),
                 end_session(false));
  CHECK(s.session.state() == SessionState::Disconnected);
  CHECK_FALSE(s.session.next_deadline().has_value());
}

// ---- active -> asleep -> awake -> asleep

TEST_CASE("active -> asleep -> awake -> asleep, nothing buffered: PINGRESP at once") {
  Sensor s;
  connect_with_will(s, 10);
  EXPECT_ACTIONS(s.packet(sleep_for(100)), send(mqttsn::Disconnect{}));
  CHECK(s.session.state() == SessionState::Asleep);
  CHECK(s.session.sleep_duration_s() == 100);
  // Keep-alive is suspended: far beyond 1.5 x 10 s nothing happens.
  EXPECT_ACTIONS(s.after(100s));
  EXPECT_ACTIONS(s.packet(wake()), send(mqttsn::PingResp{}));
  CHECK(s.session.state() == SessionState::Asleep);
  // The sleep timer restarted at the PINGRESP: 110 s from now.
  EXPECT_ACTIONS(s.after(109s));
  CHECK(s.session.state() == SessionState::Asleep);
}

TEST_CASE("asleep: broker messages are buffered, sent in order on wake, PINGRESP last") {
  Sensor s;
  connect_with_will(s);
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.subscribed("w/#", QoS::AtMostOnce, 2, 2, 0);
  s.packet(sleep_for(60));
  EXPECT_ACTIONS(s.upstream(message("t", "m1", 1)));
  EXPECT_ACTIONS(s.upstream(message("w/x", "m2", 0)));
  EXPECT_ACTIONS(s.upstream(message("t", "m3", 1)));
  CHECK(s.session.buffered() == 3);
  EXPECT_ACTIONS(s.after(60s));  // nothing arrives while asleep

  EXPECT_ACTIONS(s.packet(wake()), send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m1")));
  CHECK(s.session.state() == SessionState::Awake);
  // The wildcard topic needs a REGISTER before its QoS 0 message.
  EXPECT_ACTIONS(s.packet(puback(1, 1)), send(reg(2, 2, "w/x")));
  EXPECT_ACTIONS(s.packet(mqttsn::RegAck{2, 2, ReturnCode::Accepted}),
                 send(down(TopicIdType::Normal, 2, QoS::AtMostOnce, 0, "m2")),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 3, "m3")));
  CHECK(s.session.state() == SessionState::Awake);
  // PINGRESP only after the last buffered message is acknowledged.
  EXPECT_ACTIONS(s.packet(puback(1, 3)), send(mqttsn::PingResp{}));
  CHECK(s.session.state() == SessionState::Asleep);
  CHECK(s.session.buffered() == 0);
}

TEST_CASE("awake: a PINGREQ repeated while messages are in flight is not answered early") {
  Sensor s;
  s.connect_plain();
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.packet(sleep_for(60));
  s.upstream(message("t", "m1", 1));
  s.packet(wake());
  EXPECT_ACTIONS(s.packet(wake()));
  EXPECT_ACTIONS(s.packet(puback(1, 1)), send(mqttsn::PingResp{}));
}

TEST_CASE("awake: unanswered buffered message is retransmitted, then the client is lost") {
  Sensor s;
  connect_with_will(s);
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.packet(sleep_for(60));
  s.upstream(message("t", "m1", 1));
  s.packet(wake());
  EXPECT_ACTIONS(s.after(30s), send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m1", true)),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m1", true)),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m1", true)));
  EXPECT_ACTIONS(s.after(10s), publish_up(2, "dead/s1", "rip", 1, true), disconnect_up(),
                 end_session(true));
}

TEST_CASE("going to sleep with a message in flight: it is sent again with DUP on wake") {
  Sensor s;
  s.connect_plain();
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.upstream(message("t", "m1", 1));
  EXPECT_ACTIONS(s.packet(sleep_for(60)), send(mqttsn::Disconnect{}));
  CHECK_FALSE(s.session.in_flight());
  EXPECT_ACTIONS(s.after(50s));  // no retransmission while asleep
  EXPECT_ACTIONS(s.packet(wake()),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m1", true)));
  EXPECT_ACTIONS(s.packet(puback(1, 1)), send(mqttsn::PingResp{}));
}

// ---- asleep -> lost

TEST_CASE("asleep -> lost when the sleep timer expires: duration + 50 % below one minute") {
  Sensor s;
  connect_with_will(s);
  s.packet(sleep_for(20));
  EXPECT_ACTIONS(s.after(29999ms));
  auto acts = s.after(1ms);
  EXPECT_ACTIONS(acts, publish_up(1, "dead/s1", "rip", 1, true), disconnect_up(),
                 end_session(true));
  CHECK(has_log(acts, "sleep timer"));
  CHECK(s.session.state() == SessionState::Lost);
}

TEST_CASE("asleep -> lost: duration + 10 % from one minute up") {
  Sensor s;
  connect_with_will(s);
  s.packet(sleep_for(600));
  EXPECT_ACTIONS(s.after(659s));
  EXPECT_ACTIONS(s.after(1s), publish_up(1, "dead/s1", "rip", 1, true), disconnect_up(),
                 end_session(true));
}

TEST_CASE("asleep: a repeated sleep DISCONNECT is answered again and harmless") {
  Sensor s;
  s.connect_plain();
  s.packet(sleep_for(100));
  EXPECT_ACTIONS(s.after(50s));
  EXPECT_ACTIONS(s.packet(sleep_for(100)), send(mqttsn::Disconnect{}));
  CHECK(s.session.state() == SessionState::Asleep);
  EXPECT_ACTIONS(s.after(100s));  // the timer restarted: 110 s from the repeat
  EXPECT_ACTIONS(s.after(10s), disconnect_up(), end_session(true));
}

TEST_CASE("asleep: another DISCONNECT with a new duration changes the sleep timer") {
  Sensor s;
  s.connect_plain();
  s.packet(sleep_for(100));
  EXPECT_ACTIONS(s.packet(sleep_for(10)), send(mqttsn::Disconnect{}));
  CHECK(s.session.sleep_duration_s() == 10);
  EXPECT_ACTIONS(s.after(14s));
  EXPECT_ACTIONS(s.after(1s), disconnect_up(), end_session(true));
}

TEST_CASE("asleep -> disconnected by a DISCONNECT without duration: no will") {
  Sensor s;
  connect_with_will(s);
  s.packet(sleep_for(100));
  EXPECT_ACTIONS(s.packet(mqttsn::Disconnect{}), send(mqttsn::Disconnect{}), disconnect_up(),
                 end_session(false));
}

TEST_CASE("asleep: other packets are ignored until the client wakes or connects") {
  Sensor s;
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "t"});
  s.packet(sleep_for(100));
  auto acts = s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "x"));
  EXPECT_ACTIONS(acts);
  CHECK(has_log(acts, "while asleep"));
}

// ---- buffer bound

TEST_CASE("buffer full: the oldest QoS 0 message goes first, then the oldest; drops counted") {
  auto cfg = Sensor::default_config();
  cfg.max_buffered = 3;
  Sensor s(cfg);
  s.connect_plain();
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.packet(sleep_for(100));
  s.upstream(message("t", "a1", 1));
  s.upstream(message("t", "b0", 0));
  s.upstream(message("t", "c1", 1));
  auto acts = s.upstream(message("t", "d1", 1));  // full: b0 (QoS 0) is dropped, not a1
  EXPECT_ACTIONS(acts);
  CHECK(has_log(acts, "dropped a QoS 0 message", gw::LogLevel::Warn));
  CHECK(s.session.dropped() == 1);
  acts = s.upstream(message("t", "e1", 1));  // no QoS 0 left: the oldest (a1) goes
  CHECK(has_log(acts, "dropped a QoS 1 message"));
  CHECK(s.session.dropped() == 2);
  CHECK(s.session.buffered() == 3);
  EXPECT_ACTIONS(s.packet(wake()), send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "c1")));
  EXPECT_ACTIONS(s.packet(puback(1, 1)),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 2, "d1")));
  EXPECT_ACTIONS(s.packet(puback(1, 2)),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 3, "e1")));
  EXPECT_ACTIONS(s.packet(puback(1, 3)), send(mqttsn::PingResp{}));
}

// ---- asleep / awake -> active by CONNECT

TEST_CASE("asleep -> active by CONNECT: the buffer is still delivered") {
  Sensor s;
  s.connect_plain("s1", 60, false);
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.packet(sleep_for(100));
  s.upstream(message("t", "m1", 1));
  s.upstream(message("t", "m2", 0));
  // CleanSession=false: the client may have forgotten id 1, so it is REGISTERed again first.
  EXPECT_ACTIONS(s.packet(connect("s1", 60, false)), send(mqttsn::ConnAck{}), send(reg(1, 1, "t")));
  CHECK(s.session.state() == SessionState::Active);
  EXPECT_ACTIONS(s.packet(mqttsn::RegAck{1, 1, ReturnCode::Accepted}),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 2, "m1")));
  EXPECT_ACTIONS(s.packet(puback(1, 2)),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "m2")));
  // Active again: keep-alive supervised, PINGREQ answered directly.
  EXPECT_ACTIONS(s.packet(mqttsn::PingReq{}), send(mqttsn::PingResp{}));
  EXPECT_ACTIONS(s.after(90s), disconnect_up(), end_session(true));
}

TEST_CASE("awake -> active by CONNECT: the rest of the buffer is delivered, no PINGRESP") {
  Sensor s;
  s.connect_plain("s1", 60, false);
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.packet(sleep_for(100));
  s.upstream(message("t", "m1", 1));
  s.upstream(message("t", "m2", 1));
  EXPECT_ACTIONS(s.packet(wake()), send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m1")));
  // m1 unacknowledged, the client CONNECTs: m1 is re-sent (DUP) after the re-REGISTER.
  EXPECT_ACTIONS(s.packet(connect("s1", 60, false)), send(mqttsn::ConnAck{}), send(reg(1, 2, "t")));
  EXPECT_ACTIONS(s.packet(mqttsn::RegAck{1, 2, ReturnCode::Accepted}),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m1", true)));
  EXPECT_ACTIONS(s.packet(puback(1, 1)),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 3, "m2")));
  EXPECT_ACTIONS(s.packet(puback(1, 3)));
  CHECK(s.session.state() == SessionState::Active);
}

TEST_CASE("CleanSession=false reconnect: names are REGISTERed again before delivery") {
  Sensor s;
  s.connect_plain("s1", 60, false);
  s.subscribed("a/b", QoS::AtMostOnce, 1, 1, 1);
  EXPECT_ACTIONS(s.upstream(message("a/b", "1", 0)),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "1")));
  EXPECT_ACTIONS(s.packet(connect("s1", 60, false)), send(mqttsn::ConnAck{}));
  CHECK(s.session.subscription_count() == 1);
  EXPECT_ACTIONS(s.upstream(message("a/b", "2", 0)), send(reg(1, 1, "a/b")));
  EXPECT_ACTIONS(s.packet(mqttsn::RegAck{1, 1, ReturnCode::Accepted}),
                 send(down(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "2")));
  // The client's own registrations also survive: its id 1 still means a/b.
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtMostOnce, 0, "up")),
                 publish_up(0, "a/b", "up", 0));
}

// ---- will updates (§6.4)

TEST_CASE(
    "WILLTOPICUPD / WILLMSGUPD: answered, the new will goes upstream, subscriptions renewed") {
  Sensor s;
  connect_with_will(s);
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  mqttsn::WillTopicUpd tu;
  tu.flags.qos = QoS::AtMostOnce;
  tu.will_topic = "dead/new";
  EXPECT_ACTIONS(s.packet(tu), send(mqttsn::WillTopicResp{ReturnCode::Accepted}),
                 reconnect_up(will("dead/new", "rip", 0, false)));
  CHECK(s.session.state() == SessionState::Active);
  EXPECT_ACTIONS(s.upstream(ev::UpstreamConnected{false}), subscribe_up(2, "t", 1));
  EXPECT_ACTIONS(s.packet(mqttsn::WillMsgUpd{bytes("bye")}),
                 send(mqttsn::WillMsgResp{ReturnCode::Accepted}),
                 reconnect_up(will("dead/new", "bye", 0, false)));
  // The updated will is the one published when the client is lost.
  EXPECT_ACTIONS(s.after(90s), publish_up(0, "dead/new", "bye", 0, false), disconnect_up(),
                 end_session(true));
}

TEST_CASE("an empty WILLTOPICUPD deletes the will: nothing published when lost") {
  Sensor s;
  connect_with_will(s);
  EXPECT_ACTIONS(s.packet(mqttsn::WillTopicUpd{}),
                 send(mqttsn::WillTopicResp{ReturnCode::Accepted}), reconnect_up(std::nullopt));
  CHECK_FALSE(s.session.will().has_value());
  // Deleting again changes nothing: no second reconnect.
  EXPECT_ACTIONS(s.packet(mqttsn::WillTopicUpd{}),
                 send(mqttsn::WillTopicResp{ReturnCode::Accepted}));
  EXPECT_ACTIONS(s.packet(mqttsn::WillMsgUpd{bytes("x")}),
                 send(mqttsn::WillMsgResp{ReturnCode::RejectedNotSupported}));
  EXPECT_ACTIONS(s.after(90s), disconnect_up(), end_session(true));
}

TEST_CASE("WILLTOPICUPD creates a will where there was none") {
  Sensor s;
  s.connect_plain();
  mqttsn::WillTopicUpd tu;
  tu.flags.retain = true;
  tu.will_topic = "w";
  EXPECT_ACTIONS(s.packet(tu), send(mqttsn::WillTopicResp{ReturnCode::Accepted}),
                 reconnect_up(will("w", "", 0, true)));
  mqttsn::WillTopicUpd bad;
  bad.will_topic = "w/+";
  EXPECT_ACTIONS(s.packet(bad), send(mqttsn::WillTopicResp{ReturnCode::RejectedNotSupported}));
}

// ---- remaining §6.14 edges

TEST_CASE("awake -> disconnected by a DISCONNECT without duration: buffer dropped, no will") {
  Sensor s;
  connect_with_will(s);
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.packet(sleep_for(100));
  s.upstream(message("t", "m1", 1));
  s.upstream(message("t", "m2", 1));
  s.packet(wake());
  auto acts = s.packet(mqttsn::Disconnect{});
  EXPECT_ACTIONS(acts, send(mqttsn::Disconnect{}), disconnect_up(), end_session(false));
  CHECK(has_log(acts, "1 buffered messages dropped"));
  CHECK(s.session.state() == SessionState::Disconnected);
}

TEST_CASE("awake -> asleep by a sleep DISCONNECT: the rest waits for the next wake") {
  Sensor s;
  s.connect_plain();
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.packet(sleep_for(100));
  s.upstream(message("t", "m1", 1));
  s.upstream(message("t", "m2", 1));
  s.packet(wake());
  EXPECT_ACTIONS(s.packet(sleep_for(100)), send(mqttsn::Disconnect{}));
  CHECK(s.session.state() == SessionState::Asleep);
  CHECK(s.session.buffered() == 2);
  EXPECT_ACTIONS(s.after(100s));  // no retransmission while asleep
  EXPECT_ACTIONS(s.packet(wake()),
                 send(down(TopicIdType::Normal, 1, QoS::AtLeastOnce, 1, "m1", true)));
}

TEST_CASE("a DISCONNECT with duration 0 is a plain DISCONNECT") {
  Sensor s;
  s.connect_plain();
  EXPECT_ACTIONS(s.packet(sleep_for(0)), send(mqttsn::Disconnect{}), disconnect_up(),
                 end_session(false));
}

TEST_CASE("messages arriving before CONNACK are delivered after it") {
  Sensor s;
  s.packet(connect("s1", 60, false));
  // A broker session (CleanSession=false) may deliver as soon as it is connected.
  EXPECT_ACTIONS(s.upstream(message("ab", "early", 1)));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamConnected{true}), send(mqttsn::ConnAck{}),
                 send(down(TopicIdType::Short, 0x6162, QoS::AtLeastOnce, 1, "early")));
}

// ---- disconnected -> active (CleanSession=false session kept by the runtime)

TEST_CASE("CleanSession=false: after a clean DISCONNECT the next CONNECT resumes the session") {
  Sensor s;
  s.connect_plain("s1", 60, false);
  EXPECT_ACTIONS(s.packet(mqttsn::Register{0, 1, "a/b"}),
                 send(mqttsn::RegAck{1, 1, ReturnCode::Accepted}));
  s.subscribed("s/t", QoS::AtLeastOnce, 2, 1, 2);
  EXPECT_ACTIONS(s.packet(mqttsn::Disconnect{}), send(mqttsn::Disconnect{}), disconnect_up(),
                 end_session(false));
  CHECK(s.session.state() == SessionState::Disconnected);
  // Its upstream client was closed: a new one is opened, and the CONNACK waits for it.
  EXPECT_ACTIONS(s.packet(connect("s1", 30, false)), connect_up("s1", false, 30));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamConnected{true}), send(mqttsn::ConnAck{}));
  CHECK(s.session.state() == SessionState::Active);
  // The client's topic id is still valid...
  EXPECT_ACTIONS(s.packet(publish(TopicIdType::Normal, 1, QoS::AtLeastOnce, 5, "v")),
                 publish_up(2, "a/b", "v", 1));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamDelivered{2}),
                 send(mqttsn::PubAck{1, 5, ReturnCode::Accepted}));
  // ...its subscription too, and the gateway REGISTERs the name again before using its id.
  CHECK(s.session.subscription_count() == 1);
  EXPECT_ACTIONS(s.upstream(message("s/t", "d", 1)), send(mqttsn::Register{2, 1, "s/t"}));
}

TEST_CASE("CleanSession=false: messages buffered while asleep survive DISCONNECT and resume") {
  Sensor s;
  s.connect_plain("s1", 60, false);
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.packet(sleep_for(100));
  s.upstream(message("t", "m1", 1));
  auto acts = s.packet(mqttsn::Disconnect{});
  CHECK(has_log(acts, "1 buffered messages kept"));
  s.packet(connect("s1", 60, false));
  EXPECT_ACTIONS(s.upstream(ev::UpstreamConnected{true}), send(mqttsn::ConnAck{}),
                 send(mqttsn::Register{1, 1, "t"}));
}

TEST_CASE("CleanSession=true: a clean DISCONNECT drops what was buffered") {
  Sensor s;
  s.connect_plain("s1", 60, true);
  s.subscribed("t", QoS::AtLeastOnce, 1, 1, 1);
  s.packet(sleep_for(100));
  s.upstream(message("t", "m1", 1));
  auto acts = s.packet(mqttsn::Disconnect{});
  CHECK(has_log(acts, "1 buffered messages dropped"));
  CHECK(s.session.buffered() == 0);
}

TEST_CASE("a lost session stays lost: a CONNECT to it is ignored (the runtime starts afresh)") {
  Sensor s;
  s.connect_plain("s1", 2, false);
  s.after(3s);
  REQUIRE(s.session.state() == SessionState::Lost);
  EXPECT_ACTIONS(s.packet(connect("s1", 60, false)));
}
