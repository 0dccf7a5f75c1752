"""The shipped systemd units: they verify, and the daemon's exposure stays at 2.5 or less."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "systemd"
ANALYZE = shutil.which("systemd-analyze")
pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed "
                                "(.ci/run installs it)")


def fake_root(tmp_path: Path) -> Path:
    """A root where ExecStart= exists, so verify checks the unit as it will be installed."""
    root = tmp_path / "root"
    (root / "opt/veille/bin").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "etc/systemd/system").mkdir(parents=True)
    exe = root / "opt/veille/bin/veille"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    shutil.copy("/bin/kill", root / "bin/kill")
    system = next(p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                  if p.is_dir())
    shutil.copytree(system, root / "usr/lib/systemd/system", symlinks=True)
    for unit in UNITS.iterdir():
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    return root


def test_units_verify(tmp_path):
    root = fake_root(tmp_path)
    names = sorted(p.name for p in UNITS.iterdir())
    assert names == ["veille-digest.service", "veille-digest.timer", "veille.service"]
    result = subprocess.run([ANALYZE, "verify", f"--root={root}", *names],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("unit", ["veille.service", "veille-digest.service"])
def test_exposure_is_low(unit):
    result = subprocess.run([ANALYZE, "security", "--offline=true", str(UNITS / unit)],
                            capture_output=True, text=True)
    level = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)[1])
    assert level <= 2.5, result.stdout


def test_daemon_unit_has_what_the_service_needs():
    text = (UNITS / "veille.service").read_text()
    for directive in ("Type=notify", "DynamicUser=yes", "StateDirectory=veille",
                      "ConfigurationDirectory=veille", "LoadCredential=", "Restart=on-failure",
                      "WatchdogSec=", "NoNewPrivileges=yes", "ProtectSystem=strict",
                      "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
                      "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                      "SystemCallFilter=@system-service", "ProtectKernelTunables=yes",
                      "ExecStart=/opt/veille/bin/veille"):
        assert directive in text, directive


MDWE_CHILD = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(77)
from veille.report.charts import to_svg
spec = {"data": {"values": [{"n": 1}]}, "mark": "bar",
        "encoding": {"x": {"field": "n", "type": "quantitative"}}}
print(len(to_svg(spec, "fr")))
"""


@pytest.mark.parametrize("unit", ["veille.service"])
def test_the_daemon_can_draw_report_charts_under_its_unit(unit):
    """The daemon renders scheduled reports with vl-convert, whose V8 engine writes code into
    memory and runs it. MemoryDenyWriteExecute= forbids that and V8 aborts the whole process
    (SIGTRAP): the rule is simulated here with the kernel's own (prctl PR_SET_MDWE) when the
    unit asks for it."""
    import sys

    asks = "MemoryDenyWriteExecute=yes" in (UNITS / unit).read_text()
    code = MDWE_CHILD if asks else MDWE_CHILD.replace("libc.prctl(65, 1, 0, 0, 0)", "0")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    if result.returncode == 77:
        pytest.skip("this kernel cannot deny write-then-execute memory (Linux ≥ 6.3)")
    assert result.returncode == 0, result.stderr[-400:]
    assert int(result.stdout) > 100
