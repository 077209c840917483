// Decoding and encoding of MQTT-SN v1.2 frames (spec §5.2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>

#include "mqttsn/messages.hpp"

namespace mqttsn {

// What is wrong with a datagram. Each value names one defect, so a test can
// assert the exact reason and a log line can say it.
enum class DecodeError : std::uint8_t {
  Empty,                // zero bytes
  TruncatedHeader,      // 0x01 length marker without its two octets, or no MsgType
  BadLength,            // Length field smaller than the header it needs (0, 1, 0x01 00 0x02 ...)
  LengthMismatch,       // Length field disagrees with the datagram size
  ReservedType,         // MsgType reserved by the spec (0x03, 0x11, 0x19, 0x1E-0xFD, 0xFF)
  Truncated,            // a fixed field is cut short (`field` names it)
  TrailingBytes,        // longer than a fixed-size message allows
  ReservedTopicIdType,  // Flags TopicIdType 0b11
  EmptyTopic,           // REGISTER / SUBSCRIBE / UNSUBSCRIBE with an empty topic name
  EmptyClientId,        // CONNECT without ClientId
  BadReturnCode,        // ReturnCode above 0x03
  NestedEncapsulation,  // an encapsulated frame that is itself encapsulated
  BadInnerMessage,      // the encapsulated frame does not decode (`inner` says why)
};

struct DecodeFailure {
  DecodeError error = DecodeError::Empty;
  std::optional<MsgType> type;       // the message type, when it was read
  std::string_view field;            // spec field name involved ("TopicId", "Flags", ...) or empty
  std::optional<DecodeError> inner;  // for BadInnerMessage: the inner frame's error
  friend bool operator==(const DecodeFailure&, const DecodeFailure&) = default;
};

using DecodeResult = std::variant<Message, DecodeFailure>;

// Decodes exactly one frame filling the whole datagram. Never throws, never reads out of bounds.
// Checks, in this order (the first defect found is reported):
//  - header: Empty; TruncatedHeader (0x01 marker without 2 octets: field "Length"; no MsgType:
//    "MsgType"); BadLength (Length below 2, or below 4 in the 3-octet form); ReservedType
//    (`type` stays empty, field "MsgType");
//  - Length != datagram size → LengthMismatch. So a datagram cut short, or carrying extra
//    octets, is LengthMismatch; TrailingBytes is reserved for a frame whose Length agrees but
//    which has more octets than its type allows (e.g. a 5-octet PUBREL, a 3-octet DISCONNECT
//    Duration, a 3-octet TopicId in SUBSCRIBE). Truncated means Length agrees but a fixed
//    field is missing (`field` names it, e.g. "MsgId").
//  - Flags: TopicIdType 0b11 → ReservedTopicIdType (field "Flags") in every message carrying
//    Flags (PUBLISH, SUBSCRIBE, UNSUBSCRIBE, and also CONNECT, WILLTOPIC, WILLTOPICUPD, SUBACK
//    where the bits are "not used"): the value is reserved and Flags cannot hold it. All other
//    bits are kept as decoded, used or not, so re-encoding gives the same octet.
//  - Optional fields: GWINFO GwAdd, PINGREQ ClientId, WILLMSG/WILLMSGUPD WillMsg and PUBLISH Data
//    may be empty; DISCONNECT Duration is 0 or 2 octets (1 → Truncated "Duration", 3+ →
//    TrailingBytes); WILLTOPIC/WILLTOPICUPD are either the 2-octet empty form or Flags plus a
//    non-empty WillTopic (Flags alone → EmptyTopic "WillTopic").
//  - EmptyTopic: REGISTER or Normal SUBSCRIBE/UNSUBSCRIBE without TopicName ("TopicName").
//    Predefined/Short SUBSCRIBE/UNSUBSCRIBE carry exactly 2 octets of TopicId.
//  - EmptyClientId: CONNECT without ClientId. Its length (1-23) and ProtocolId (0x01) are not
//    checked here: they decode as sent, and the gateway answers them.
//  - BadReturnCode: ReturnCode 0x04-0xFF (field "ReturnCode").
//  - ENCAPSULATED (§5.5): Length covers Length, MsgType, Ctrl and Wireless Node Id (which may be
//    empty) and must not exceed the datagram (LengthMismatch); no Ctrl → Truncated "Ctrl". The
//    rest is the inner frame: it must be a whole, valid frame (BadInnerMessage with `inner` =
//    its error, field "MQTT-SN message") and not itself ENCAPSULATED (NestedEncapsulation).
DecodeResult decode(std::span<const std::uint8_t> datagram) noexcept;

// Encodes a message; picks the 3-octet Length form when the frame exceeds 255 octets.
// Frames larger than 65535 octets cannot be represented: returns an empty vector.
// For ENCAPSULATED the same rule applies to the part the Length covers; the inner `message`
// bytes are appended as they are. An empty will_topic encodes as the 2-octet empty form (its
// Flags are not sent). Values that decode() would reject (e.g. an empty ClientId) are encoded
// as given; only decoded values are guaranteed to round-trip.
Bytes encode(const Message& m);

// Appends the encoding to `out` (for callers that reuse a buffer). Returns false if too large.
bool encode_into(const Message& m, Bytes& out);

// Framing helper for stream-like links (BLE): the total frame size announced by the header at the
// start of `prefix`, or nullopt if the prefix is too short to say (need 1 or 3 octets) or the
// Length field is implausible (0, 1, or 0x01 followed by a value below 4). For an encapsulated
// frame this is only the encapsulation header; callers use frame_length on what follows.
std::optional<std::size_t> frame_length(std::span<const std::uint8_t> prefix) noexcept;

// Flags octet helpers (§5.3.4), also used by tests.
std::uint8_t encode_flags(const Flags& f) noexcept;
// Fails (nullopt) only for TopicIdType 0b11.
std::optional<Flags> decode_flags(std::uint8_t octet) noexcept;

}  // namespace mqttsn
