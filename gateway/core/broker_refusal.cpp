#include "gateway/core/broker_refusal.hpp"

namespace gw {

std::optional<mqttsn::ReturnCode> refusal_return_code(int reason) {
  using mqttsn::ReturnCode;
  if (reason < 0x80 || reason > 0xff) return std::nullopt;
  switch (reason) {
    case 0x89:                                // server busy
    case 0x91:                                // packet identifier in use
    case 0x93:                                // receive maximum exceeded
    case 0x96:                                // message rate too high
    case 0x97:                                // quota exceeded
      return ReturnCode::RejectedCongestion;  // worth trying again later
    case 0x90:  // topic name invalid: the topic id names a topic the broker will not take
      return ReturnCode::RejectedInvalidTopicId;
    default:  // not authorized (0x87), unspecified (0x80), topic filter invalid (0x8F), ...
      return ReturnCode::RejectedNotSupported;
  }
}

mqttsn::ReturnCode subscribe_refusal_return_code(int reason) {
  return refusal_return_code(reason).value_or(mqttsn::ReturnCode::RejectedCongestion);
}

}  // namespace gw
