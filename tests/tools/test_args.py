"""Argument handling of mqttsn-pub / mqttsn-sub: errors exit 1 with a clear message on stderr.
No gateway is needed (a few tests use a plain loopback socket)."""
import socket

import pytest

from conftest import run


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("args, message", [
    (["-m", "x"], "a topic is needed"),
    (["-t", "a/b"], "a message is needed"),
    (["-t", "a/b", "-q", "-1", "-m", "x"], "QoS -1 needs --predefined or --short"),
    (["-t", "a/+", "-m", "x"], "invalid topic name"),
    (["--short", "abc", "-m", "x"], "exactly 2 characters"),
    (["--short", "ab", "-q", "3", "-m", "x"], "-q"),
    (["--predefined", "0", "-m", "x"], "--predefined"),
    (["--predefined", "1", "--short", "ab", "-m", "x"], "excludes"),
    (["-t", "a", "-m", "x", "-n"], "excludes"),
    (["-t", "a", "-m", "x", "-i", "x" * 24], "1-23 characters"),
    (["-t", "a", "-m", "x", "--will-payload", "bye"], "--will-topic"),
    (["-t", "a", "-m", "x", "--will-topic", "w/#"], "invalid will topic"),
    (["-t", "a", "-m", "x", "-p", "70000"], "--port"),
    (["-t", "a", "-m", "x", "--frobnicate"], "--frobnicate"),
    (["-t", "a", "-f", "/nonexistent/file"], "cannot read message file"),
    (["-t", "a", "-m", "x", "-h", "no-such-host.invalid"], "cannot resolve gateway host"),
])
def test_pub_argument_errors(pub_exe, args, message):
    r = run([pub_exe] + args)
    assert r.returncode == 1, r
    assert message in r.stderr.decode(), r.stderr
    assert r.stdout == b""


@pytest.mark.parametrize("args, message", [
    (["-v"], "at least one topic is needed"),
    (["-t", "a/#/b"], "invalid topic filter"),
    (["-t", "a", "-q", "-1"], "-q"),
    (["-t", "a", "-C", "0"], "--count"),
    (["-t", "a", "--sleep", "0"], "--sleep"),
    (["-t", "a", "-W", "-3"], "--timeout"),
    (["--short", "a"], "exactly 2 characters"),
])
def test_sub_argument_errors(sub_exe, args, message):
    r = run([sub_exe] + args)
    assert r.returncode == 1, r
    assert message in r.stderr.decode(), r.stderr


@pytest.mark.parametrize("tool", ["pub", "sub"])
def test_help_exits_0(pub_exe, sub_exe, tool):
    r = run([pub_exe if tool == "pub" else sub_exe, "--help"])
    assert r.returncode == 0
    out = r.stdout.decode()
    assert "-h,--host" in out and "-p,--port" in out and "--will-topic" in out


def test_no_gateway_is_a_clear_error(pub_exe):
    port = free_udp_port()  # nobody listens: ICMP port unreachable on loopback
    r = run([pub_exe, "-p", str(port), "-t", "a", "-m", "x",
             "--retry-interval", "0.1", "--retry-count", "2"])
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "no CONNACK from gateway 127.0.0.1:%d after 3 attempts" % port in err, err
    assert "port unreachable" in err, err


def test_qos_minus_one_sends_one_datagram_without_connect(pub_exe):
    gw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    gw.bind(("127.0.0.1", 0))
    gw.settimeout(5)
    try:
        r = run([pub_exe, "-p", str(gw.getsockname()[1]), "-q", "-1", "--short", "ab", "-m", "hi"])
        assert r.returncode == 0, r
        data, _ = gw.recvfrom(100)
        # §5.4.12: Length 9, PUBLISH, Flags QoS 0b11 | TopicIdType short 0b10, TopicId "ab",
        # MsgId 0x0000, Data "hi".
        assert data == bytes([0x09, 0x0C, 0x62, 0x61, 0x62, 0x00, 0x00]) + b"hi"
        gw.settimeout(0.3)
        with pytest.raises(socket.timeout):
            gw.recvfrom(100)  # nothing else: no CONNECT, no DISCONNECT
    finally:
        gw.close()
