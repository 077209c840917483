"""The integration suite's fixtures (tests/integration/conftest.py), one broker and gateway per test."""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
IT = os.path.join(HERE, "..", "integration")
sys.path.insert(0, IT)

_spec = importlib.util.spec_from_file_location("it_conftest", os.path.join(IT, "conftest.py"))
_it = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_it)

# pytest finds fixtures and hooks among this module's names.
pytest_runtest_makereport = _it.pytest_runtest_makereport
pytest_configure = _it.pytest_configure
broker = _it.broker
make_gateway = _it.make_gateway
gateway = _it.gateway
observer = _it.observer
