// Timer formulas and checks the session's files share (pure).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "gateway/core/session_types.hpp"
#include "mqttsn/messages.hpp"
#include "mqttsn/topic.hpp"

namespace gw::session_rules {

inline Clock::duration seconds_ms(std::uint16_t s) {
  return std::chrono::milliseconds(std::int64_t{s} * 1000);
}

// §7.2: the gateway's timers are 10 % above the announced duration, 50 % for durations below
// one minute (docs/design.md: keep-alive is supervised at 1.5 x the period).
inline Clock::duration sleep_timeout(std::uint16_t s) {
  return s < 60 ? seconds_ms(s) * 3 / 2 : seconds_ms(s) * 11 / 10;
}
inline Clock::duration keep_alive_timeout(std::uint16_t s) {
  return seconds_ms(s) * 3 / 2;
}

inline bool valid_will(const mqttsn::Flags& f, const std::string& topic) {
  return f.qos != mqttsn::QoS::MinusOne && mqttsn::valid_topic_name(topic);
}

}  // namespace gw::session_rules
