"""Admission control and resource caps: ClientId and network allow-lists, the session
cap, the per-source rate limit, buffer byte caps, SIGHUP reload of the allow-lists, and the
refusal counters in the status topic."""
import json
import signal
import socket
import time

import pytest

import mqttsn_packets as sn
from harness import UdpLink, _toml_value, wait_until

STATUS = {"interval_s": 1}


def admission(**keys):
    # [status] before [admission]: reload tests rewrite the file from "[admission]" on.
    return dict(sections={"status": STATUS, "admission": keys})


class BoundLink(UdpLink):
    """A UdpLink from a chosen loopback address (Linux routes all of 127.0.0.0/8 to lo)."""

    def __init__(self, gw_addr, source_ip):
        super().__init__(gw_addr)
        self.sock.close()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((source_ip, 0))


def from_ip(sensors, gateway, ip, name):
    return sensors(name, link=BoundLink(gateway.addr4, ip))


def status(observer, gateway, pred, timeout=10):
    """The first status JSON (published every second) for which pred holds."""
    topic = "mqttsn-gateway/%d/status" % gateway.gw_id
    seen = []

    def ok():
        for m in reversed(observer.on(topic)):
            st = json.loads(m.payload)
            if st.get("online") and pred(st):
                seen.append(st)
                return True
        return False
    assert wait_until(ok, timeout), observer.on(topic)[-1:]
    return seen[-1]


def rewrite_admission(gateway, **keys):
    with open(gateway.config) as f:
        text = f.read()
    head = text[:text.index("[admission]")]
    body = "".join("%s = %s\n" % (k, _toml_value(v)) for k, v in keys.items())
    with open(gateway.config, "w") as f:
        f.write(head + "[admission]\n" + body)
    gateway.proc.send_signal(signal.SIGHUP)


@pytest.mark.gateway_config(**admission(client_ids=["adm-ok", "adm-kitchen-*"]))
def test_client_id_allow_list(sensors, gateway):
    sensors("ok").connect("adm-ok")
    sensors("prefix").connect("adm-kitchen-3")
    bad = sensors("bad")
    bad.connect("adm-kitchen", expect_rc=sn.REJ_NOT_SUPPORTED)  # the prefix is "adm-kitchen-"
    bad.connect("adm-bad", expect_rc=sn.REJ_NOT_SUPPORTED)
    assert wait_until(lambda: "CONNECT refused (ClientId not allowed): ClientId=adm-bad udp:127.0.0.1:"
                      in gateway.log_text(), 5), gateway.log_text()[-3000:]
    # Refused means no session: anything else it sends is from an unknown sender.
    bad.send(sn.pingreq())
    bad.expect(sn.DISCONNECT)


@pytest.mark.gateway_config(**admission(networks=["127.0.0.1/32"]))
def test_network_allow_list(sensors, gateway):
    outsider = from_ip(sensors, gateway, "127.0.0.2", "outsider")
    outsider.connect("adm-outsider", expect_rc=sn.REJ_NOT_SUPPORTED)
    assert wait_until(lambda: "CONNECT refused (source network not allowed): ClientId=adm-outsider "
                      "udp:127.0.0.2:" in gateway.log_text(), 5), gateway.log_text()[-3000:]
    # Anything but CONNECT goes unanswered: a scan learns nothing, not even that a gateway is here.
    outsider.send(sn.searchgw(0))
    outsider.send(sn.pingreq())
    outsider.expect_nothing(1.0)
    # IPv6 ::1 is not in 127.0.0.1/32 either.
    v6 = sensors("v6", family=socket.AF_INET6)
    v6.connect("adm-v6", expect_rc=sn.REJ_NOT_SUPPORTED)
    inside = sensors("inside")
    inside.connect("adm-inside")
    inside.register("adm/inside")


@pytest.mark.gateway_config(**admission(max_sessions=2))
def test_session_cap(sensors, gateway):
    s1, s2, s3 = sensors("s1"), sensors("s2"), sensors("s3")
    s1.connect("cap-1")
    s2.connect("cap-2")
    s3.connect("cap-3", expect_rc=sn.REJ_CONGESTION)
    assert wait_until(lambda: "admission.max_sessions (2) reached" in gateway.log_text(), 5)
    # A known ClientId taking over from a new address adds no session: accepted.
    sensors("s1-moved").connect("cap-1")
    s2.connect("cap-2")  # reconnect from the same address: accepted too
    s3.connect("cap-3", expect_rc=sn.REJ_CONGESTION)
    s2.disconnect()  # its session ends before the DISCONNECT answer goes out
    s3.connect("cap-3")


@pytest.mark.gateway_config(**admission(rate_limit_pps=20, rate_limit_burst=20))
def test_rate_limit_cuts_a_flood_and_serves_a_polite_source(sensors, gateway, observer):
    observer.subscribe("mqttsn-gateway/%d/status" % gateway.gw_id, qos=0)
    # Two sockets on one address: hopping ports does not buy more.
    floods = [BoundLink(gateway.addr4, "127.0.0.3") for _ in range(2)]
    try:
        # 3000 datagrams in about a second: far above the limit, far below what the gateway
        # reads, so the kernel drops (almost) none and the counter must account for them.
        sent = 0
        t0 = time.monotonic()
        for i in range(3000):
            floods[i % 2].send(sn.searchgw(0))
            sent += 1
            if sent % 30 == 0:
                time.sleep(0.01)
        answers = 0
        for link in floods:
            while link.recv(0.3) is not None:
                answers += 1
        elapsed = time.monotonic() - t0
        # Allowed: the burst plus the rate over the whole time (and a little timing slack).
        allowed = 20 + 20 * elapsed
        assert 10 <= answers <= allowed + 5, (answers, sent, elapsed)
        # The polite source (127.0.0.1) is served at once, flood or not.
        polite = sensors("polite")
        polite.connect("adm-polite")
        polite.register("adm/polite")
        st = status(observer, gateway, lambda st: st["drops"]["rate_limited"] >= 2000)
        print("flood: %d sent in %.2f s, %d answered, %d counted as rate limited"
              % (sent, elapsed, answers, st["drops"]["rate_limited"]))
        assert st["drops"]["rate_limited"] <= sent - answers
        assert wait_until(lambda: "rate limit: datagram from udp:127.0.0.3:" in gateway.log_text(), 5)
    finally:
        for link in floods:
            link.close()


@pytest.mark.gateway_config(protocol={"max_buffered_bytes_per_client": 300})
def test_buffer_byte_cap_drops_the_oldest(sensor, observer, gateway, client_id):
    topic = "adm/buf"  # 7 bytes + 100 of payload: two messages fit in 300 bytes, three do not
    sensor.connect(client_id)
    sensor.subscribe(topic, qos=1)
    sensor.disconnect(10)
    for i in range(8):
        observer.publish(topic, bytes([0x30 + i]) * 100, qos=1)
    sensor.expect_nothing(1.5)  # asleep; the broker passes them on meanwhile
    sensor.pingreq(client_id)
    got = [sensor.receive_publish(timeout=5).data[0] - 0x30 for _ in range(2)]
    sensor.expect(sn.PINGRESP)
    assert got == [6, 7], got  # the newest kept
    line = "buffer full (client_bytes), dropped a QoS 1 message on 'adm/buf'"
    assert wait_until(lambda: gateway.log_text().count(line) == 6, 5), gateway.log_text()[-3000:]


@pytest.mark.gateway_config(protocol={"max_buffered_bytes_per_client": 300},
                            sections={"status": STATUS})
def test_buffer_drops_counted_in_status(sensor, observer, gateway, client_id):
    observer.subscribe("mqttsn-gateway/%d/status" % gateway.gw_id, qos=0)
    sensor.connect(client_id)
    sensor.subscribe("adm/count", qos=0)
    sensor.disconnect(10)
    for i in range(5):
        observer.publish("adm/count", b"x" * 100, qos=0)
    st = status(observer, gateway, lambda st: st["drops"]["buffer_client_bytes"] == 3)
    assert st["buffered"]["messages"] == 2 and st["buffered"]["bytes"] == 2 * 109, st
    assert wait_until(lambda: "buffer full (client_bytes)" in gateway.log_text(), 5)


@pytest.mark.gateway_config(**admission(client_ids=["hup-a"]))
def test_sighup_changes_the_allow_list_without_restart(sensors, gateway):
    a, b = sensors("a"), sensors("b")
    a.connect("hup-a")
    b.connect("hup-b", expect_rc=sn.REJ_NOT_SUPPORTED)
    rewrite_admission(gateway, client_ids=["hup-a", "hup-b"])
    assert wait_until(lambda: "reload: admission.client_ids: +hup-b" in gateway.log_text(), 5), \
        gateway.log_text()[-2000:]
    b.connect("hup-b")
    rewrite_admission(gateway, client_ids=["hup-b"], networks=["127.0.0.1/32"])
    assert wait_until(lambda: "admission.client_ids: -hup-a; admission.networks: +127.0.0.1/32"
                      in gateway.log_text(), 5), gateway.log_text()[-2000:]
    gone = "session ClientId=hup-a udp:127.0.0.1:%d is no longer allowed" \
        % a.link.sock.getsockname()[1]
    assert wait_until(lambda: gone in gateway.log_text(), 5), gateway.log_text()[-2000:]
    a.connect("hup-a", expect_rc=sn.REJ_NOT_SUPPORTED)  # refused when it reconnects
    b.connect("hup-b")
    assert gateway.alive()


@pytest.mark.gateway_config(**admission(client_ids=["st-*"], networks=["127.0.0.1/32"]))
def test_refusals_counted_in_status(sensors, gateway, observer):
    observer.subscribe("mqttsn-gateway/%d/status" % gateway.gw_id, qos=0)
    sensors("ok").connect("st-ok")
    sensors("bad-id").connect("nope", expect_rc=sn.REJ_NOT_SUPPORTED)
    outsider = from_ip(sensors, gateway, "127.0.0.4", "outsider")
    outsider.connect("st-outside", expect_rc=sn.REJ_NOT_SUPPORTED)
    outsider.send(sn.searchgw(0))
    outsider.send(sn.pingreq())
    st = status(observer, gateway, lambda st: st["drops"]["network_not_allowed"] == 2)
    assert st["refused"] == {"client_id": 1, "network": 1, "max_sessions": 0, "identity": 0,
                             "credentials": 0, "client_id_invalid": 0,
                             "connect_queue_timeout": 0, "connect_timeout": 0,
                             "upstream_failed": 0}, st
    assert st["drops"]["rate_limited"] == 0
