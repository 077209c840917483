"""Log floods are rate-limited with a count of what was suppressed: 5000 malformed
datagrams and 2000 packets from unknown senders leave a bounded log whose "N similar messages
suppressed (kind)" lines account for every line not printed, while single normal events are still
logged one line each."""
import re
import time

import mqttsn_packets as sn
from harness import Sensor, UdpLink, wait_until

MALFORMED, UNKNOWN = 5000, 2000
CHUNK = 250  # datagrams between two SEARCHGW round trips (keeps the socket buffer from overflowing)


def sync(link):
    """SEARCHGW -> GWINFO: the gateway handles datagrams in order, so it has read all sent before."""
    link.send(sn.searchgw(0))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        data = link.recv(deadline - time.monotonic())
        if data and sn.parse(data).type == sn.GWINFO:
            return
    raise AssertionError("no GWINFO")


def flood(link, datagram, count):
    for i in range(count):
        link.send(datagram)
        if i % CHUNK == CHUNK - 1:
            sync(link)
    sync(link)


def accounted(log, kind, line_pattern):
    """Lines printed for `kind` plus the counts its summaries report."""
    printed = len(re.findall(line_pattern, log))
    suppressed = sum(int(n) for n in re.findall(r"(\d+) similar messages suppressed \(%s\)" % re.escape(kind), log))
    return printed, suppressed


def test_floods_are_limited_and_counted(make_gateway):
    gw = make_gateway(log_level="debug")
    malformed = UdpLink(gw.addr4)
    stranger = UdpLink(gw.addr4)
    try:
        before = len(gw.log_text().splitlines())
        flood(malformed, b"\x05\x00", MALFORMED)           # Length 5 in a 2-octet datagram
        flood(stranger, sn.frame(sn.PINGREQ), UNKNOWN)     # no session at that address
        during = gw.log_text().splitlines()[before:]
        # At most one window's worth of lines per kind (10), and a few others.
        assert len(during) < 60, "\n".join(during[-80:])

        # A normal single event in the middle of it: logged as usual.
        s = Sensor(gw, name="calm")
        s.connect("calm-sensor")
        assert wait_until(lambda: re.search(r"session ClientId=calm-sensor \S+: new$", gw.log_text(), re.M), 5)

        # The window ends (10 s): the summary comes on its own, without a further datagram.
        assert wait_until(lambda: "similar messages suppressed (malformed datagram)" in gw.log_text(), 15), \
            gw.log_text()[-3000:]
        printed, suppressed = accounted(gw.log_text(), "malformed datagram", r"malformed datagram from ")
        assert printed + suppressed == MALFORMED, (printed, suppressed)
        assert suppressed >= MALFORMED - 20, (printed, suppressed)
        # A new window: the next malformed datagram is printed again.
        malformed.send(b"\x07\x00\x01")
        sync(malformed)
        assert wait_until(lambda: "malformed datagram from udp:%s:%d (3 bytes)"
                          % malformed.sock.getsockname() in gw.log_text(), 5)
        s.disconnect()
        s.close()
    finally:
        malformed.close()
        stranger.close()
    assert gw.stop() == 0
    with open(gw.log, "rb") as f:
        log = f.read().decode(errors="replace")
    # At exit every count still pending is reported: nothing is lost from the accounting.
    printed, suppressed = accounted(log, "unknown sender", r"PINGREQ from unknown sender ")
    assert printed + suppressed == UNKNOWN, (printed, suppressed)
    assert 1900 <= suppressed < UNKNOWN, (printed, suppressed)
    printed, suppressed = accounted(log, "malformed datagram", r"malformed datagram from ")
    assert printed + suppressed == MALFORMED + 1, (printed, suppressed)
    assert len(log.splitlines()) < 120, "log not bounded: %d lines" % len(log.splitlines())
