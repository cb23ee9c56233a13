"""The metric-name extractor the dashboard and alert checks rely on."""

from __future__ import annotations

import pytest

from contrib.promql_names import grafana_variable_query, metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('up{job=~"sunpower_pvs.*"} == 0', {"up"}),
        (
            "sum by (job, instance) (a_watts{mode=\"production\"} > -Inf) or b{x='y'}",
            {"a_watts", "b"},
        ),
        ("rate(c_total[5m] offset 1d) * 1e-3 / 20 * 1024", {"c_total"}),
        ("x - x offset 6h > 100 and on (job) y:rule:sum", {"x", "y:rule:sum"}),
        ('{__name__="n_info", a="b"}', {"n_info"}),
        ("count(z == 0) or vector(0)", {"z"}),
        ('time() - t_seconds{a="{not}"}', {"t_seconds"}),
        ("max_over_time(p[1h:5m]) unless ignoring (a) group_left (b) q", {"p", "q"}),
        ("sum without (device_id) (NaN + m)", {"m"}),
    ],
)
def test_metric_names(expr, names):
    assert metric_names(expr) == names


def test_grafana_variable_query():
    assert grafana_variable_query('label_values(m{a=~"$x"}, instance)') == (
        'm{a=~"$x"}',
        "instance",
    )
    assert grafana_variable_query("query_result(up == 1)") == ("up == 1", None)
    with pytest.raises(ValueError, match="unsupported"):
        grafana_variable_query("metrics(.*)")
