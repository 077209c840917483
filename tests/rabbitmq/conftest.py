"""One private RabbitMQ node for the whole suite (it takes ~10 s to start), gateways per test."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from rabbit import RabbitNode, available  # noqa: E402
from harness import Gateway, Observer, Sensor  # noqa: E402


@pytest.fixture(scope="session")
def rabbit(tmp_path_factory):
    if not available():
        pytest.skip("rabbitmq-server is not installed (scripts/deps.sh)")
    node = RabbitNode(str(tmp_path_factory.mktemp("rabbit"))).start()
    print("\nrabbitmq: MQTT listener up %.1f s after start, RSS %.0f MiB"
          % (node.start_seconds, node.rss_kib() / 1024.0))
    yield node
    node.close()


@pytest.fixture(params=["transparent", "aggregating"])
def mode(request):
    return request.param


@pytest.fixture
def things():
    made = []
    yield made
    bad = []
    for t in reversed(made):
        if isinstance(t, Gateway):
            code = t.stop()  # a clean SIGTERM exit (and no sanitizer report) is part of every test
            if code != 0:
                bad.append((t.config, code, t.log_text()[-3000:]))
        else:
            t.stop() if hasattr(t, "stop") else t.close()
    assert not bad, "gateway did not exit 0 on SIGTERM: %r" % bad


@pytest.fixture
def gateway(rabbit, mode, tmp_path, things):
    gw = Gateway(rabbit.uri, workdir=str(tmp_path), mode=mode,
                 gw_id=20 + (1 if mode == "aggregating" else 0)).start()
    things.append(gw)
    return gw


@pytest.fixture
def observer(rabbit, things):
    o = Observer(rabbit.port)
    things.append(o)
    return o


@pytest.fixture
def sensor(gateway, things):
    s = Sensor(gateway, name="rmq-sensor")
    things.append(s)
    return s
