"""The HTTPS context for a PVS's self-signed certificate: one, and light."""

from __future__ import annotations

import ssl

from sunpower_pvs_exporter.pvs.transport import make_ssl_context
from support import read_once, tls_target_for


async def test_every_pvs_session_shares_one_context_without_a_ca_store(make_simulator):
    """Every PVS has a self-signed certificate, so without ``tls_ca_file`` nothing
    is verified; a CA store in that context was ~0.85 MiB per PVS for nothing."""
    context = make_ssl_context(None)
    assert make_ssl_context(None) is context
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    # And it reaches PVSes over HTTPS: two of them, one context.
    for _ in range(2):
        sim = await make_simulator(api="varserver", inverters=1)
        snapshot = await read_once(tls_target_for(sim, api="varserver"))
        assert snapshot.backend == "varserver"
        assert snapshot.devices
    assert make_ssl_context(None) is context
