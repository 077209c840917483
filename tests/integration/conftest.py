"""pytest fixtures over harness.py: one mosquitto and one gateway per test, on free ports."""
import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Gateway, Mosquitto, Observer, Sensor  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for gw in getattr(item, "_gateways", []):
            rep.sections.append(("gateway log (%s)" % gw.config, gw.log_text()))
        for b in getattr(item, "_brokers", []):
            rep.sections.append(("mosquitto log", b.log_text()))


@pytest.fixture
def broker(request, tmp_path):
    b = Mosquitto(str(tmp_path)).start()
    request.node._brokers = getattr(request.node, "_brokers", []) + [b]
    yield b
    b.stop()


@pytest.fixture
def make_gateway(request, broker, tmp_path):
    """make_gateway(protocol={...}, ...) -> a started Gateway; each is stopped and must exit 0."""
    started = []

    def make(**kw):
        d = tmp_path / ("gw%d" % len(started))
        d.mkdir()
        # Each gateway on the broker needs its own gateway.id: its MQTT ClientId is
        # mqttsn-gw-<id>, and two clients with one ClientId take the connection from each other
        # (in aggregating mode that connection carries every sensor).
        if started and "gw_id" not in kw:
            kw["gw_id"] = 7 + len(started)
        gw = Gateway(broker.uri, workdir=str(d), **kw)
        request.node._gateways = getattr(request.node, "_gateways", []) + [gw]
        started.append(gw)
        return gw.start()

    yield make
    codes = [(gw.config, gw.stop()) for gw in started]
    bad = [c for c in codes if c[1] != 0]
    assert not bad, "gateway did not exit 0 on SIGTERM: %r\n%s" % (bad, started[0].log_text()[-4000:])


def pytest_configure(config):
    config.addinivalue_line("markers", "gateway_config(**kw): Gateway() arguments for the gateway fixture")


@pytest.fixture
def gateway(request, make_gateway):
    m = request.node.get_closest_marker("gateway_config")
    return make_gateway(**(m.kwargs if m else {}))


@pytest.fixture
def observer(broker):
    made = []

    def make():
        o = Observer(broker.port)
        made.append(o)
        return o
    first = make()
    first.make = make  # a second, independent observer when a test needs one
    yield first
    for o in made:
        o.close()


@pytest.fixture
def sensors(gateway):
    """sensors(name=..., family=socket.AF_INET6) -> a new Sensor on its own socket."""
    made = []

    def make(name="sensor", family=socket.AF_INET, gw=None, link=None):
        s = Sensor(gw or gateway, family=family, link=link, name=name)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


@pytest.fixture
def sensor(sensors):
    return sensors("sensor")


@pytest.fixture
def client_id(request):
    """A ClientId unique to this test (1..23 characters, §5.3.1)."""
    base = "".join(ch for ch in request.node.name if ch.isalnum())
    return ("t%x" % (abs(hash(request.node.nodeid)) % 0xFFFFF) + base)[:23]
