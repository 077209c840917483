// What a sensor is told when the broker refuses one of its packets (README "Broker refusals").
// MQTT 5 carries a reason code in PUBACK/PUBREC/SUBACK; MQTT 3.1.1 only SUBACK 0x80. Codes below
// 0x80 are not refusals (and 0 stands for "no answer from the broker").
#pragma once

#include <optional>

#include "mqttsn/messages.hpp"

namespace gw {

// The MQTT-SN return code for a broker refusal with this reason code; nullopt if `reason` is not
// a refusal (< 0x80): the message was not refused, only not delivered yet.
std::optional<mqttsn::ReturnCode> refusal_return_code(int reason);

// A refused SUBSCRIBE: the code above, or congestion when the broker did not answer at all.
mqttsn::ReturnCode subscribe_refusal_return_code(int reason);

}  // namespace gw
