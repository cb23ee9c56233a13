"""Generates docs/metrics.md from the catalog, so the reference cannot drift.

Run ``python -m sunpower_pvs_exporter.metrics.docs > docs/metrics.md``; a test
fails when the committed file differs from this output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sunpower_pvs_exporter.metrics.catalog import ALL_METRICS, MetricSpec, Subject

HEADER = """\
# Metric reference

Generated from `src/sunpower_pvs_exporter/metrics/catalog/` by
`python -m sunpower_pvs_exporter.metrics.docs > docs/metrics.md`. Do not edit by hand.

- **compatible**: the name, type and labels of the original
  ginoledesma/sunpower-pvs-exporter (two names fixed, see docs/migration.md).
- **missing**: what is exported when the PVS does not report a value: `NaN`
  (as the original did, so the series keeps existing) or `omitted`.
- Units are SI base units whatever the PVS sends (kW → W, kWh → Wh, KiB → bytes).

## Device times

`sunpower_pvs_device_last_report_timestamp_seconds` (and, with
`--use-device-data-timestamp`, every device sample's timestamp) is the time the
device sampled its data. Legacy `DATATIME` carries no zone and real PVS units
write it in **UTC**, whatever the site's zone; the exporter reads it as UTC
whatever zone its own host is in. The `timezone` setting (`--pvs-timezone`) is
only an override for a unit whose clock really runs local time. Varserver
`msmtEps` is explicit UTC.

## Lifetime energy never goes backwards

Real units report lifetime kWh that falls by one float32 step
(1665.559204 → 1665.559082) and briefly reads 0; Prometheus would take either
for a counter reset and `increase()` would add the whole lifetime as one spike.
For every lifetime-energy counter — `sunpower_pvs_inverter_produced_energy_watt_hours_total`,
`sunpower_pvs_power_meter_imported_energy_watt_hours_total`,
`sunpower_pvs_power_meter_exported_energy_watt_hours_total`,
`sunpower_pvs_ess_charged_energy_watt_hours_total`,
`sunpower_pvs_ess_discharged_energy_watt_hours_total` — per device serial:

- a reading of 0 is missing, not a value: the last exported value is held
  (with none to hold, the sample is left out, or NaN where the catalog says so).
  A counter that truly is 0 — a site that has never exported, a battery never
  discharged — therefore stays absent until it first moves, and counts as
  `zero` at every poll meanwhile;
- a reading below the last exported one is held at the last one: silently for a
  rounding-size drop (at most 10 Wh or 0.001 % of the value), which is never
  taken for a reset however long it lasts; a larger drop is logged once;
- a larger drop that lasts an hour is a real reset: it is accepted, logged, and
  Prometheus sees an ordinary counter reset. A device that really is new has
  its own serial and starts its own series;
- every held or dropped reading is counted in
  `sunpower_pvs_energy_readings_held_total{target,reason}` (`zero`,
  `small_decrease`, `large_decrease`; the shipped
  `SunpowerPvsLifetimeEnergyDropped` alert tells of a large drop that lasts);
- a reading the PVS leaves out while it still lists the device holds the
  last exported value too, and is not counted: that is every night, not a
  glitch (next section). With nothing to hold the sample is left out.

The seed-compatible gauge `sunpower_pvs_inverter_energy_total_watt_hours` (a
gauge in the original exporter) shows the same guarded value as the counter:
it is the same lifetime total, and dashboards built for the original apply
`delta()`/`increase()` to it, which a glitch to 0 would wreck just the same.
`sunpower_pvs_power_meter_net_energy_watt_hours` is not guarded: net energy
really does go down (and below 0) whenever the site exports.

## Legacy inverters at night

Older legacy firmware lists every inverter in `error` state at night with its
identity only: no power, no voltage, no lifetime energy. The original exporter
exported NaN for every one of those values, and dashboards rely on the series
existing, so:

- **power, current, voltage, frequency, temperature** (the gauges marked
  `NaN` below) are NaN at night, as in the original: the inverter measures
  nothing, and NaN says "no reading" where 0 would claim one. (`avg()` and
  `sum()` over them are NaN at night; use `sum(... > -Inf)` or the site
  totals if you need a number.)
- **lifetime energy** keeps the last value read in daylight, both
  `sunpower_pvs_inverter_produced_energy_watt_hours_total` and the
  compatibility gauge `sunpower_pvs_inverter_energy_total_watt_hours`: the
  energy produced did not go anywhere overnight, and a NaN in that series
  would make `increase()`, `rate()` and `delta()` over any range reaching into
  the night NaN, i.e. break the daily-energy panels until the NaN samples
  leave the range. Only an exporter started at night has nothing to hold:
  the counter is then left out until the first reading, and the
  compatibility gauge is NaN, as in the original.

The counter is never NaN. Newer firmware keeps the last values with
`STATE=error`, and varserver firmware drops silent inverters from its data
altogether (next sections); neither needs holding.

The memory behind this lives in the exporter process, per target: a restart
starts afresh, and a device unseen for 7 days is forgotten.

## Devices that vanish

On varserver firmware a device that stops reporting simply disappears from the
data, as every inverter does at night. A device the exporter has seen and that
is now absent stays listed for 7 days with state `missing`:
`sunpower_pvs_device_state` is 0 and
`sunpower_pvs_device_last_report_timestamp_seconds` keeps its last sample
time; its readings are left out, not invented. The shipped
`SunpowerPvsInverterNotReporting` alert therefore fires for a dead inverter in
daylight (when the others produce) and stays quiet at night (when none does).

## Reboots

`sunpower_pvs_supervisor_reboots_total` counts the PVS restarts the exporter
saw: the supervisor's uptime lower than at the previous good poll. A reboot
while the exporter was not running is not counted. Units reboot about once a
night; the shipped `SunpowerPvsRebooting` alert fires at 3 or more in 24 hours.

A reboot less than 23 hours after the one before makes the exporter ease off
that PVS (unless `ease_off_after_reboots: false`): its interval doubles, and
doubles again per further such reboot, up to 600 s, until 72 hours pass
without a reboot. `sunpower_pvs_poll_interval_seconds` is the interval in
effect, `sunpower_pvs_configured_poll_interval_seconds` the configured one;
the shipped `SunpowerPvsPollingEased` alert (info) fires while the first is
above the second. See docs/configuration.md, "Easing off a PVS that keeps
rebooting".
"""


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _subject_section(subject: Subject[Any, Any], specs: Sequence[MetricSpec[Any, Any]]) -> str:
    labels = ", ".join(f"`{name}`" for name in subject.label_names) or "none"
    lines = [
        f"## {subject.name.replace('_', ' ').capitalize()}",
        "",
        f"Each series describes {subject.doc}. Labels: {labels}.",
        "",
        "| metric | type | unit | missing | compatible | help | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in specs:
        lines.append(
            f"| `{spec.name}` | {spec.kind} | {spec.unit or '—'} | "
            f"{'NaN' if spec.missing == 'nan' else 'omitted'} | "
            f"{'yes' if spec.compatible else 'new'} | {_escape(spec.help)} | "
            f"{_escape(spec.source)} |"
        )
    return "\n".join(lines) + "\n"


def render_metrics_doc(specs: Sequence[MetricSpec[Any, Any]] = ALL_METRICS) -> str:
    groups: dict[str, tuple[Subject[Any, Any], list[MetricSpec[Any, Any]]]] = {}
    for spec in specs:
        groups.setdefault(spec.subject.name, (spec.subject, []))[1].append(spec)
    sections = [_subject_section(subject, members) for subject, members in groups.values()]
    return HEADER + "\n" + "\n".join(sections)


if __name__ == "__main__":
    print(render_metrics_doc(), end="")
