"""Hostile input through the real binary: the fuzz corpus, seeded mutations of it and
crafted abusive clients, from many source addresses, against mosquitto and the real gateway.

Afterwards the gateway must still be alive, serve a well-behaved sensor end to end, have reaped
every hostile session, not have grown in memory, and exit 0 on SIGTERM (under ASan a leak or any
sanitizer report makes that exit code non-zero). Everything is seeded: a failure replays exactly.
"""
import functools
import json
import os
import random
import re
import socket
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

import actors as act  # noqa: E402
import hostile_inputs as hi  # noqa: E402
import mqttsn_packets as sn  # noqa: E402
from harness import Gateway, Mosquitto, Observer, Sensor, UdpLink, gateway_exe, wait_until  # noqa: E402

SEED = int(os.environ.get("HOSTILE_SEED", "20261208"))
MUTATIONS = int(os.environ.get("HOSTILE_MUTATIONS", "10000"))  # per storm
STORMS = max(2, int(os.environ.get("HOSTILE_STORMS", "2")))  # identical storms after the warm-up
SOURCES_V4, SOURCES_V6 = 40, 8
CHUNK = 300  # datagrams between two round trips to the gateway (keeps its socket buffer from overflowing)

# Short timers: a hostile session with nothing in flight is gone 1.5 x its 1-2 s keep-alive after its
# last datagram, a half-finished will exchange after retry_interval x (retry_count + 1).
PROTOCOL = {"retry_interval_ms": 250, "retry_count": 1, "advertise_interval_s": 3600,
            "max_buffered_per_client": 20}


@functools.lru_cache(maxsize=None)
def sanitized(exe):
    with open(exe, "rb") as f:
        return b"AddressSanitizer" in f.read()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def status_topic(gw):
    return "mqttsn-gateway/%d/status" % gw.gw_id


def online_statuses(gw, observer):
    # Only the gateway's own reports: the retained {"online": false} of its MQTT will also shows
    # up here when its broker connection drops and comes back under load, and carries no counts.
    out = []
    for m in observer.on(status_topic(gw)):
        st = json.loads(m.payload)
        if st.get("online"):
            out.append(st)
    return out


def latest_status(gw, observer):
    got = online_statuses(gw, observer)
    return got[-1] if got else {}


def session_counts(gw, observer):
    """(sessions created, sessions open) per the gateway's status topic (session lines in the log
    are rate-limited under a storm, so the log cannot be counted)."""
    st = latest_status(gw, observer)
    return st.get("sessions_created"), sum(st.get("sensors", {}).values())


class HostileGateway(Gateway):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        with open(self.config, "a") as f:
            f.write("\n[status]\ninterval_s = 1\n")

    def log_text_all(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")


class Prober:
    """SEARCHGW -> GWINFO round trips on both families: the gateway handles datagrams in order,
    so an answer means it has dealt with everything sent before (and is alive)."""

    def __init__(self, gw):
        self.gw = gw
        self.links = [UdpLink(gw.addr4), UdpLink(gw.addr6, socket.AF_INET6)]

    def sync(self, timeout=30):
        for link in self.links:
            deadline = time.monotonic() + timeout
            answered = False
            while not answered:
                assert time.monotonic() < deadline, ("gateway did not answer SEARCHGW within %ds "
                                                     "(alive: %s)" % (timeout, self.gw.alive()))
                link.send(sn.searchgw(0))  # again each second: a full socket buffer drops it
                resend = time.monotonic() + 1.0
                while not answered and time.monotonic() < resend:
                    data = link.recv(max(0.0, resend - time.monotonic()))
                    answered = data is not None and sn.parse(data).type == sn.GWINFO

    def close(self):
        for link in self.links:
            link.close()


def storm(gw, prober, observer, tag, seed, mutations):
    """One storm; returns how many datagrams it sent."""
    sources = ([UdpLink(gw.addr4) for _ in range(SOURCES_V4)]
               + [UdpLink(gw.addr6, socket.AF_INET6) for _ in range(SOURCES_V6)])
    rng = random.Random(seed)
    sent = 0

    def spray(datagrams):
        nonlocal sent
        for i, raw in enumerate(datagrams):
            src = sources[(sent + i) % len(sources)]
            if len(raw) <= hi.MAX_UDP4 or src.sock.family == socket.AF_INET6:
                src.send(raw)
            if (sent + i) % CHUNK == CHUNK - 1:
                prober.sync()
        sent += len(datagrams)
        prober.sync()

    actors = act.build(gw, tag, seed)
    try:
        # The corpus as is (each from three addresses), then once behind a forwarder.
        corpus = [hi.tame(raw, rng) for _, raw in hi.corpus()]
        spray(corpus * 3 + [hi.tame(sn.encapsulate(b"\x42", raw), rng) for raw in corpus])
        spray(hi.oversized_lengths() + hi.nested_encapsulations() + hi.bogus_node_ids(rng)
              + hi.odd_sizes(rng))
        not_answered = act.open_all(actors, timeout=20)
        sent += sum(len(a.opening) for a in actors)
        assert not not_answered, "no CONNACK for %r" % [a.client_id for a in not_answered]
        refused = [(a.client_id, a.connack) for a in actors if a.needs_connack and a.connack != 0]
        assert not refused, "crafted sessions refused: %r" % refused
        # The crafted scripts interleaved with the mutations. After the first round (the
        # SUBSCRIBEs) the broker side sends downlink to the subscribers that will never acknowledge
        # it properly and to the sleep/wake stormers, while their storms go on.
        muts = hi.mutations(seed, mutations)
        per_round = max(1, len(muts) // 40)
        for rnd, n in enumerate(act.play(actors, chunk=40)):
            sent += n
            spray(muts[:per_round])
            muts = muts[per_round:]
            if rnd == 0:
                time.sleep(0.5)  # the upstream SUBSCRIBEs
                infos = [observer.c.publish(topic, b"down %d" % k, qos=k % 3)
                         for a in actors for topic in a.downlink for k in range(6)]
                for info in infos:
                    info.wait_for_publish(10)
                act.send_after(actors)
                sent += sum(len(a.after) for a in actors)
                sent += act.dance(actors, rng, 2.0)
        spray(muts)
    finally:
        act.close_all(actors)
        for s in sources:
            s.close()
    return sent


def wait_reaped(gw, observer, timeout=30):
    """Until a status computed after this call shows no session open, plus the upstream clients'
    burial."""
    seen = len(online_statuses(gw, observer))

    def reaped():
        got = online_statuses(gw, observer)
        # got[seen] may have been computed before the call; got[seen + 1] cannot.
        return len(got) >= seen + 2 and session_counts(gw, observer)[1] == 0
    ok = wait_until(reaped, timeout, interval=0.2)
    time.sleep(2.0)  # retired Paho clients: disconnect (<= 1 s), then destroyed 0.5 s later
    return ok


def well_behaved(gw, observer, name):
    s = Sensor(gw, name=name)
    try:
        s.connect(name, duration=30)
        tid = s.register("hostile/ok/%s" % name)
        s.publish(tid, b"still serving " + name.encode(), qos=1)
        observer.wait_payload("hostile/ok/%s" % name, b"still serving " + name.encode())
        s.disconnect()
    finally:
        s.close()


def start(gw):
    """gw.start(), under ASan with a smaller quarantine. ASan keeps freed blocks in a quarantine of
    256 MB by default before reusing them: RSS then climbs by each storm's churn (~20 MB here) and
    would hide a real leak of that size. 16 MB still catches a use after free within the same
    storm phase; leak detection at exit is unaffected. Later options override earlier ones, so
    CI's ASAN_OPTIONS stay in force."""
    saved = os.environ.get("ASAN_OPTIONS")
    if sanitized(gateway_exe()):
        os.environ["ASAN_OPTIONS"] = (saved + ":" if saved else "") + "quarantine_size_mb=16"
    try:
        gw.start(ready_timeout=30)
    finally:
        if saved is None:
            os.environ.pop("ASAN_OPTIONS", None)
        else:
            os.environ["ASAN_OPTIONS"] = saved


@pytest.fixture
def rig(tmp_path):
    broker = Mosquitto(str(tmp_path)).start()
    gwdir = tmp_path / "gw"
    gwdir.mkdir()
    gw = HostileGateway(broker.uri, workdir=str(gwdir), protocol=PROTOCOL, log_level="info")
    observer = None
    prober = None
    try:
        start(gw)
        observer = Observer(broker.port)
        observer.subscribe("hostile/ok/#", qos=1)
        observer.subscribe(status_topic(gw))
        prober = Prober(gw)
        yield gw, observer, prober
    except BaseException:
        sys.stdout.write("---- gateway log (tail) ----\n" + gw.log_text()[-8000:] + "\n")
        raise
    finally:
        if prober:
            prober.close()
        if observer:
            observer.close()
        gw.stop()
        broker.stop()


def test_hostile_storms(rig):
    gw, observer, prober = rig
    asan = sanitized(gateway_exe())
    pid = gw.proc.pid
    t0 = time.monotonic()

    # Warm-up: one well-behaved round and a small storm, so that first-use allocations (Paho's
    # threads, allocator arenas, spdlog, hash tables at their working size) are in the baseline.
    well_behaved(gw, observer, "warmup")
    n_warm = storm(gw, prober, observer, "w", SEED + 1, MUTATIONS // 5)
    assert wait_reaped(gw, observer), "warm-up sessions not reaped: created/open = %r" % (
        session_counts(gw, observer),)
    base = rss_kb(pid)

    figures = []
    for i in range(1, STORMS + 1):
        # Identical storms (same tag and seed: the same bytes, the same ClientIds).
        n = storm(gw, prober, observer, "s", SEED, MUTATIONS)
        assert gw.alive(), "gateway died during storm %d" % i
        prober.sync()
        assert wait_reaped(gw, observer), ("storm %d: hostile sessions not reaped within 30 s: created/open = %r"
                                           % (i, session_counts(gw, observer)))
        assert gw.alive()
        figures.append((n, rss_kb(pid)))
        well_behaved(gw, observer, "after%d" % i)

    created, still_open = session_counts(gw, observer)
    rss = [base] + [r for _, r in figures]
    summary = ("hostile: %s gateway, warm-up %d + %d storms of %d datagrams, sessions created %d, open %d; "
               "VmRSS kB: baseline %d, after each storm %s; %.1f s"
               % ("ASan" if asan else "plain", n_warm, len(figures), figures[0][0], created, still_open, base,
                  ", ".join("%d (%+d)" % (r, r - p) for p, r in zip(rss, rss[1:])), time.monotonic() - t0))
    print("\n" + summary)

    # Tolerances. Freed memory stays with the allocator for reuse (glibc arenas, one per Paho
    # thread; under ASan size-class caches and the 16 MB quarantine), so RSS after a storm does not
    # fall back to the byte, and the first storm may raise the high-water mark. A leak shows as
    # growth per storm: the last identical storm must not add more than the limit. For scale, one
    # storm opens ~110 sessions (each with a Paho client) and sends ~26000 datagrams: keeping a
    # session record and client per session, or 100 octets per datagram (an address map entry,
    # say), costs more than 2 MB per storm, which the plain build catches; the ASan build's limit
    # is looser (its allocator settles over two storms) and is there for what ASan alone sees.
    # Measured on a loaded 2-core machine: plain +0.1..0.7 MB for the first storm, -0.1..+0.3 MB
    # for the next ones; ASan +4..14 MB for the first, -1.1..+2.1 MB for the next ones.
    growth_limit = (6 if asan else 2) * 1024
    first_limit = (24 if asan else 8) * 1024
    assert rss[-1] - rss[-2] <= growth_limit, "memory grows storm over storm: " + summary
    assert rss[1] - base <= first_limit, "memory did not return near its baseline: " + summary

    # SIGTERM: clean exit (ASan: no leak, no report), and no hostile session left behind.
    assert gw.stop() == 0, "gateway exit code %r after SIGTERM:\n%s" % (gw.exit_code, gw.log_text()[-6000:])
    assert re.search(r"stopping: 0 sessions", gw.log_text_all()), gw.log_text()[-3000:]


# Found by this suite (H8-1, fixed): a ClientId holding a newline must not forge whole log lines
# ("... session ClientId=victim ...: connected"), and a 60000-octet ClientId must not be repeated in
# full on every line about that session (mqttsn::printable escapes and cuts it).
def test_client_id_cannot_forge_log_lines(tmp_path):
    broker = Mosquitto(str(tmp_path)).start()
    gwdir = tmp_path / "gw"
    gwdir.mkdir()
    gw = HostileGateway(broker.uri, workdir=str(gwdir), protocol=PROTOCOL, log_level="info")
    link = None
    try:
        gw.start(ready_timeout=30)
        link = UdpLink(gw.addr4)
        forged = b"2026-01-01 00:00:00.000 info  session ClientId=FORGED udp:10.0.0.1:1: new"
        link.send(sn.frame(sn.CONNECT, bytes([sn.flags(clean=True), 1]) + b"\x00\x01" + b"x\n" + forged))
        wait_until(lambda: "x" in gw.log_text_all() and ": new" in gw.log_text_all(), 10)
        time.sleep(0.5)
        forged_lines = [line for line in gw.log_text_all().splitlines() if "FORGED" in line
                        and line.startswith("2026-01-01")]
        assert not forged_lines, "a ClientId forged log lines: %r" % forged_lines
    finally:
        if link:
            link.close()
        assert gw.stop() == 0
        broker.stop()


def _park_round(gw, prober, tag, sensors, registers, name_len):
    """`sensors` departed sensors: CONNECT with CleanSession=false, `registers` long topic names
    registered, clean DISCONNECT. Returns how many got their CONNACK."""
    links = [UdpLink(gw.addr4) for _ in range(sensors)]
    try:
        for i, link in enumerate(links):
            link.send(sn.connect("p%s-%d" % (tag, i), 2, clean=False))
        accepted = 0
        for link in links:
            while True:
                data = link.recv(20)
                assert data is not None, "no CONNACK for a parking sensor"
                p = sn.parse(data)
                if p.type == sn.CONNACK:
                    accepted += p.return_code == sn.ACCEPTED
                    break
        for i, link in enumerate(links):
            for k in range(registers):
                name = ("hostile/park/%s/%d/%d/" % (tag, i, k)).ljust(name_len, "n")
                link.send(sn.register(0, k + 1, name))
            link.send(sn.disconnect())
            prober.sync()
        return accepted
    finally:
        for link in links:
            link.close()


# Found by this suite (H8-2, fixed): a CleanSession=false session that sends a clean DISCONNECT
# is parked with everything it registered. Without an expiry and an oldest-first cap any peer could
# grow the gateway's memory without bound (unique ClientIds, each with many long topic names). This
# test keeps parking new departed sensors (6 MB of topic names a round) and requires the growth to
# stop; the config sets protocol.parked_session_expiry_s short.
def test_departed_sensors_do_not_grow_memory_without_bound(tmp_path):
    broker = Mosquitto(str(tmp_path)).start()
    gwdir = tmp_path / "gw"
    gwdir.mkdir()
    # Parked sessions expire after 1 s here (protocol.parked_session_expiry_s, default 3600).
    gw = HostileGateway(broker.uri, workdir=str(gwdir),
                        protocol=dict(PROTOCOL, parked_session_expiry_s=1), log_level="warn")
    try:
        start(gw)
        prober = Prober(gw)
        _park_round(gw, prober, "w", 60, 100, 1000)  # warm-up: allocator high-water mark
        prober.sync()
        rss = [rss_kb(gw.proc.pid)]
        for r in range(3):
            assert _park_round(gw, prober, "r%d" % r, 60, 100, 1000) == 60
            prober.sync()
            time.sleep(1.0)
            rss.append(rss_kb(gw.proc.pid))
        prober.close()
        growth = [b - a for a, b in zip(rss, rss[1:])]
        print("\nparked: VmRSS kB after warm-up and 3 rounds of 60 departed sensors x 100 topic names "
              "of 1000 octets: %r, growth per round %r" % (rss, growth))
        assert gw.alive()
        assert growth[-1] <= 4096, ("state of departed CleanSession=false sensors "
                                    "grows without bound; VmRSS kB per round %r" % rss)
    finally:
        assert gw.stop() == 0
        broker.stop()
