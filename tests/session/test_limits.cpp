// The per-sensor caps of SessionConfig: topic ids, topic length, subscriptions, keep-alive and
// the size of a broker message, each refused with the spec's return code and counted.
#include <memory>

#include "helpers.hpp"

using namespace st;
namespace ev = gw::ev;

namespace {
gw::SessionConfig capped() {
  auto cfg = Sensor::default_config();
  cfg.max_topics = 2;
  cfg.max_topic_length = 8;
  cfg.max_subscriptions = 2;
  cfg.max_keep_alive_s = 100;
  cfg.max_downlink_bytes = 64;
  cfg.limit_counters = std::make_shared<gw::LimitCounters>();
  return cfg;
}
}  // namespace

TEST_CASE("caps: REGISTER beyond max_topics gets congestion, a known name still its id") {
  Sensor s(capped());
  s.connect_plain();
  s.packet(mqttsn::Register{0, 1, "a"});
  s.packet(mqttsn::Register{0, 2, "b"});
  EXPECT_ACTIONS(s.packet(mqttsn::Register{0, 3, "c"}),
                 send(mqttsn::RegAck{0, 3, ReturnCode::RejectedCongestion}));
  EXPECT_ACTIONS(s.packet(mqttsn::Register{0, 4, "a"}),
                 send(mqttsn::RegAck{1, 4, ReturnCode::Accepted}));
  EXPECT_ACTIONS(s.packet(mqttsn::Register{0, 5, "toolong/x"}),
                 send(mqttsn::RegAck{0, 5, ReturnCode::RejectedNotSupported}));
}

TEST_CASE("caps: SUBSCRIBE beyond max_subscriptions or max_topic_length is refused") {
  auto cfg = capped();
  auto counters = cfg.limit_counters;
  Sensor s(cfg);
  s.connect_plain();
  EXPECT_ACTIONS(s.packet(subscribe("a/#", QoS::AtMostOnce, 1)), subscribe_up(1, "a/#", 0));
  EXPECT_ACTIONS(s.packet(subscribe("b/#", QoS::AtMostOnce, 2)), subscribe_up(2, "b/#", 0));
  // Two held (one still awaiting the broker): a third is congestion.
  EXPECT_ACTIONS(s.packet(subscribe("c/#", QoS::AtMostOnce, 3)),
                 send(mqttsn::SubAck{{}, 0, 3, ReturnCode::RejectedCongestion}));
  EXPECT_ACTIONS(s.packet(subscribe("toolong/#", QoS::AtMostOnce, 4)),
                 send(mqttsn::SubAck{{}, 0, 4, ReturnCode::RejectedNotSupported}));
  CHECK(counters->subscriptions == 1);
  CHECK(counters->topic_length == 1);
}

TEST_CASE("caps: keep-alive 0 and above the cap are supervised at max_keep_alive_s") {
  auto cfg = capped();
  auto counters = cfg.limit_counters;
  Sensor s(cfg);
  s.packet(connect("ka0", 0));
  auto acts = s.upstream(ev::UpstreamConnected{false});
  CHECK(s.session.keep_alive_s() == 100);
  CHECK(counters->keep_alive == 1);
  // Lost after 1.5 x 100 s of silence.
  CHECK(has_log(s.after(149s), "lost") == false);
  CHECK(has_log(s.after(2s), "lost"));
  Sensor t(cfg);
  t.packet(connect("ka-small", 30));
  t.upstream(ev::UpstreamConnected{false});
  CHECK(t.session.keep_alive_s() == 30);
}

TEST_CASE("caps: a broker message too big for the sensor is dropped, the next one delivered") {
  auto cfg = capped();
  auto counters = cfg.limit_counters;
  Sensor s(cfg);
  s.connect_plain();
  s.packet(subscribe("a/#", QoS::AtLeastOnce, 1));
  s.upstream(ev::UpstreamSubscribed{1, true, 1});
  auto acts = s.upstream(message("a/b", std::string(100, 'x'), 1));
  CHECK(has_log(acts, "too big"));
  CHECK(counters->downlink_oversized == 1);
  CHECK_FALSE(s.session.in_flight());
  acts = s.upstream(message("a/b", "small", 1));
  CHECK(s.session.in_flight());  // REGISTER of a/b, then the PUBLISH
}
