"""TLS to the broker: certificates made here, mosquitto with a TLS listener, the real gateway."""
import os

import pytest

from conftest import SecureMosquitto, make_ca, make_server_cert, secure_gateway
from harness import Observer, Sensor
import mqttsn_packets as sn


@pytest.fixture
def pki(tmp_path):
    d = str(tmp_path / "pki")
    os.mkdir(d)
    p = {"dir": d, "ca": make_ca(d, "ca"), "other_ca": make_ca(d, "other-ca")}
    p["good"] = make_server_cert(d, "ca", "good", "127.0.0.1", "IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost")
    p["wrong_name"] = make_server_cert(d, "ca", "wrongname", "broker.example", "DNS:broker.example")
    return p


def run(tmp_path, cleanup, server, ca, verify_hostname=True, scheme="ssl"):
    """mosquitto presenting `server` (cert, key), a gateway trusting `ca`, a sensor."""
    cert, key = server
    os.mkdir(str(tmp_path / "mosq"))
    b = SecureMosquitto(str(tmp_path / "mosq"), cert=cert, key=key, ca=ca).start()
    cleanup.append(b)
    os.mkdir(str(tmp_path / "gw"))
    uri = "%s://127.0.0.1:%d" % (scheme, b.tls_port)
    gw = secure_gateway(uri, str(tmp_path / "gw"),
                        tls={"verify_hostname": verify_hostname, "ca_file": ca}).start()
    cleanup.append(gw)
    s = Sensor(gw, name="tls-sensor")
    cleanup.append(s)
    return b, gw, s


def test_good_ca_connects_and_publishes(tmp_path, cleanup, pki):
    b, gw, s = run(tmp_path, cleanup, pki["good"], pki["ca"])
    obs = Observer(b.port)
    cleanup.append(obs)
    obs.subscribe("sec/tls/#")
    s.connect("tls-good", expect_rc=sn.ACCEPTED)
    tid = s.register("sec/tls/good")
    s.publish(tid, b"over tls", qos=1)
    obs.wait_payload("sec/tls/good", b"over tls")


def test_good_ca_mqtts_scheme_and_tls_table_enable(tmp_path, cleanup, pki):
    b, gw, s = run(tmp_path, cleanup, pki["good"], pki["ca"], scheme="mqtts")
    s.connect("tls-mqtts", expect_rc=sn.ACCEPTED)


def test_wrong_ca_refused(tmp_path, cleanup, pki):
    # The broker's certificate is signed by "ca"; the gateway trusts only "other-ca".
    cert, key = pki["good"]
    os.mkdir(str(tmp_path / "mosq"))
    b = SecureMosquitto(str(tmp_path / "mosq"), cert=cert, key=key, ca=pki["ca"]).start()
    cleanup.append(b)
    os.mkdir(str(tmp_path / "gw"))
    gw = secure_gateway("ssl://127.0.0.1:%d" % b.tls_port, str(tmp_path / "gw"),
                        tls={"ca_file": pki["other_ca"]}).start()
    cleanup.append(gw)
    s = Sensor(gw, name="tls-wrong-ca")
    cleanup.append(s)
    p = s.connect("tls-wrongca", expect_rc=None)
    assert p.return_code == sn.REJ_CONGESTION, p
    log = gw.log_text()
    assert "upstream connect failed" in log and "TLS" in log, log[-3000:]


def test_wrong_hostname_refused(tmp_path, cleanup, pki):
    b, gw, s = run(tmp_path, cleanup, pki["wrong_name"], pki["ca"], verify_hostname=True)
    p = s.connect("tls-wrongname", expect_rc=None)
    assert p.return_code == sn.REJ_CONGESTION, p


def test_wrong_hostname_accepted_without_verify(tmp_path, cleanup, pki):
    b, gw, s = run(tmp_path, cleanup, pki["wrong_name"], pki["ca"], verify_hostname=False)
    s.connect("tls-noverify", expect_rc=sn.ACCEPTED)
