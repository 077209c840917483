"""DTLS for UDP sensors, end to end: the real gateway with [dtls], a real mosquitto, and
`openssl s_client -dtls1_2` as the sensor's DTLS stack carrying raw MQTT-SN."""
import os
import socket
import time

import pytest

from conftest import KEYS, StatusWatch, write_psk_file
from dtls_link import DroppingRelay, SClientLink, is_handshake
from harness import Observer, Sensor, UdpLink, wait_until
import mqttsn_packets as sn


def psk_link(gw, ident, key=None, port=None):
    return SClientLink(port or gw.dtls_port, psk_identity=ident, psk=key or KEYS[ident])


def dtls_sensor(cleanup, link, name):
    s = Sensor(link=link, name=name)
    cleanup.append(s)
    return s


@pytest.fixture
def psk_gateway(tmp_path, start_gateway):
    return start_gateway({"psk_file": write_psk_file(str(tmp_path))})


def test_psk_publish_and_subscribe_end_to_end(broker, psk_gateway, cleanup):
    obs = Observer(broker.port)
    cleanup.append(obs)
    obs.subscribe("dtls/#")
    s = dtls_sensor(cleanup, psk_link(psk_gateway, "sensor-1"), "psk-sensor")
    s.connect("sensor-1")
    tid = s.register("dtls/up")
    s.publish(tid, b"qos0 over dtls", qos=0)
    s.publish(tid, b"qos1 over dtls", qos=1)
    obs.wait_payload("dtls/up", b"qos0 over dtls")
    obs.wait_payload("dtls/up", b"qos1 over dtls")
    sub = s.subscribe("dtls/down", qos=1)
    obs.publish("dtls/down", b"to the sensor", qos=1)
    p = s.expect(sn.PUBLISH, timeout=10)
    assert p.data == b"to the sensor" and p.topic_id == sub.topic_id
    s.ack(p)
    status = StatusWatch(broker)
    cleanup.append(status)
    st = status.wait(lambda j: j["dtls"]["handshakes_done"] >= 1 and j["by_transport"]["dtls"] == 1)
    assert st["dtls"]["handshakes_done"] >= 1 and st["dtls"]["peers"] == 1, st
    assert st["by_transport"]["dtls"] == 1, st


def test_raw_connect_from_independent_s_client(psk_gateway, cleanup):
    # The CONNECT bytes written by hand (§5.4.4): Length, MsgType 0x04, Flags (CleanSession),
    # ProtocolId 0x01, Duration 30, ClientId.
    link = psk_link(psk_gateway, "sensor-2")
    cleanup.append(link)
    link.send(bytes([5 + 8 + 1, 0x04, 0x04, 0x01, 0x00, 30]) + b"sensor-2")
    assert link.recv(10) == bytes([0x03, 0x05, 0x00]), "CONNACK accepted expected"


def test_wrong_key_fails_the_handshake(tmp_path, broker, start_gateway, cleanup):
    # DTLS drops records that fail their MAC (RFC 6347 §4.1.2.7): a wrong key shows as a client
    # Finished that never verifies, so the handshake ends at handshake_timeout_s.
    gw = start_gateway({"psk_file": write_psk_file(str(tmp_path)), "handshake_timeout_s": 2})
    link = psk_link(gw, "sensor-1", key="00" * 16)
    cleanup.append(link)
    link.send(sn.connect("sensor-1"))
    assert link.recv(4) is None, "no CONNACK over a handshake with the wrong key"
    status = StatusWatch(broker)
    cleanup.append(status)
    st = status.wait(lambda j: j["dtls"]["handshakes_failed"] >= 1)
    assert st["dtls"]["handshakes_failed"] >= 1 and st["dtls"]["handshakes_done"] == 0, st


def test_unknown_identity_fails_the_handshake(psk_gateway, cleanup):
    link = SClientLink(psk_gateway.dtls_port, psk_identity="intruder", psk="00112233")
    cleanup.append(link)
    link.send(sn.connect("intruder"))
    assert link.recv(5) is None
    assert wait_until(lambda: 'unknown PSK identity "intruder"' in psk_gateway.log_text(), 5)


def test_identity_mismatch_is_refused_and_counted(broker, psk_gateway, cleanup):
    s = dtls_sensor(cleanup, psk_link(psk_gateway, "sensor-1"), "liar")
    s.connect("sensor-2", expect_rc=sn.REJ_NOT_SUPPORTED)
    # Its own ClientId works on the same DTLS session.
    s.connect("sensor-1")
    assert wait_until(lambda: 'ClientId is not the DTLS identity "sensor-1"' in psk_gateway.log_text(), 5)
    status = StatusWatch(broker)
    cleanup.append(status)
    st = status.wait(lambda j: j["dtls"]["identity_mismatches"] == 1)
    assert st["dtls"]["identity_mismatches"] == 1 and st["refused"]["identity"] == 1, st


def test_plain_udp_cannot_take_over_a_dtls_client_id(psk_gateway, cleanup):
    s = dtls_sensor(cleanup, psk_link(psk_gateway, "sensor-1"), "dtls")
    s.connect("sensor-1")
    plain = Sensor(psk_gateway, name="plain-impostor")
    cleanup.append(plain)
    plain.connect("sensor-1", expect_rc=sn.REJ_NOT_SUPPORTED)
    s.publish(s.register("dtls/still-mine"), b"x", qos=1)


def test_identity_check_off_allows_any_client_id(tmp_path, start_gateway, cleanup):
    gw = start_gateway({"psk_file": write_psk_file(str(tmp_path)),
                        "identity_must_match_client_id": False})
    s = dtls_sensor(cleanup, psk_link(gw, "sensor-1"), "free")
    s.connect("another-name")


def test_plain_and_dtls_side_by_side_and_plain_to_dtls_port_dropped(broker, psk_gateway, cleanup):
    obs = Observer(broker.port)
    cleanup.append(obs)
    obs.subscribe("mix/#")
    d = dtls_sensor(cleanup, psk_link(psk_gateway, "sensor-1"), "dtls")
    p = Sensor(psk_gateway, name="plain")
    cleanup.append(p)
    d.connect("sensor-1")
    p.connect("plain-1")
    d.publish(d.register("mix/dtls"), b"secure", qos=1)
    p.publish(p.register("mix/plain"), b"clear", qos=1)
    obs.wait_payload("mix/dtls", b"secure")
    obs.wait_payload("mix/plain", b"clear")
    # A plain MQTT-SN CONNECT to the DTLS port: no answer, counted.
    raw = UdpLink(("127.0.0.1", psk_gateway.dtls_port))
    cleanup.append(raw)
    raw.send(sn.connect("sneaky"))
    raw.send(sn.searchgw(0))
    assert raw.recv(1.0) is None
    status = StatusWatch(broker)
    cleanup.append(status)
    st = status.wait(lambda j: j["dtls"]["not_dtls"] == 2 and j["by_transport"]["udp"] == 1)
    assert st["dtls"]["not_dtls"] == 2, st
    assert st["by_transport"] == {"udp": 1, "ble": 0, "dtls": 1}, st


def test_admission_networks_apply_to_dtls(broker, tmp_path, start_gateway, cleanup):
    gw = start_gateway({"psk_file": write_psk_file(str(tmp_path))},
                       admission={"networks": ["127.0.0.1/32"]})
    relay = DroppingRelay(gw.dtls_port, lambda d, data: False, source="127.0.0.2")
    cleanup.append(relay)
    link = psk_link(gw, "sensor-1", port=relay.port)
    cleanup.append(link)
    link.send(sn.connect("sensor-1"))
    assert link.recv(3) is None, "127.0.0.2 is outside admission.networks: no handshake"
    s = dtls_sensor(cleanup, psk_link(gw, "sensor-1"), "allowed")
    s.connect("sensor-1")
    status = StatusWatch(broker)
    cleanup.append(status)
    st = status.wait(lambda j: j["dtls"]["not_admitted"] >= 1 and j["dtls"]["handshakes_done"] == 1)
    # Only the allowed sensor got a cookie.
    assert st["dtls"]["not_admitted"] >= 1 and st["dtls"]["hello_verify"] == 1, st


def test_lost_handshake_flights_are_retransmitted(psk_gateway, cleanup):
    # Drop the gateway's first ServerHello flight and the client's first flight after it.
    seen = {"server_hello": 0, "client_flight": 0}

    def drop(direction, data):
        if direction == "down" and is_handshake(data, 2):
            seen["server_hello"] += 1
            return seen["server_hello"] == 1
        if direction == "up" and seen["server_hello"] >= 2 and data[0] in (20, 22) and not is_handshake(data, 1):
            seen["client_flight"] += 1
            return seen["client_flight"] == 1
        return False
    relay = DroppingRelay(psk_gateway.dtls_port, drop)
    cleanup.append(relay)
    s = dtls_sensor(cleanup, psk_link(psk_gateway, "sensor-1", port=relay.port), "lossy")
    s.connect("sensor-1")
    assert any(d == "down" for d, _ in relay.dropped) and any(d == "up" for d, _ in relay.dropped), \
        relay.dropped
    assert seen["server_hello"] >= 2, "the gateway sent its ServerHello flight again"


def test_require_certificate_right_missing_other_ca(tmp_path, start_gateway, pki, cleanup):
    cert, key = pki["server"]
    gw = start_gateway({"psk_file": write_psk_file(str(tmp_path)), "cert_file": cert,
                        "key_file": key, "ca_file": pki["ca"], "require_certificate": True})
    ccert, ckey = pki["client"]
    good = dtls_sensor(cleanup, SClientLink(gw.dtls_port, cert=ccert, key=ckey, cafile=pki["ca"]),
                       "cert-sensor")
    good.connect("cert-sensor")
    assert wait_until(lambda: 'connected as "cert-sensor"' in gw.log_text(), 5)
    # No certificate: refused, PSK-only clients included.
    for link in (SClientLink(gw.dtls_port, cafile=pki["ca"]), psk_link(gw, "sensor-1")):
        cleanup.append(link)
        link.send(sn.connect("sensor-1"))
        assert link.recv(4) is None, "a client without a certificate must not get through"
    # A certificate from another CA, same CN: refused.
    scert, skey = pki["stranger"]
    bad = SClientLink(gw.dtls_port, cert=scert, key=skey, cafile=pki["ca"])
    cleanup.append(bad)
    bad.send(sn.connect("cert-sensor"))
    assert bad.recv(4) is None, "a certificate from another CA must be refused"
    assert gw.log_text().count("handshake with") >= 3


def test_optional_certificate_and_psk_together(tmp_path, start_gateway, pki, cleanup):
    cert, key = pki["server"]
    gw = start_gateway({"psk_file": write_psk_file(str(tmp_path)), "cert_file": cert,
                        "key_file": key, "ca_file": pki["ca"]})
    p = dtls_sensor(cleanup, psk_link(gw, "sensor-1"), "psk")
    p.connect("sensor-1")
    ccert, ckey = pki["client"]
    c = dtls_sensor(cleanup, SClientLink(gw.dtls_port, cert=ccert, key=ckey, cafile=pki["ca"]), "cert")
    c.connect("cert-sensor")
    scert, skey = pki["stranger"]
    bad = SClientLink(gw.dtls_port, cert=scert, key=skey, cafile=pki["ca"])
    cleanup.append(bad)
    bad.send(sn.connect("cert-sensor"))
    assert bad.recv(4) is None, "a certificate, if sent, must verify"


def test_sighup_reloads_the_psk_file(tmp_path, psk_gateway, cleanup):
    new = dict(KEYS)
    new["sensor-3"] = "33" * 16
    write_psk_file(str(tmp_path), new)
    psk_gateway.proc.send_signal(1)
    assert wait_until(lambda: "dtls.psk_file: 4 identities" in psk_gateway.log_text(), 5)
    s = dtls_sensor(cleanup, psk_link(psk_gateway, "sensor-3", key="33" * 16), "new")
    s.connect("sensor-3")


def client_hello(random):
    """A DTLS 1.2 ClientHello without cookie (RFC 6347 §4.2.1), PSK-AES128-GCM-SHA256."""
    body = bytes([0xFE, 0xFD]) + random + b"\x00" + b"\x00" + b"\x00\x02\x00\xa8" + b"\x01\x00"
    hs = bytes([1]) + len(body).to_bytes(3, "big") + b"\x00\x00" + b"\x00\x00\x00" + \
        len(body).to_bytes(3, "big") + body
    return bytes([22, 0xFE, 0xFF, 0, 0]) + b"\x00" * 6 + len(hs).to_bytes(2, "big") + hs


def sanitized(exe):
    with open(exe, "rb") as f:
        return b"AddressSanitizer" in f.read()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_client_hello_flood_keeps_memory_flat(broker, psk_gateway, cleanup):
    socks = []
    for _ in range(500):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        socks.append(s)
        cleanup.append(s)
    dst = ("127.0.0.1", psk_gateway.dtls_port)
    hello = client_hello(os.urandom(32))

    def flood(rounds):
        for _ in range(rounds):
            for s in socks:
                try:
                    s.sendto(hello, dst)
                except BlockingIOError:
                    pass
            time.sleep(0.01)  # let the gateway keep up (loopback drops what overflows)
            for s in socks:
                try:
                    while s.recv(2048):
                        pass
                except BlockingIOError:
                    pass
    flood(4)  # warm-up: first-use allocations
    time.sleep(0.5)
    before = rss_kib(psk_gateway.proc.pid)
    flood(40)  # 20,000 ClientHellos from 500 ports
    time.sleep(0.5)
    after = rss_kib(psk_gateway.proc.pid)
    print("RSS before %d KiB, after 20,000 ClientHellos %d KiB" % (before, after))
    # Under AddressSanitizer freed memory sits in quarantine: RSS says nothing there.
    if not sanitized(psk_gateway.args[0]):
        assert after - before < 2048, "RSS grew %d KiB under a ClientHello flood" % (after - before)
    status = StatusWatch(broker)
    cleanup.append(status)
    st = status.wait(lambda j: j["dtls"]["hello_verify"] >= 10000)
    assert st["dtls"]["hello_verify"] >= 10000 and st["dtls"]["handshaking"] == 0, st
    s = dtls_sensor(cleanup, psk_link(psk_gateway, "sensor-1"), "after-flood")
    s.connect("sensor-1")


def test_world_readable_psk_file_refused_by_check_config(tmp_path):
    import subprocess
    from harness import gateway_exe
    psk = write_psk_file(str(tmp_path), mode=0o644)
    conf = tmp_path / "gw.toml"
    conf.write_text('[dtls]\nenabled = true\npsk_file = "%s"\n' % psk)
    r = subprocess.run([gateway_exe(), "--check-config", "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode == 1 and "readable by everyone" in r.stderr, r.stderr
    os.chmod(psk, 0o600)
    r = subprocess.run([gateway_exe(), "--check-config", "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    conf.write_text('[dtls]\nenabled = true\npsk_file = "%s"\nbogus = 1\nrequire_certificate = true\n' % psk)
    r = subprocess.run([gateway_exe(), "--check-config", "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode == 1 and "dtls.bogus: unknown key" in r.stderr and "needs dtls.ca_file" in r.stderr


def tool(name):
    exe = os.environ.get("MQTTSN_" + name.upper())
    if not exe:
        here = os.path.dirname(os.path.abspath(__file__))
        exe = os.path.join(here, "..", "..", "build", "gateway", "tools", "mqttsn-" + name)
    if not os.path.exists(exe):
        pytest.skip("mqttsn-%s not built" % name)
    return exe


def test_field_tools_round_trip_over_dtls(broker, psk_gateway, cleanup):
    import subprocess
    common = ["-h", "127.0.0.1", "-p", str(psk_gateway.dtls_port), "--retry-interval", "1",
              "--retry-count", "3", "--psk-identity", "fieldtool", "--psk", KEYS["fieldtool"],
              "-i", "fieldtool"]
    sub = subprocess.Popen([tool("sub")] + common + ["-t", "tools/dtls", "-q", "1", "-C", "1", "-d"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cleanup.append(type("P", (), {"stop": lambda self: sub.poll() is None and sub.kill()})())
    assert wait_until(lambda: "connected as \"fieldtool\"" in psk_gateway.log_text(), 10), \
        "mqttsn-sub never completed its DTLS handshake"
    obs = Observer(broker.port)
    cleanup.append(obs)
    time.sleep(1.0)  # its SUBSCRIBE is live
    obs.publish("tools/dtls", b"down over dtls", qos=1)
    out, err = sub.communicate(timeout=15)
    assert sub.returncode == 0 and out.strip() == "down over dtls", err
    # mqttsn-pub uses the same identity (it takes the session over).
    obs.subscribe("tools/dtls/up")
    r = subprocess.run([tool("pub")] + common + ["-t", "tools/dtls/up", "-q", "1", "-m", "up over dtls"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    obs.wait_payload("tools/dtls/up", b"up over dtls")
    # A wrong key: a clear error, exit 1.
    bad = common[:]
    bad[bad.index(KEYS["fieldtool"])] = "00" * 16
    r = subprocess.run([tool("pub")] + bad + ["-t", "tools/dtls/up", "-m", "x"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "DTLS handshake" in r.stderr, r.stderr


def test_client_hello_from_an_established_address_does_not_end_its_session(psk_gateway, cleanup):
    # Through a relay the gateway sees one address; a ClientHello without a cookie injected from
    # that address (as a spoofer would) gets a HelloVerifyRequest and leaves the session alone.
    hvr_after = []

    def drop(direction, data):
        # The answers to the injected ClientHellos: kept from s_client, which we did not drive.
        if direction == "down" and is_handshake(data, 3) and hvr_after:
            return True
        return False
    relay = DroppingRelay(psk_gateway.dtls_port, drop)
    cleanup.append(relay)
    s = dtls_sensor(cleanup, psk_link(psk_gateway, "sensor-1", port=relay.port), "victim")
    s.connect("sensor-1")
    tid = s.register("dtls/victim")
    hvr_after.append(True)
    for _ in range(3):
        relay.up.sendto(client_hello(os.urandom(32)), relay.gw)
    time.sleep(0.3)
    s.publish(tid, b"still here", qos=1)
    assert sum(1 for d, data in relay.dropped if d == "down") == 3, "each got a HelloVerifyRequest"


def test_peer_and_handshake_caps_drop_and_count(broker, tmp_path, start_gateway, cleanup):
    gw = start_gateway({"psk_file": write_psk_file(str(tmp_path)), "max_peers": 1,
                        "max_handshakes": 1, "handshake_timeout_s": 3})
    # A handshake that never finishes: everything after the cookie answer is lost on the way back.
    seen_hvr = []

    def drop(direction, data):
        if direction == "down" and is_handshake(data, 3) and not seen_hvr:
            seen_hvr.append(True)
            return False
        return direction == "down"
    relay = DroppingRelay(gw.dtls_port, drop)
    cleanup.append(relay)
    stuck = psk_link(gw, "sensor-2", port=relay.port)
    cleanup.append(stuck)
    assert wait_until(lambda: seen_hvr, 5)
    time.sleep(0.5)
    # The one handshake slot is taken (the stuck client keeps proving its address and retrying).
    probe = psk_link(gw, "sensor-1")
    cleanup.append(probe)
    probe.send(sn.connect("sensor-1"))
    assert probe.recv(2) is None
    probe.close()
    stuck.close()
    relay.close()
    time.sleep(3 + 1.5)  # handshake_timeout_s, and the sweep
    s = dtls_sensor(cleanup, psk_link(gw, "sensor-1"), "patient")
    s.connect("sensor-1")
    # The one peer slot is taken: a second sensor is dropped.
    other = psk_link(gw, "sensor-2")
    cleanup.append(other)
    other.send(sn.connect("sensor-2"))
    assert other.recv(3) is None
    status = StatusWatch(broker)
    cleanup.append(status)
    st = status.wait(lambda j: j["dtls"]["handshake_cap"] >= 1 and j["dtls"]["peer_cap"] >= 1)
    assert st["dtls"]["handshake_cap"] >= 1 and st["dtls"]["peer_cap"] >= 1, st
    assert st["dtls"]["handshakes_failed"] >= 1 and st["dtls"]["peers"] == 1, st
