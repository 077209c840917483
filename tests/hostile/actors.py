"""Crafted hostile clients: each has its own UDP address and a script of datagrams.

A script that needs an accepted session first (unknown acks, floods, sleep storms) starts with a
CONNECT and waits for its CONNACK; the rest is sent without waiting for answers, the way a broken
or malicious sensor would. Every CONNECT asks for a keep-alive of 1-2 s and every sleep lasts 1-2 s,
so the gateway's timers reap all of them within seconds after the storm.
"""
import random
import select
import socket
import struct
import time

import mqttsn_packets as sn
from harness import UdpLink


class Actor:
    def __init__(self, gw, kind, client_id, family=socket.AF_INET, needs_connack=False):
        self.kind = kind
        self.client_id = client_id
        self.link = UdpLink(gw.addr6 if family == socket.AF_INET6 else gw.addr4, family)
        self.opening = []   # sent first, all actors together
        self.script = []    # (link or None, bytes) sent after the CONNACK (if any is needed)
        self.needs_connack = needs_connack
        self.after = []     # (link or None, bytes) sent once the downlink burst is on its way
        self.downlink = []  # topics the storm publishes to from the broker side
        self.connack = None

    def close(self):
        self.link.close()


def _will_flows(gw, tag, rng):
    """Half-finished will exchanges (§6.3) and wrong next messages."""
    actors = []
    wrong_next = [
        lambda c: [],  # CONNECT with Will, then silence
        lambda c: [sn.willtopic("hostile/will/t", 1)],  # ... WILLTOPIC, then silence
        lambda c: [sn.willmsg(b"message before topic")],
        lambda c: [sn.publish(1, b"x", 1, 1, topic_id_type=sn.TOPIC_PREDEFINED)],
        lambda c: [sn.register(0, 1, "hostile/r")],
        lambda c: [sn.pingreq()], lambda c: [sn.pingreq(c)], lambda c: [sn.disconnect()],
        lambda c: [sn.disconnect(1)], lambda c: [sn.connect(c, 1, will=True)],
        lambda c: [sn.connect(c, 1, will=False)], lambda c: [sn.subscribe(1, "hostile/#", 1)],
        lambda c: [sn.willtopicupd("hostile/x")], lambda c: [sn.willmsgupd(b"u")],
        lambda c: [sn.pubrel(1)], lambda c: [sn.willtopic("hostile/#", 1)],
        lambda c: [sn.willtopic("hostile/q", -1)],
        lambda c: [sn.willtopic()],  # empty WILLTOPIC: no will after all
        lambda c: [sn.willtopic("hostile/a"), sn.willtopic("hostile/b")],
        lambda c: [sn.willtopic("hostile/a"), sn.connect(c, 1, will=True)],
        lambda c: [sn.willtopic("hostile/a"), sn.willmsg(b"m"), sn.willmsg(b"again")],
        lambda c: [sn.willtopic("hostile/a", 2), sn.willmsg(b"w" * 4000)],  # complete, then vanishes
        lambda c: [sn.willtopic("hostile/a", 1), sn.willmsg(b"bye"), sn.disconnect(1)],
    ]
    for i, nxt in enumerate(wrong_next):
        cid = "h%s-will-%d" % (tag, i)
        a = Actor(gw, "will", cid, socket.AF_INET6 if i % 4 == 3 else socket.AF_INET)
        a.opening = [sn.connect(cid, rng.randint(1, 2), will=True)]
        a.script = [(None, m) for m in nxt(cid)]
        actors.append(a)
    return actors


def _unknown_acks(cid, rng):
    out = []
    for _ in range(150):
        mid = rng.randrange(65536)
        out += [sn.pubrel(mid), sn.pubcomp(mid), sn.puback(rng.randrange(65536), mid, rng.randrange(256)),
                sn.pubrec(mid), sn.regack(rng.randrange(65536), mid, rng.randrange(256))]
    return out


def _regack_flood(cid, rng):
    return [sn.regack(rng.randrange(65536), rng.randrange(65536), rng.choice([0, 1, 2, 3, 0xFF]))
            for _ in range(2000)]


def _register_flood(cid, rng):
    out = []
    for i in range(1500):
        name = rng.choice(["hostile/reg/%d" % i, "hostile/+/%d" % i, "#", "", "a" * 1000 + str(i),
                           "hostile/\x00/%d" % i, "hostile/\xff%d" % i])
        out.append(sn.register(rng.randrange(65536), rng.randrange(65536), name.encode("utf-8")
                               if name.isascii() else name.encode("latin-1")))
    for _ in range(300):  # use the ids: known, unknown, reserved; QoS 2 never released
        out.append(sn.publish(rng.randrange(1, 1600), b"p", rng.randrange(1, 65536), rng.choice([0, 1, 2]),
                              topic_id_type=rng.choice([sn.TOPIC_NORMAL, sn.TOPIC_PREDEFINED])))
    out.append(sn.publish(0xFFFF, b"", 9, 2))
    return out


def _sleep_wake_storm(cid, rng, hop_link):
    """Sleep/wake cycles (§6.14) as fast as UDP goes, waking from two addresses, with a CONNECT
    now and then and one clean DISCONNECT + CONNECT in the middle. Ends asleep."""
    out = [(None, sn.subscribe(1, "hostile/down/%s/#" % cid, 1))]
    for i in range(120):
        out += [(None, sn.disconnect(rng.randint(1, 2))), (None, sn.pingreq(cid)), (None, sn.pingreq()),
                (hop_link, sn.pingreq(cid)),  # wakes from another address
                (None, sn.disconnect(rng.randint(1, 2))),  # from the old address: unknown now
                (hop_link, sn.disconnect(rng.randint(1, 2))), (None, sn.pingreq(cid))]
        if i % 20 == 19:
            out.append((None, sn.connect(cid, rng.randint(1, 2), clean=False)))
        if i == 60:
            out += [(None, sn.disconnect(0)), (None, sn.connect(cid, 1, clean=False))]
    out.append((None, sn.disconnect(1)))  # ends asleep: reaped by the sleep timer
    return out


def _connect_loop(cid, rng, hop_link):
    out = []
    for i in range(150):
        link = hop_link if i % 3 == 0 else None  # takeover ping-pong between two addresses
        out.append((link, sn.connect(cid, rng.randint(1, 2), clean=i % 2 == 0, will=i % 5 == 0)))
        if i % 5 == 0:
            out.append((link, sn.willtopic("hostile/loop/will")))
    return out


def _subscriber_ignoring(cid, rng):
    """Subscribes; the downlink sent to it later is answered with the wrong acks only (after())."""
    return [sn.subscribe(1, "hostile/down/%s/#" % cid, 2), sn.subscribe(2, "hostile/down/%s" % cid, 1)]


def _wrong_acks(rng):
    out = []
    for mid in range(1, 40):
        out += [sn.puback(rng.randrange(65536), mid, 0), sn.pubrec(mid), sn.pubcomp(mid),
                sn.regack(rng.randrange(65536), mid + 7, 0), sn.regack(1, mid, 3), sn.puback(1, mid, 2)]
    return out


def _subscribe_flood(cid, rng):
    """Many filters, valid and not, '#' among them (the whole broker's traffic for this sensor)."""
    out = []
    for i in range(400):
        topic = rng.choice(["hostile/sub/%d/#" % i, "hostile/+/%d" % i, "#", "+/+/#", "a/#/b", "",
                            "hostile/sub/" + "s" * 2000, "hostile/\x00/%d" % i])
        out.append(sn.subscribe(rng.randrange(65536), topic.encode("latin-1"), rng.choice([0, 1, 2, -1])))
    for i in range(100):
        out.append(sn.unsubscribe(rng.randrange(65536), ("hostile/sub/%d/#" % i).encode()))
    out += [sn.subscribe(1, rng.randrange(65536), 1, sn.TOPIC_PREDEFINED), sn.subscribe(2, "zz", 1, sn.TOPIC_SHORT)]
    return out


def _will_update_flood(cid, rng):
    """Each changed will makes the gateway reconnect this sensor's MQTT session."""
    out = []
    for i in range(150):
        out += [sn.willtopicupd("hostile/wu/%d" % (i % 7), rng.choice([0, 1, 2])), sn.willmsgupd(b"m%d" % i)]
        if i % 10 == 0:
            out += [sn.willtopicupd(), sn.willmsgupd(b"no topic"), sn.willtopicupd("hostile/#")]
    return out


def _big_frames(cid, rng):
    """A registered topic, then the largest long-form PUBLISHes UDP can carry."""
    return [sn.register(0, 1, "hostile/big"),
            sn.publish(1, b"B" * (65507 - 9), 2, 1, long_length=True),
            sn.publish(1, b"B" * 300, 3, 0),
            sn.frame(sn.PUBLISH, bytes([0x20]) + struct.pack(">HH", 1, 4) + b"x" * 10, long_length=True)]


def _client_id_oddities(gw, tag, rng):
    """CONNECTs with odd ClientIds; fire and forget."""
    ids = [b"h%s-" % tag.encode() + b"c" * 196,        # 200 characters
           b"h%s-" % tag.encode() + b"d" * 19,          # 23: the spec's maximum
           b"h%s-" % tag.encode() + b"e" * 20,          # 24
           b"h%s-" % tag.encode() + b"f" * 245,         # largest with a 1-octet Length
           b"h%s-" % tag.encode() + b"g" * 1000,        # 3-octet Length
           b"h%s-" % tag.encode() + b"h" * 60000,
           b"h%s-nul\x00a" % tag.encode(), b"h%s-nul\x00b" % tag.encode(),  # same C string
           b"h%s-\xff\xfe\xc3" % tag.encode(),          # not UTF-8
           b"h%s-+/#" % tag.encode(), b"h%s- \n\r\t%%s{}" % tag.encode(), b"\x00", b" "]
    out = []
    for i, cid in enumerate(ids):
        a = Actor(gw, "client_id", cid, socket.AF_INET6 if i % 3 == 0 else socket.AF_INET)
        a.opening = [sn.frame(sn.CONNECT, bytes([sn.flags(clean=i % 2 == 0), 1])
                              + struct.pack(">H", rng.randint(1, 2)) + cid)]
        out.append(a)
    # A ProtocolId other than 0x01 and a Will flag on a refused CONNECT.
    a = Actor(gw, "client_id", "h%s-proto" % tag)
    a.opening = [sn.connect(a.client_id, 1, protocol_id=0x02), sn.connect(a.client_id, 1, will=True,
                                                                             protocol_id=0xFF)]
    out.append(a)
    return out


def build(gw, tag, seed):
    """All crafted actors of one storm (same tag and seed: the same bytes)."""
    rng = random.Random(seed)
    actors = _will_flows(gw, tag, rng) + _client_id_oddities(gw, tag, rng)
    connected = [("acks", _unknown_acks), ("regack", _regack_flood), ("register", _register_flood),
                 ("ignore", _subscriber_ignoring), ("big", _big_frames), ("subscribe", _subscribe_flood),
                 ("willupd", _will_update_flood)]
    for i, (kind, make) in enumerate(connected * 2):
        cid = "h%s-%s-%d" % (tag, kind, i)
        a = Actor(gw, kind, cid, socket.AF_INET6 if i % 2 else socket.AF_INET, needs_connack=True)
        a.opening = [sn.connect(cid, rng.randint(1, 2))]
        a.script = [(None, m) for m in make(cid, rng)]
        if kind == "ignore":
            a.downlink = ["hostile/down/%s/t%d" % (cid, k) for k in range(3)] + ["hostile/down/" + cid]
            a.after = [(None, m) for m in _wrong_acks(rng)]
        actors.append(a)
    for i in range(4):
        for kind, make in (("sleep", _sleep_wake_storm), ("loop", _connect_loop), ("dance", None)):
            cid = "h%s-%s-%d" % (tag, kind, i)
            a = Actor(gw, kind, cid, needs_connack=True)
            a.hop = UdpLink(gw.addr4)
            a.opening = [sn.connect(cid, rng.randint(1, 2))]
            if kind == "dance":  # see dance()
                a.script = [(None, sn.subscribe(1, "hostile/down/%s/#" % cid, 2))]
                a.downlink = ["hostile/down/%s/d%d" % (cid, k) for k in range(4)]
            else:
                a.script = [(a.hop if link is not None else None, m) for link, m in make(cid, rng, a.hop)]
            if kind == "sleep":
                # Downlink arrives mid-storm: buffered while asleep (6 per topic, 24 in all: more
                # than max_buffered_per_client), sent on each wake-up, never acknowledged.
                a.downlink = ["hostile/down/%s/s%d" % (cid, k) for k in range(4)]
                a.after = [(None, sn.pingreq(cid)), (a.hop, sn.pingreq(cid))]
            actors.append(a)
    return actors


def open_all(actors, timeout):
    """Send every opening; wait until those that need it have their CONNACK (or time is up)."""
    for a in actors:
        for m in a.opening:
            a.link.send(m)
    waiting = {a.link.fileno(): a for a in actors if a.needs_connack}
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        r, _, _ = select.select(list(waiting), [], [], 0.1)
        for fd in r:
            a = waiting[fd]
            try:
                p = sn.parse(a.link.sock.recv(65535))
            except sn.MalformedPacket:
                continue
            if p.type == sn.CONNACK:
                a.connack = p.return_code
                del waiting[fd]
    return [a for a in waiting.values()]


def play(actors, chunk=50):
    """The scripts, interleaved: `chunk` datagrams of each actor in turn. Yields after each round
    so the caller can pace the storm."""
    pos = {id(a): 0 for a in actors}
    while True:
        sent = 0
        for a in actors:
            i = pos[id(a)]
            for link, m in a.script[i:i + chunk]:
                (link or a.link).send(m)
                sent += 1
            pos[id(a)] = i + chunk
        if sent == 0:
            return
        yield sent


def dance(actors, rng, seconds):
    """The "dance" actors answer the gateway's downlink (REGISTER, QoS 0/1/2 PUBLISH, PUBREL) for a
    while: mostly right, sometimes wrong or not at all, and fall asleep mid-exchange, wake up from
    their other address, or CONNECT again (CleanSession=false), so that in-flight and parked
    exchanges are resumed, retransmitted and abandoned in every order. Returns datagrams sent."""
    links = {}
    for a in actors:
        if a.kind == "dance":
            links[a.link.fileno()] = (a, a.link)
            links[a.hop.fileno()] = (a, a.hop)
    sent = 0
    deadline = time.monotonic() + seconds
    next_wake = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() >= next_wake:  # keep them coming back
            for a, link in list(links.values())[::2]:
                (a.hop if rng.random() < 0.3 else a.link).send(sn.pingreq(a.client_id))
                sent += 1
            next_wake = time.monotonic() + 0.2
        r, _, _ = select.select(list(links), [], [], 0.05)
        for fd in r:
            a, link = links[fd]
            try:
                p = sn.parse(link.sock.recv(65535))
            except sn.MalformedPacket:
                continue
            out = []
            x = rng.random()
            if p.type == sn.REGISTER:
                out.append(sn.regack(p.topic_id, p.msg_id, 0 if x < 0.85 else 3) if x < 0.95 else None)
            elif p.type == sn.PUBLISH and p.qos == 1:
                out.append(sn.puback(p.topic_id, p.msg_id, 0) if x < 0.8 else
                           sn.puback(p.topic_id, p.msg_id, 2) if x < 0.9 else sn.pubrec(p.msg_id))
            elif p.type == sn.PUBLISH and p.qos == 2:
                out.append(sn.pubrec(p.msg_id) if x < 0.9 else sn.pubcomp(p.msg_id))
            elif p.type == sn.PUBREL:
                out.append(sn.pubcomp(p.msg_id) if x < 0.7 else sn.pubrec(p.msg_id) if x < 0.8 else None)
            y = rng.random()
            if y < 0.12:
                out.append(sn.disconnect(2))  # asleep in the middle of an exchange
            elif y < 0.2:
                out.append(sn.connect(a.client_id, 2, clean=False))
            elif y < 0.25:
                out.append(sn.pubrel(rng.randrange(65536)))
            to = a.hop if (link is a.link) == (rng.random() < 0.15) else a.link
            for m in out:
                if m is not None:
                    to.send(m)
                    sent += 1
    return sent


def send_after(actors):
    for a in actors:
        for link, m in a.after:
            (link or a.link).send(m)


def close_all(actors):
    for a in actors:
        a.close()
        if hasattr(a, "hop"):
            a.hop.close()
