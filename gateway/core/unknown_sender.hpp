// What the gateway answers a packet from an address it has no session for. Answering every
// packet (a DISCONNECT included) with DISCONNECT lets one spoofed datagram start an endless
// ping-pong between two peers that both do so; answers and acknowledgements are therefore never
// answered. Pure: std and mqttsn only.
#pragma once

#include "mqttsn/messages.hpp"

namespace gw {

// Whether a packet of this type from an unknown sender gets a DISCONNECT (§6.11-style "you have
// no session here, CONNECT again"): only requests a client sends expecting an answer.
constexpr bool answer_unknown_sender(mqttsn::MsgType t) noexcept {
  using mqttsn::MsgType;
  switch (t) {
    case MsgType::WILLTOPIC:
    case MsgType::WILLMSG:
    case MsgType::REGISTER:
    case MsgType::PUBLISH:
    case MsgType::PUBREL:
    case MsgType::SUBSCRIBE:
    case MsgType::UNSUBSCRIBE:
    case MsgType::PINGREQ:
    case MsgType::WILLTOPICUPD:
    case MsgType::WILLMSGUPD:
      return true;
    default:  // DISCONNECT, every ...ACK / ...RESP / ...REQ from the gateway side, ADVERTISE,
              // GWINFO
      return false;
  }
}

}  // namespace gw
