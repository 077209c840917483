"""Command line and configuration checking of the real binary (--check-config, --version,
--help; unknown keys and wrong types are errors that name the key)."""
import subprocess

import pytest

from harness import Gateway, gateway_exe


def run(*args, timeout=20):
    return subprocess.run([gateway_exe(), *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def good_config(tmp_path):
    return Gateway("tcp://127.0.0.1:1", workdir=str(tmp_path)).config  # written, never started


def test_version_and_help():
    v = run("--version")
    assert v.returncode == 0 and v.stdout.strip(), v
    h = run("--help")
    assert h.returncode == 0 and "--config" in h.stdout and "--check-config" in h.stdout, h


def test_check_config_accepts_a_valid_file(good_config):
    r = run("--config", good_config, "--check-config")
    assert r.returncode == 0, r


@pytest.mark.parametrize("edit, key", [
    (("[protocol]", "[protocol]\nretry_intervall_ms = 5"), "retry_intervall_ms"),   # unknown key
    (("retry_count = 2", 'retry_count = "two"'), "retry_count"),                     # wrong type
    (("[gateway]", "[gateway]\ncolour = 1"), "colour"),
    (("id = 7", "id = 7000"), "id"),                                                 # GwId is 1 octet
    (('"1" = "sensors/predefined/one"', '"1" = "sensors/+/one"'), "predefined"),     # wildcard predefined
])
def test_check_config_names_the_bad_key(good_config, edit, key):
    with open(good_config) as f:
        text = f.read()
    assert edit[0] in text
    with open(good_config, "w") as f:
        f.write(text.replace(edit[0], edit[1], 1))
    r = run("--config", good_config, "--check-config")
    assert r.returncode == 1, r
    assert key in (r.stdout + r.stderr), r


def test_bad_config_refuses_to_start(good_config):
    with open(good_config, "a") as f:
        f.write("\n[nonsense]\nx = 1\n")
    r = run("--config", good_config)
    assert r.returncode != 0 and "nonsense" in (r.stdout + r.stderr), r
