"""Hostile datagrams for the gateway: the fuzz corpus, seeded mutations of it, and crafted frames.

Everything here is a pure function of its seed, so a failing storm can be replayed exactly.
Datagrams that would open a session are "tamed" (short keep-alive and sleep durations) so that
every hostile session is reaped by the gateway's own timers within seconds: that is what lets the
test compare memory before and after a storm. A keep-alive of 0 (no supervision, §5.4.4) or a
sleep of 18 hours is legitimate for a real sensor and bounded by the session cap, not by timers.
"""
import os
import random
import struct

import mqttsn_packets as sn

CORPUS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus")

# Largest UDP payload on each family (65535 minus the IP and UDP headers).
MAX_UDP4 = 65507
MAX_UDP6 = 65527

# A hostile session must be gone within this many seconds of its last datagram.
KEEP_ALIVE_S = (1, 2)
SLEEP_S = (1, 2)


def corpus():
    """Every file of the codec fuzz corpus, sorted by name: [(name, bytes)]."""
    out = []
    for name in sorted(os.listdir(CORPUS_DIR)):
        with open(os.path.join(CORPUS_DIR, name), "rb") as f:
            out.append((name, f.read()))
    return out


def _header(raw):
    """(header length, MsgType offset) of a frame, or None when there is no complete header."""
    if len(raw) >= 4 and raw[0] == 0x01:
        return 4, 3
    if len(raw) >= 2 and raw[0] != 0x01:
        return 2, 1
    return None


def tame(raw, rng, depth=0):
    """The same bytes, except a CONNECT's Duration and a DISCONNECT's sleep Duration are made
    short and non-zero, also inside (nested) encapsulations. Length fields are left alone."""
    h = _header(raw)
    if h is None or depth > 8:
        return raw
    head, t = h
    msg_type = raw[t]
    b = bytearray(raw)
    if msg_type == sn.ENCAPSULATED and head == 2:
        n = raw[0]
        if 3 <= n < len(raw):
            return bytes(b[:n]) + tame(bytes(b[n:]), rng, depth + 1)
        return raw
    if msg_type == sn.CONNECT and len(raw) >= head + 4:
        struct.pack_into(">H", b, head + 2, rng.randint(*KEEP_ALIVE_S))
    elif msg_type == sn.DISCONNECT and len(raw) >= head + 2:
        struct.pack_into(">H", b, head, rng.randint(*SLEEP_S))
    return bytes(b)


_INTERESTING = [0x00, 0x01, 0x02, 0x03, 0x04, 0x7F, 0x80, 0xFE, 0xFF, sn.CONNECT, sn.PUBLISH,
                sn.REGISTER, sn.DISCONNECT, sn.PINGREQ, sn.ENCAPSULATED, sn.WILLTOPIC]


def mutate(rng, seeds):
    """One mutated datagram from a random corpus entry (1..4 stacked mutations)."""
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(11)
        if op == 0 and data:  # flip a bit
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and data:  # an interesting byte somewhere
            data[rng.randrange(len(data))] = rng.choice(_INTERESTING)
        elif op == 2:  # insert random bytes
            i = rng.randint(0, len(data))
            data[i:i] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and data:  # delete a run
            i = rng.randrange(len(data))
            del data[i:i + rng.randint(1, 8)]
        elif op == 4 and data:  # truncate
            del data[rng.randrange(len(data)):]
        elif op == 5:  # the Length field lies
            if data:
                data[0] = rng.choice([0, 1, 2, 3, len(data) + 1, len(data) - 1, 0xFF]) & 0xFF
        elif op == 6:  # 3-octet Length form with a random claim
            claim = rng.choice([0, 3, 4, 5, len(data) + 2, 0x7FFF, 0xFFFF, rng.randrange(65536)])
            body = bytes(data[2:]) if len(data) >= 2 else b""
            t = data[1] if len(data) >= 2 else sn.PUBLISH
            data = bytearray(b"\x01" + struct.pack(">H", claim) + bytes([t]) + body)
        elif op == 7:  # splice with another entry
            other = rng.choice(seeds)
            data = data[:rng.randint(0, len(data))] + bytearray(other[rng.randint(0, len(other)):])
        elif op == 8:  # wrap it in an encapsulation (sometimes twice)
            node = rng.randbytes(rng.choice([0, 1, 2, 8, 40]))
            data = bytearray(sn.encapsulate(node, bytes(data), rng.randrange(4)))
            if rng.random() < 0.3:
                data = bytearray(sn.encapsulate(b"\x01", bytes(data)))
        elif op == 9:  # grow: repeat a tail
            data += data[-rng.randint(1, 16):] * rng.randint(1, 40) if data else b"\x00"
        elif op == 10 and len(data) >= 2:  # change the MsgType
            h = _header(bytes(data))
            data[h[1] if h else 1] = rng.choice(list(sn.TYPE_NAMES) + [0x03, 0x11, 0x19, 0xFF])
    return bytes(data[:MAX_UDP4])


def mutations(seed, count):
    """`count` tamed mutations of the corpus, reproducible from `seed`."""
    rng = random.Random(seed)
    seeds = [raw for _, raw in corpus()]
    return [tame(mutate(rng, seeds), rng) for _ in range(count)]


# ---------------------------------------------------------------- crafted frames (stateless)

def oversized_lengths():
    """3-octet Length headers that claim far more than the datagram carries, and the reverse."""
    out = []
    for t in (sn.PUBLISH, sn.CONNECT, sn.REGISTER, sn.ENCAPSULATED, sn.WILLMSG, sn.SUBSCRIBE, 0x00,
              0xFF):
        out += [b"\x01\xff\xff" + bytes([t]),                       # header only
                b"\x01\xff\xff" + bytes([t]) + b"\x00" * 7,          # short body
                b"\x01\xff\xff" + bytes([t]) + b"\xaa" * 1000,
                b"\x01\x00\x00" + bytes([t]) + b"\x00" * 7,          # claims 0
                b"\x01\x00\x03" + bytes([t]),                        # claims less than its header
                b"\x01\xff"]                                         # header cut short
    # 65535-octet claims on (nearly) the largest datagrams UDP carries: still 28 octets short.
    out.append(b"\x01\xff\xff" + bytes([sn.PUBLISH]) + b"\x20\x00\x01\x00\x01" + b"P" * (MAX_UDP4 - 9))
    out.append(b"\x01\xff\xff" + bytes([sn.CONNECT]) + b"\x04\x01\x00\x01" + b"C" * (MAX_UDP4 - 8))
    # Exact 3-octet lengths on huge valid-looking frames (decodable: a 65k ClientId / topic).
    out.append(sn.frame(sn.REGISTER, struct.pack(">HH", 0, 1) + b"t/" * 20000))
    out.append(sn.frame(sn.WILLMSG, b"w" * (MAX_UDP4 - 4)))
    return out


def nested_encapsulations():
    """Encapsulation inside encapsulation (depth 2..60), and broken encapsulation headers."""
    out = []
    inner_msgs = [sn.pingreq(), sn.connect("nested-x", 1), sn.searchgw(0), sn.publish(1, b"n", 0, -1,
                  topic_id_type=sn.TOPIC_PREDEFINED), b"", b"\x01"]
    for inner in inner_msgs:
        for depth in (2, 3, 8, 60):
            m = inner
            for level in range(depth):
                m = sn.encapsulate(bytes([level & 0xFF]), m)
            out.append(m)
    # Length counts past the datagram, Length 0/1/2, Ctrl with reserved bits, an empty remainder.
    out += [bytes([0xFF, 0xFE, 0x00, 0x01]), bytes([0x00, 0xFE, 0x00]), bytes([0x02, 0xFE, 0x00]),
            bytes([0x03, 0xFE, 0xFF]) + sn.pingreq(), bytes([0x03, 0xFE, 0x00]),
            bytes([0x01, 0xFE, 0x00, 0x01]) + sn.pingreq()]
    # An encapsulation in the 3-octet Length form (Table 28 has a 1-octet Length only).
    out.append(b"\x01\x00\x05\xfe\x00" + sn.pingreq())
    return out


def bogus_node_ids(rng):
    """Encapsulated frames whose Wireless Node Id is empty, huge, binary or a lie."""
    out = []
    for node in (b"", b"\x00", b"\xff" * 252, bytes(range(1, 60)), b"\n\r\x00%s{}", "é".encode()):
        for inner in (sn.pingreq(), sn.searchgw(1), sn.puback(1, 1), sn.pubrel(7), sn.regack(1, 1),
                      sn.disconnect(), sn.willtopic("x/y"), sn.publish(1, b"q", 3, 1)):
            out.append(sn.encapsulate(node, inner, rng.randrange(4)))
    # Node id length byte says 250 but only a few octets follow.
    out.append(bytes([250, 0xFE, 0x00]) + b"\x01\x02")
    return out


def odd_sizes(rng):
    """Empty datagrams, one octet, and the largest UDP datagram of random bytes on IPv4."""
    return ([b""] * 20 + [bytes([rng.getrandbits(8)]) for _ in range(20)]
            + [rng.randbytes(MAX_UDP4)]
            + [b"\x00" * MAX_UDP4, b"\x01" + b"\xff" * (MAX_UDP4 - 1)])
