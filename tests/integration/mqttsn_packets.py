"""Independent MQTT-SN v1.2 packet builder and parser, typed from the spec tables (§5).

Deliberately shares nothing with the C++ codec, so a symmetric mistake there cannot hide.
Builders return bytes; parse() returns a Packet whose attributes are the spec's field names.
"""
import struct

# Table 3: MsgType values.
ADVERTISE, SEARCHGW, GWINFO = 0x00, 0x01, 0x02
CONNECT, CONNACK = 0x04, 0x05
WILLTOPICREQ, WILLTOPIC, WILLMSGREQ, WILLMSG = 0x06, 0x07, 0x08, 0x09
REGISTER, REGACK = 0x0A, 0x0B
PUBLISH, PUBACK, PUBCOMP, PUBREC, PUBREL = 0x0C, 0x0D, 0x0E, 0x0F, 0x10
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 0x12, 0x13, 0x14, 0x15
PINGREQ, PINGRESP, DISCONNECT = 0x16, 0x17, 0x18
WILLTOPICUPD, WILLTOPICRESP, WILLMSGUPD, WILLMSGRESP = 0x1A, 0x1B, 0x1C, 0x1D
ENCAPSULATED = 0xFE

TYPE_NAMES = {
    0x00: "ADVERTISE", 0x01: "SEARCHGW", 0x02: "GWINFO", 0x04: "CONNECT", 0x05: "CONNACK",
    0x06: "WILLTOPICREQ", 0x07: "WILLTOPIC", 0x08: "WILLMSGREQ", 0x09: "WILLMSG",
    0x0A: "REGISTER", 0x0B: "REGACK", 0x0C: "PUBLISH", 0x0D: "PUBACK", 0x0E: "PUBCOMP",
    0x0F: "PUBREC", 0x10: "PUBREL", 0x12: "SUBSCRIBE", 0x13: "SUBACK", 0x14: "UNSUBSCRIBE",
    0x15: "UNSUBACK", 0x16: "PINGREQ", 0x17: "PINGRESP", 0x18: "DISCONNECT",
    0x1A: "WILLTOPICUPD", 0x1B: "WILLTOPICRESP", 0x1C: "WILLMSGUPD", 0x1D: "WILLMSGRESP",
    0xFE: "ENCAPSULATED",
}

# Table 5: ReturnCode values.
ACCEPTED, REJ_CONGESTION, REJ_INVALID_TOPIC_ID, REJ_NOT_SUPPORTED = 0x00, 0x01, 0x02, 0x03

# Table 4: TopicIdType (bits 1,0).
TOPIC_NORMAL, TOPIC_PREDEFINED, TOPIC_SHORT = 0b00, 0b01, 0b10

# Table 4: Flags bit layout.
F_DUP, F_RETAIN, F_WILL, F_CLEAN = 0x80, 0x10, 0x08, 0x04
_QOS_BITS = {0: 0b00, 1: 0b01, 2: 0b10, -1: 0b11}
_BITS_QOS = {v: k for k, v in _QOS_BITS.items()}


def flags(dup=False, qos=0, retain=False, will=False, clean=False, topic_id_type=0):
    return ((F_DUP if dup else 0) | (_QOS_BITS[qos] << 5) | (F_RETAIN if retain else 0)
            | (F_WILL if will else 0) | (F_CLEAN if clean else 0) | (topic_id_type & 0b11))


def _b(x):
    return x.encode() if isinstance(x, str) else bytes(x)


def frame(msg_type, body=b"", long_length=False):
    """§5.2: 1-octet Length, or 0x01 + 2 octets (MSB first) when asked or when needed."""
    body = _b(body)
    if not long_length and 2 + len(body) <= 255:
        return bytes([2 + len(body), msg_type]) + body
    return b"\x01" + struct.pack(">H", 4 + len(body)) + bytes([msg_type]) + body


def short_topic_id(name):
    """A short topic name (§6.7) is exactly two characters carried in the TopicId field."""
    raw = _b(name)
    assert len(raw) == 2, "short topic names are exactly 2 characters"
    return struct.unpack(">H", raw)[0]


# ---- builders (one per Table 6..27), keyword arguments named after the spec fields
def advertise(gw_id, duration):
    return frame(ADVERTISE, struct.pack(">BH", gw_id, duration))


def searchgw(radius=0):
    return frame(SEARCHGW, bytes([radius]))


def gwinfo(gw_id, gw_add=b""):
    return frame(GWINFO, bytes([gw_id]) + _b(gw_add))


def connect(client_id, duration=60, clean=True, will=False, protocol_id=0x01, long_length=False):
    body = bytes([flags(will=will, clean=clean), protocol_id]) + struct.pack(">H", duration) + _b(client_id)
    return frame(CONNECT, body, long_length)


def connack(return_code=ACCEPTED):
    return frame(CONNACK, bytes([return_code]))


def willtopicreq():
    return frame(WILLTOPICREQ)


def willtopic(topic=None, qos=0, retain=False):
    """topic=None builds the empty (2-octet) WILLTOPIC that deletes the will (§5.4.7)."""
    if topic is None:
        return frame(WILLTOPIC)
    return frame(WILLTOPIC, bytes([flags(qos=qos, retain=retain)]) + _b(topic))


def willmsgreq():
    return frame(WILLMSGREQ)


def willmsg(msg):
    return frame(WILLMSG, _b(msg))


def register(topic_id, msg_id, topic_name, long_length=False):
    return frame(REGISTER, struct.pack(">HH", topic_id, msg_id) + _b(topic_name), long_length)


def regack(topic_id, msg_id, return_code=ACCEPTED):
    return frame(REGACK, struct.pack(">HHB", topic_id, msg_id, return_code))


def publish(topic_id, data, msg_id=0, qos=0, retain=False, dup=False, topic_id_type=TOPIC_NORMAL,
            long_length=False):
    if isinstance(topic_id, str):
        topic_id = short_topic_id(topic_id)
    f = flags(dup=dup, qos=qos, retain=retain, topic_id_type=topic_id_type)
    return frame(PUBLISH, bytes([f]) + struct.pack(">HH", topic_id, msg_id) + _b(data), long_length)


def puback(topic_id, msg_id, return_code=ACCEPTED):
    return frame(PUBACK, struct.pack(">HHB", topic_id, msg_id, return_code))


def pubrec(msg_id):
    return frame(PUBREC, struct.pack(">H", msg_id))


def pubrel(msg_id):
    return frame(PUBREL, struct.pack(">H", msg_id))


def pubcomp(msg_id):
    return frame(PUBCOMP, struct.pack(">H", msg_id))


def _topic_field(topic, topic_id_type):
    if topic_id_type == TOPIC_NORMAL:
        return _b(topic)  # a topic name (may contain wildcards)
    if isinstance(topic, str):
        return _b(topic)  # short name: its two characters
    return struct.pack(">H", topic)  # predefined id


def subscribe(msg_id, topic, qos=0, topic_id_type=TOPIC_NORMAL, dup=False):
    f = flags(dup=dup, qos=qos, topic_id_type=topic_id_type)
    return frame(SUBSCRIBE, bytes([f]) + struct.pack(">H", msg_id) + _topic_field(topic, topic_id_type))


def unsubscribe(msg_id, topic, topic_id_type=TOPIC_NORMAL):
    f = flags(topic_id_type=topic_id_type)
    return frame(UNSUBSCRIBE, bytes([f]) + struct.pack(">H", msg_id) + _topic_field(topic, topic_id_type))


def pingreq(client_id=None):
    return frame(PINGREQ, _b(client_id) if client_id else b"")


def pingresp():
    return frame(PINGRESP)


def disconnect(duration=None):
    return frame(DISCONNECT, b"" if duration is None else struct.pack(">H", duration))


def willtopicupd(topic=None, qos=0, retain=False):
    if topic is None:
        return frame(WILLTOPICUPD)
    return frame(WILLTOPICUPD, bytes([flags(qos=qos, retain=retain)]) + _b(topic))


def willmsgupd(msg):
    return frame(WILLMSGUPD, _b(msg))


def encapsulate(node_id, message, radius=0):
    """§5.5 Table 28: Length counts up to the end of the Wireless Node Id only."""
    node_id = _b(node_id)
    return bytes([3 + len(node_id), ENCAPSULATED, radius & 0b11]) + node_id + message


# ---- parser
class MalformedPacket(ValueError):
    pass


class Packet:
    """A decoded message: .type (int), .name, .raw, .long_length, and the spec's fields."""

    def __init__(self, msg_type, raw, long_length, **fields):
        self.type = msg_type
        self.name = TYPE_NAMES.get(msg_type, "0x%02X" % msg_type)
        self.raw = raw
        self.long_length = long_length
        self.fields = fields
        for k, v in fields.items():
            setattr(self, k, v)

    def __repr__(self):
        inner = ", ".join("%s=%r" % kv for kv in self.fields.items())
        return "%s(%s)%s" % (self.name, inner, " [3-octet length]" if self.long_length else "")


def _flags_fields(f):
    return dict(dup=bool(f & F_DUP), qos=_BITS_QOS[(f >> 5) & 0b11], retain=bool(f & F_RETAIN),
                will=bool(f & F_WILL), clean=bool(f & F_CLEAN), topic_id_type=f & 0b11)


def parse(data):
    data = bytes(data)
    if len(data) < 2:
        raise MalformedPacket("shorter than a header: %r" % data)
    if data[1] == ENCAPSULATED and data[0] != 0x01:
        n = data[0]
        if n < 3 or n > len(data):
            raise MalformedPacket("bad encapsulation length: %r" % data)
        return Packet(ENCAPSULATED, data, False, ctrl=data[2], radius=data[2] & 0b11,
                      node_id=data[3:n], inner=parse(data[n:]))
    if data[0] == 0x01:
        if len(data) < 4:
            raise MalformedPacket("truncated 3-octet length: %r" % data)
        length, = struct.unpack(">H", data[1:3])
        head, long_length = 4, True
    else:
        length, head, long_length = data[0], 2, False
    if length != len(data) or length < head:
        raise MalformedPacket("Length field %d but %d octets: %r" % (length, len(data), data))
    t = data[head - 1]
    b = data[head:]

    def need(n, exact=True):
        if (len(b) != n) if exact else (len(b) < n):
            raise MalformedPacket("%s body of %d octets: %r" % (TYPE_NAMES.get(t, t), len(b), data))

    P = lambda **kw: Packet(t, data, long_length, **kw)  # noqa: E731
    if t == ADVERTISE:
        need(3)
        gw_id, duration = struct.unpack(">BH", b)
        return P(gw_id=gw_id, duration=duration)
    if t == SEARCHGW:
        need(1)
        return P(radius=b[0])
    if t == GWINFO:
        need(1, exact=False)
        return P(gw_id=b[0], gw_add=b[1:])
    if t == CONNECT:
        need(4, exact=False)
        return P(flags=b[0], protocol_id=b[1], duration=struct.unpack(">H", b[2:4])[0],
                 client_id=b[4:].decode(errors="replace"), **_flags_fields(b[0]))
    if t in (CONNACK, WILLTOPICRESP, WILLMSGRESP):
        need(1)
        return P(return_code=b[0])
    if t in (WILLTOPICREQ, WILLMSGREQ, PINGRESP):
        need(0)
        return P()
    if t in (WILLTOPIC, WILLTOPICUPD):
        if not b:
            return P(empty=True)
        return P(empty=False, flags=b[0], topic=b[1:].decode(errors="replace"), **_flags_fields(b[0]))
    if t in (WILLMSG, WILLMSGUPD):
        return P(msg=b)
    if t == REGISTER:
        need(4, exact=False)
        tid, mid = struct.unpack(">HH", b[:4])
        return P(topic_id=tid, msg_id=mid, topic_name=b[4:].decode(errors="replace"))
    if t in (REGACK, PUBACK):
        need(5)
        tid, mid, rc = struct.unpack(">HHB", b)
        return P(topic_id=tid, msg_id=mid, return_code=rc)
    if t == PUBLISH:
        need(5, exact=False)
        tid, mid = struct.unpack(">HH", b[1:5])
        return P(flags=b[0], topic_id=tid, msg_id=mid, data=b[5:], **_flags_fields(b[0]))
    if t in (PUBCOMP, PUBREC, PUBREL, UNSUBACK):
        need(2)
        return P(msg_id=struct.unpack(">H", b)[0])
    if t in (SUBSCRIBE, UNSUBSCRIBE):
        need(3, exact=False)
        return P(flags=b[0], msg_id=struct.unpack(">H", b[1:3])[0], topic=b[3:], **_flags_fields(b[0]))
    if t == SUBACK:
        need(6)
        f, tid, mid, rc = struct.unpack(">BHHB", b)
        return P(flags=f, topic_id=tid, msg_id=mid, return_code=rc, **_flags_fields(f))
    if t == PINGREQ:
        return P(client_id=b.decode(errors="replace") if b else None)
    if t == DISCONNECT:
        if len(b) not in (0, 2):
            raise MalformedPacket("DISCONNECT body of %d octets" % len(b))
        return P(duration=struct.unpack(">H", b)[0] if b else None)
    raise MalformedPacket("reserved MsgType 0x%02X: %r" % (t, data))
