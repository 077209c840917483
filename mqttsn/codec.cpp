// MQTT-SN v1.2 frame codec (spec §5.2-§5.5). Decoding is strict: every octet of the datagram
// must belong to a field of the message's table, and each defect has its own DecodeError.
#include "mqttsn/codec.hpp"

#include <type_traits>

namespace mqttsn {
namespace {

constexpr std::uint8_t kLongLengthMarker = 0x01;  // §5.2.1: first octet 0x01 → 3-octet Length
constexpr std::size_t kMaxShortFrame = 0xFF;
constexpr std::size_t kMaxFrame = 0xFFFF;
constexpr std::uint8_t kMaxReturnCode = 0x03;  // §5.3.10: 0x04-0xFF reserved

// Flags octet layout (§5.3.4, Table 4).
constexpr std::uint8_t kDupBit = 0x80;
constexpr unsigned kQosShift = 5;
constexpr std::uint8_t kQosMask = 0x03;
constexpr std::uint8_t kRetainBit = 0x10;
constexpr std::uint8_t kWillBit = 0x08;
constexpr std::uint8_t kCleanSessionBit = 0x04;
constexpr std::uint8_t kTopicIdTypeMask = 0x03;

DecodeFailure failure(DecodeError e, std::optional<MsgType> t = std::nullopt,
                      std::string_view field = {}) noexcept {
  DecodeFailure f;
  f.error = e;
  f.type = t;
  f.field = field;
  return f;
}

bool is_defined_type(std::uint8_t t) noexcept {
  switch (t) {
    case 0x03:
    case 0x11:
    case 0x19:
    case 0xFF:
      return false;
    default:
      return t <= 0x1D || t == 0xFE;
  }
}

// The Length/MsgType header (§5.2) of a frame.
struct Header {
  std::size_t length = 0;      // value of the Length field
  std::size_t header_len = 0;  // octets of Length + MsgType (2 or 4)
  MsgType type = MsgType::ADVERTISE;
};

// Reads the header; checks nothing about the datagram size beyond the header itself.
std::variant<Header, DecodeFailure> read_header(std::span<const std::uint8_t> d) noexcept {
  if (d.empty()) return failure(DecodeError::Empty);
  Header h;
  std::size_t length_len = 1;
  if (d[0] == kLongLengthMarker) {
    if (d.size() < 3) return failure(DecodeError::TruncatedHeader, std::nullopt, "Length");
    length_len = 3;
    h.length = (std::size_t{d[1]} << 8) | d[2];
  } else {
    h.length = d[0];
  }
  h.header_len = length_len + 1;
  if (h.length < h.header_len) return failure(DecodeError::BadLength, std::nullopt, "Length");
  if (d.size() < h.header_len)
    return failure(DecodeError::TruncatedHeader, std::nullopt, "MsgType");
  const std::uint8_t t = d[length_len];
  if (!is_defined_type(t)) return failure(DecodeError::ReservedType, std::nullopt, "MsgType");
  h.type = static_cast<MsgType>(t);
  return h;
}

// Cursor over the variable part of one message. The first defect found is kept in `error`.
class Body {
 public:
  Body(MsgType t, std::span<const std::uint8_t> b) noexcept : type_(t), b_(b) {}

  bool u8(std::uint8_t& out, std::string_view field) noexcept {
    if (left() < 1) return fail(DecodeError::Truncated, field);
    out = b_[pos_++];
    return true;
  }
  bool u16(std::uint16_t& out, std::string_view field) noexcept {
    if (left() < 2) return fail(DecodeError::Truncated, field);
    out = static_cast<std::uint16_t>((b_[pos_] << 8) | b_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool flags(Flags& out) noexcept {
    std::uint8_t octet = 0;
    if (!u8(octet, "Flags")) return false;
    const auto f = decode_flags(octet);
    if (!f) return fail(DecodeError::ReservedTopicIdType, "Flags");
    out = *f;
    return true;
  }
  bool return_code(ReturnCode& out) noexcept {
    std::uint8_t octet = 0;
    if (!u8(octet, "ReturnCode")) return false;
    if (octet > kMaxReturnCode) return fail(DecodeError::BadReturnCode, "ReturnCode");
    out = static_cast<ReturnCode>(octet);
    return true;
  }
  Bytes rest_bytes() {
    Bytes out(b_.begin() + static_cast<std::ptrdiff_t>(pos_), b_.end());
    pos_ = b_.size();
    return out;
  }
  std::string rest_string() {
    std::string out(b_.begin() + static_cast<std::ptrdiff_t>(pos_), b_.end());
    pos_ = b_.size();
    return out;
  }
  std::size_t left() const noexcept { return b_.size() - pos_; }
  bool fail(DecodeError e, std::string_view field) noexcept {
    error = failure(e, type_, field);
    return false;
  }

  // A message is complete: anything left over is a defect.
  template <class M>
  DecodeResult done(M&& m) {
    if (left() != 0) return failure(DecodeError::TrailingBytes, type_);
    return Message{std::forward<M>(m)};
  }

  DecodeFailure error;

 private:
  MsgType type_;
  std::span<const std::uint8_t> b_;
  std::size_t pos_ = 0;
};

// WILLTOPIC and WILLTOPICUPD share a layout, including the empty 2-octet form.
template <class M>
DecodeResult decode_will_topic(Body& r) {
  M m;
  if (r.left() == 0) return r.done(std::move(m));  // empty form: delete the will
  if (!r.flags(m.flags)) return r.error;
  m.will_topic = r.rest_string();
  // Flags with no WillTopic cannot be told apart from the empty form once decoded.
  if (m.will_topic.empty()) {
    r.fail(DecodeError::EmptyTopic, "WillTopic");
    return r.error;
  }
  return r.done(std::move(m));
}

// SUBSCRIBE and UNSUBSCRIBE share Table 19.
template <class M>
DecodeResult decode_topic_request(Body& r) {
  M m;
  if (!r.flags(m.flags) || !r.u16(m.msg_id, "MsgId")) return r.error;
  if (m.flags.topic_id_type == TopicIdType::Normal) {
    m.topic_name = r.rest_string();
    if (m.topic_name.empty()) {
      r.fail(DecodeError::EmptyTopic, "TopicName");
      return r.error;
    }
    return r.done(std::move(m));
  }
  if (!r.u16(m.topic_id, "TopicId")) return r.error;
  return r.done(std::move(m));
}

// Decodes the variable part of a non-encapsulated message.
DecodeResult decode_body(MsgType type, std::span<const std::uint8_t> body) {
  Body r(type, body);
  switch (type) {
    case MsgType::ADVERTISE: {
      Advertise m;
      if (!r.u8(m.gw_id, "GwId") || !r.u16(m.duration, "Duration")) return r.error;
      return r.done(m);
    }
    case MsgType::SEARCHGW: {
      SearchGw m;
      if (!r.u8(m.radius, "Radius")) return r.error;
      return r.done(m);
    }
    case MsgType::GWINFO: {
      GwInfo m;
      if (!r.u8(m.gw_id, "GwId")) return r.error;
      m.gw_add = r.rest_bytes();
      return r.done(std::move(m));
    }
    case MsgType::CONNECT: {
      Connect m;
      if (!r.flags(m.flags) || !r.u8(m.protocol_id, "ProtocolId") || !r.u16(m.duration, "Duration"))
        return r.error;
      m.client_id = r.rest_string();
      if (m.client_id.empty()) {
        r.fail(DecodeError::EmptyClientId, "ClientId");
        return r.error;
      }
      return r.done(std::move(m));
    }
    case MsgType::CONNACK: {
      ConnAck m;
      if (!r.return_code(m.return_code)) return r.error;
      return r.done(m);
    }
    case MsgType::WILLTOPICREQ:
      return r.done(WillTopicReq{});
    case MsgType::WILLTOPIC:
      return decode_will_topic<WillTopic>(r);
    case MsgType::WILLMSGREQ:
      return r.done(WillMsgReq{});
    case MsgType::WILLMSG: {
      WillMsg m;
      m.will_msg = r.rest_bytes();
      return r.done(std::move(m));
    }
    case MsgType::REGISTER: {
      Register m;
      if (!r.u16(m.topic_id, "TopicId") || !r.u16(m.msg_id, "MsgId")) return r.error;
      m.topic_name = r.rest_string();
      if (m.topic_name.empty()) {
        r.fail(DecodeError::EmptyTopic, "TopicName");
        return r.error;
      }
      return r.done(std::move(m));
    }
    case MsgType::REGACK: {
      RegAck m;
      if (!r.u16(m.topic_id, "TopicId") || !r.u16(m.msg_id, "MsgId") ||
          !r.return_code(m.return_code))
        return r.error;
      return r.done(m);
    }
    case MsgType::PUBLISH: {
      Publish m;
      if (!r.flags(m.flags) || !r.u16(m.topic_id, "TopicId") || !r.u16(m.msg_id, "MsgId"))
        return r.error;
      m.data = r.rest_bytes();
      return r.done(std::move(m));
    }
    case MsgType::PUBACK: {
      PubAck m;
      if (!r.u16(m.topic_id, "TopicId") || !r.u16(m.msg_id, "MsgId") ||
          !r.return_code(m.return_code))
        return r.error;
      return r.done(m);
    }
    case MsgType::PUBCOMP: {
      PubComp m;
      if (!r.u16(m.msg_id, "MsgId")) return r.error;
      return r.done(m);
    }
    case MsgType::PUBREC: {
      PubRec m;
      if (!r.u16(m.msg_id, "MsgId")) return r.error;
      return r.done(m);
    }
    case MsgType::PUBREL: {
      PubRel m;
      if (!r.u16(m.msg_id, "MsgId")) return r.error;
      return r.done(m);
    }
    case MsgType::SUBSCRIBE:
      return decode_topic_request<Subscribe>(r);
    case MsgType::SUBACK: {
      SubAck m;
      if (!r.flags(m.flags) || !r.u16(m.topic_id, "TopicId") || !r.u16(m.msg_id, "MsgId") ||
          !r.return_code(m.return_code))
        return r.error;
      return r.done(m);
    }
    case MsgType::UNSUBSCRIBE:
      return decode_topic_request<Unsubscribe>(r);
    case MsgType::UNSUBACK: {
      UnsubAck m;
      if (!r.u16(m.msg_id, "MsgId")) return r.error;
      return r.done(m);
    }
    case MsgType::PINGREQ: {
      PingReq m;
      m.client_id = r.rest_string();
      return r.done(std::move(m));
    }
    case MsgType::PINGRESP:
      return r.done(PingResp{});
    case MsgType::DISCONNECT: {
      Disconnect m;
      if (r.left() != 0) {
        std::uint16_t d = 0;
        if (!r.u16(d, "Duration")) return r.error;
        m.duration = d;
      }
      return r.done(m);
    }
    case MsgType::WILLTOPICUPD:
      return decode_will_topic<WillTopicUpd>(r);
    case MsgType::WILLTOPICRESP: {
      WillTopicResp m;
      if (!r.return_code(m.return_code)) return r.error;
      return r.done(m);
    }
    case MsgType::WILLMSGUPD: {
      WillMsgUpd m;
      m.will_msg = r.rest_bytes();
      return r.done(std::move(m));
    }
    case MsgType::WILLMSGRESP: {
      WillMsgResp m;
      if (!r.return_code(m.return_code)) return r.error;
      return r.done(m);
    }
    case MsgType::ENCAPSULATED:
      break;  // handled by decode(); never reached for inner frames
  }
  return failure(DecodeError::ReservedType, std::nullopt, "MsgType");
}

// A plain (non-encapsulated) frame filling the whole datagram.
DecodeResult decode_plain(const Header& h, std::span<const std::uint8_t> d) {
  if (h.length != d.size()) return failure(DecodeError::LengthMismatch, h.type, "Length");
  return decode_body(h.type, d.subspan(h.header_len));
}

DecodeFailure bad_inner(DecodeError e) noexcept {
  DecodeFailure f = failure(DecodeError::BadInnerMessage, MsgType::ENCAPSULATED, "MQTT-SN message");
  f.inner = e;
  return f;
}

// §5.5: Length covers Length, MsgType, Ctrl and Wireless Node Id; the MQTT-SN frame follows.
DecodeResult decode_encapsulated(const Header& h, std::span<const std::uint8_t> d) {
  constexpr auto type = MsgType::ENCAPSULATED;
  if (h.length > d.size()) return failure(DecodeError::LengthMismatch, type, "Length");
  if (h.length < h.header_len + 1) return failure(DecodeError::Truncated, type, "Ctrl");
  Encapsulated m;
  m.ctrl = d[h.header_len];
  const auto node = d.subspan(h.header_len + 1, h.length - h.header_len - 1);
  m.wireless_node_id.assign(node.begin(), node.end());
  const auto inner = d.subspan(h.length);
  m.message.assign(inner.begin(), inner.end());

  // The inner header is read first so a chain of 0xFE frames never recurses.
  const auto ih = read_header(inner);
  if (const auto* f = std::get_if<DecodeFailure>(&ih)) return bad_inner(f->error);
  const auto& inner_header = std::get<Header>(ih);
  if (inner_header.type == MsgType::ENCAPSULATED)
    return failure(DecodeError::NestedEncapsulation, type, "MQTT-SN message");
  const auto r = decode_plain(inner_header, inner);
  if (const auto* f = std::get_if<DecodeFailure>(&r)) return bad_inner(f->error);
  return Message{std::move(m)};
}

// Builds the variable part of a message.
class Writer {
 public:
  explicit Writer(Bytes& out) noexcept : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v & 0xFF));
  }
  void flags(const Flags& f) { u8(encode_flags(f)); }
  void rc(ReturnCode c) { u8(static_cast<std::uint8_t>(c)); }
  template <class Range>
  void raw(const Range& r) {
    out_.insert(out_.end(), r.begin(), r.end());
  }

 private:
  Bytes& out_;
};

template <class M>
void encode_will_topic(Writer& w, const M& m) {
  if (m.will_topic.empty()) return;  // the 2-octet empty form; flags are not sent
  w.flags(m.flags);
  w.raw(m.will_topic);
}

template <class M>
void encode_topic_request(Writer& w, const M& m) {
  w.flags(m.flags);
  w.u16(m.msg_id);
  if (m.flags.topic_id_type == TopicIdType::Normal)
    w.raw(m.topic_name);
  else
    w.u16(m.topic_id);
}

// Appends the variable part (everything after MsgType) of a message.
void encode_body(const Message& msg, Bytes& out) {
  Writer w(out);
  std::visit(
      [&w](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Advertise>) {
          w.u8(m.gw_id);
          w.u16(m.duration);
        } else if constexpr (std::is_same_v<T, SearchGw>) {
          w.u8(m.radius);
        } else if constexpr (std::is_same_v<T, GwInfo>) {
          w.u8(m.gw_id);
          w.raw(m.gw_add);
        } else if constexpr (std::is_same_v<T, Connect>) {
          w.flags(m.flags);
          w.u8(m.protocol_id);
          w.u16(m.duration);
          w.raw(m.client_id);
        } else if constexpr (std::is_same_v<T, ConnAck> || std::is_same_v<T, WillTopicResp> ||
                             std::is_same_v<T, WillMsgResp>) {
          w.rc(m.return_code);
        } else if constexpr (std::is_same_v<T, WillTopic> || std::is_same_v<T, WillTopicUpd>) {
          encode_will_topic(w, m);
        } else if constexpr (std::is_same_v<T, WillMsg> || std::is_same_v<T, WillMsgUpd>) {
          w.raw(m.will_msg);
        } else if constexpr (std::is_same_v<T, Register>) {
          w.u16(m.topic_id);
          w.u16(m.msg_id);
          w.raw(m.topic_name);
        } else if constexpr (std::is_same_v<T, RegAck> || std::is_same_v<T, PubAck>) {
          w.u16(m.topic_id);
          w.u16(m.msg_id);
          w.rc(m.return_code);
        } else if constexpr (std::is_same_v<T, Publish>) {
          w.flags(m.flags);
          w.u16(m.topic_id);
          w.u16(m.msg_id);
          w.raw(m.data);
        } else if constexpr (std::is_same_v<T, PubComp> || std::is_same_v<T, PubRec> ||
                             std::is_same_v<T, PubRel> || std::is_same_v<T, UnsubAck>) {
          w.u16(m.msg_id);
        } else if constexpr (std::is_same_v<T, Subscribe> || std::is_same_v<T, Unsubscribe>) {
          encode_topic_request(w, m);
        } else if constexpr (std::is_same_v<T, SubAck>) {
          w.flags(m.flags);
          w.u16(m.topic_id);
          w.u16(m.msg_id);
          w.rc(m.return_code);
        } else if constexpr (std::is_same_v<T, PingReq>) {
          w.raw(m.client_id);
        } else if constexpr (std::is_same_v<T, Disconnect>) {
          if (m.duration) w.u16(*m.duration);
        } else if constexpr (std::is_same_v<T, Encapsulated>) {
          w.u8(m.ctrl);
          w.raw(m.wireless_node_id);
        } else {
          static_assert(std::is_same_v<T, WillTopicReq> || std::is_same_v<T, WillMsgReq> ||
                            std::is_same_v<T, PingResp>,
                        "every message type needs an encoder");
        }
      },
      msg);
}

}  // namespace

std::uint8_t encode_flags(const Flags& f) noexcept {
  std::uint8_t qos = 0;
  switch (f.qos) {
    case QoS::AtMostOnce:
      qos = 0b00;
      break;
    case QoS::AtLeastOnce:
      qos = 0b01;
      break;
    case QoS::ExactlyOnce:
      qos = 0b10;
      break;
    case QoS::MinusOne:
      qos = 0b11;
      break;
  }
  unsigned octet = (f.dup ? kDupBit : 0u) | (unsigned{qos} << kQosShift) |
                   (f.retain ? kRetainBit : 0u) | (f.will ? kWillBit : 0u) |
                   (f.clean_session ? kCleanSessionBit : 0u) |
                   (static_cast<unsigned>(f.topic_id_type) & kTopicIdTypeMask);
  return static_cast<std::uint8_t>(octet);
}

std::optional<Flags> decode_flags(std::uint8_t octet) noexcept {
  const unsigned tid = octet & kTopicIdTypeMask;
  if (tid == 0b11) return std::nullopt;
  Flags f;
  f.dup = (octet & kDupBit) != 0;
  switch ((octet >> kQosShift) & kQosMask) {
    case 0b00:
      f.qos = QoS::AtMostOnce;
      break;
    case 0b01:
      f.qos = QoS::AtLeastOnce;
      break;
    case 0b10:
      f.qos = QoS::ExactlyOnce;
      break;
    default:
      f.qos = QoS::MinusOne;
      break;
  }
  f.retain = (octet & kRetainBit) != 0;
  f.will = (octet & kWillBit) != 0;
  f.clean_session = (octet & kCleanSessionBit) != 0;
  f.topic_id_type = static_cast<TopicIdType>(tid);
  return f;
}

DecodeResult decode(std::span<const std::uint8_t> datagram) noexcept {
  const auto h = read_header(datagram);
  if (const auto* f = std::get_if<DecodeFailure>(&h)) return *f;
  const auto& header = std::get<Header>(h);
  if (header.type == MsgType::ENCAPSULATED) return decode_encapsulated(header, datagram);
  return decode_plain(header, datagram);
}

bool encode_into(const Message& m, Bytes& out) {
  Bytes body;
  encode_body(m, body);
  // For ENCAPSULATED the Length counts only up to the Wireless Node Id (§5.5).
  std::size_t length = 2 + body.size();
  const bool long_form = length > kMaxShortFrame;
  if (long_form) length += 2;
  if (length > kMaxFrame) return false;
  Writer w(out);
  if (long_form) {
    w.u8(kLongLengthMarker);
    w.u16(static_cast<std::uint16_t>(length));
  } else {
    w.u8(static_cast<std::uint8_t>(length));
  }
  w.u8(static_cast<std::uint8_t>(type_of(m)));
  w.raw(body);
  if (const auto* e = std::get_if<Encapsulated>(&m)) w.raw(e->message);
  return true;
}

Bytes encode(const Message& m) {
  Bytes out;
  if (!encode_into(m, out)) return {};
  return out;
}

std::optional<std::size_t> frame_length(std::span<const std::uint8_t> prefix) noexcept {
  if (prefix.empty()) return std::nullopt;
  if (prefix[0] == kLongLengthMarker) {
    if (prefix.size() < 3) return std::nullopt;
    const std::size_t len = (std::size_t{prefix[1]} << 8) | prefix[2];
    if (len < 4) return std::nullopt;
    return len;
  }
  if (prefix[0] == 0) return std::nullopt;
  return std::size_t{prefix[0]};
}

}  // namespace mqttsn
