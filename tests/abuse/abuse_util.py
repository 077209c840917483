"""Helpers of the abuse suite: status JSON, RSS, many raw sensors at once."""
import json
import time

import mqttsn_packets as sn
from harness import UdpLink


def status_topic(gw):
    return "mqttsn-gateway/%d/status" % gw.gw_id


def latest_status(observer, gw, pred=lambda st: True, timeout=10.0):
    """The newest online status report that satisfies pred (waits for one)."""
    deadline = time.monotonic() + timeout
    while True:
        got = [json.loads(m.payload) for m in observer.on(status_topic(gw))]
        got = [st for st in got if st.get("online") and pred(st)]
        if got or time.monotonic() > deadline:
            assert got, "no matching status report; last: %r" % (
                [m.payload for m in observer.on(status_topic(gw))][-1:],)
            return got[-1]
        time.sleep(0.1)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def open_links(gw, n):
    return [UdpLink(gw.addr4) for _ in range(n)]


def connect_many(links, client_ids, duration, batch=50, timeout=20.0):
    """CONNECT every link with its ClientId, `batch` at a time; returns the CONNACK return codes."""
    codes = []
    for i in range(0, len(links), batch):
        part = list(zip(links[i:i + batch], client_ids[i:i + batch]))
        for link, cid in part:
            link.send(sn.connect(cid, duration))
        for link, cid in part:
            raw = link.recv(timeout)
            assert raw is not None, "no CONNACK for %r" % cid
            p = sn.parse(raw)
            assert p.type == sn.CONNACK, "%r: %r" % (cid, p)
            codes.append(p.return_code)
    return codes


def request_many(link, packets, answer_type, window=100, timeout=10.0):
    """Send packets (msg_id, raw) keeping `window` unanswered; returns {msg_id: packet}."""
    answers = {}
    outstanding = 0
    it = iter(packets)
    done = False
    while not done or outstanding:
        while not done and outstanding < window:
            nxt = next(it, None)
            if nxt is None:
                done = True
                break
            link.send(nxt[1])
            outstanding += 1
        if outstanding:
            raw = link.recv(timeout)
            assert raw is not None, "no answer; %d outstanding, %d answered" % (outstanding, len(answers))
            p = sn.parse(raw)
            if p.type == answer_type:
                answers[p.msg_id] = p
                outstanding -= 1
    return answers


def sanitized(exe):
    """Built with AddressSanitizer: memory figures mean nothing there (shadow memory, quarantine)."""
    with open(exe, "rb") as f:
        return b"AddressSanitizer" in f.read()
