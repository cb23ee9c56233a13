"""Why a port could not be bound, and who holds it, read from a /proc laid out by the test."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from sunpower_pvs_exporter.listen_errors import listen_problem, port_holder

HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode\n"
)


def fake_proc(root: Path, *, port: int, inode: str, state: str = "0A") -> Path:
    (root / "net").mkdir(parents=True)
    line = (
        f"   0: 0100007F:{port:04X} 00000000:0000 {state} 00000000:00000000 00:00000000 "
        f"00000000     0        0 {inode} 1\n"
    )
    (root / "net" / "tcp").write_text(HEADER + line)
    (root / "net" / "tcp6").write_text(HEADER)
    for pid, target, argv in (
        ("77", "socket:[1]", b"/usr/bin/python3\0-m\0other\0"),
        (
            "4242",
            f"socket:[{inode}]",
            b"/usr/bin/python3\0/usr/bin/sunpower-pvs-exporter\0--pvs-password-file\0secret\0",
        ),
    ):
        (root / pid / "fd").mkdir(parents=True)
        os.symlink(target, root / pid / "fd" / "3")
        (root / pid / "cmdline").write_bytes(argv)
    return root


def test_the_listening_process_is_named_without_its_arguments(tmp_path: Path):
    proc = fake_proc(tmp_path, port=9110, inode="5555")
    assert port_holder(9110, proc) == "pid 4242 (sunpower-pvs-exporter)"
    assert port_holder(9111, proc) is None


def test_a_connection_in_another_state_is_not_the_listener(tmp_path: Path):
    proc = fake_proc(tmp_path, port=9110, inode="5555", state="01")  # ESTABLISHED
    assert port_holder(9110, proc) is None


def test_an_unreadable_proc_is_no_holder_and_no_crash(tmp_path: Path):
    assert port_holder(9110, tmp_path / "absent") is None


def test_other_bind_errors_say_their_fix():
    denied = listen_problem(OSError(errno.EACCES, "bind: denied"), (80,))
    assert denied == (
        "Permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE; pick a port "
        "above 1023"
    )
    elsewhere = listen_problem(OSError(errno.EADDRNOTAVAIL, "x"), (9110,))
    assert elsewhere.endswith("no network interface of this machine has that address")


def test_the_holder_is_the_listener_at_the_address_asked_for(tmp_path: Path):
    """A program with a lower pid listening on the same port number at ::1 (or
    another IPv4 address) is not in the way of 127.0.0.1: it was named instead."""
    proc = fake_proc(tmp_path, port=9110, inode="5555")  # pid 4242 on 127.0.0.1
    loopback6 = "00000000000000000000000001000000"  # ::1, as /proc/net/tcp6 spells it
    line = (
        f"   0: {loopback6}:{9110:04X} 00000000000000000000000000000000:0000 0A "
        "00000000:00000000 00:00000000 00000000     0        0 1 1\n"
    )
    (proc / "net" / "tcp6").write_text(HEADER + line)  # pid 77's socket:[1]
    assert port_holder(9110, proc, host="127.0.0.1") == "pid 4242 (sunpower-pvs-exporter)"
    assert port_holder(9110, proc, host="::1") == "pid 77 (other)"
    # Every address (the default ""): either is in the way; the lowest pid is named.
    assert port_holder(9110, proc, host="") == "pid 77 (other)"
    # An address nobody listens on exactly: whoever holds the port is still named.
    assert port_holder(9110, proc, host="127.0.0.2") in {
        "pid 77 (other)",
        "pid 4242 (sunpower-pvs-exporter)",
    }
