"""``to_float`` and friends are total: any JSON value gives a value or ``None``, never raises.

Property tests over every shape JSON can carry — including integers far beyond
a double (10**400, which ``float()`` refuses with ``OverflowError``), lone
surrogates and deep nesting — plus the counting of dropped values.
"""

from __future__ import annotations

import json
import math
from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st

from sunpower_pvs_exporter.pvs.transport import decode_json
from sunpower_pvs_exporter.pvs.values import (
    MAX_LABEL_LENGTH,
    count_dropped_values,
    json_int,
    parse_iso_utc,
    parse_pvs_time,
    product,
    to_float,
    to_text,
)

PROPERTY = settings(max_examples=500, derandomize=True, database=None, deadline=None)

huge_ints = st.one_of(
    st.integers(),
    st.integers(min_value=10**300, max_value=10**420),
    st.integers(max_value=-(10**300), min_value=-(10**420)),
    st.sampled_from([10**400, -(10**400), 2**1024, 2**1023 * 3]),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    huge_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.sampled_from(["1e400", "-1e400", "nan", "inf", " 1.5 ", "", "0x1p3", "1_0", "\ud800"]),
    huge_ints.map(str),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
scales = st.one_of(st.sampled_from([1.0, 1000.0, 0.01, 1024.0, -1.0]), st.floats())


@PROPERTY
@given(value=json_values, scale=scales)
def test_to_float_is_total_and_finite(value, scale):
    with count_dropped_values() as dropped:
        result = to_float(value, scale)
    assert result is None or (isinstance(result, float) and math.isfinite(result))
    if result is None and value is not None and not (isinstance(value, str) and not value.strip()):
        assert dropped.count == 1
    else:
        assert dropped.count == 0


@PROPERTY
@given(value=json_values)
def test_to_text_is_total_bounded_and_utf8(value):
    text = to_text(value)
    assert isinstance(text, str)
    assert len(text) <= MAX_LABEL_LENGTH
    text.encode("utf-8")


@PROPERTY
@given(value=json_values)
def test_time_parsers_are_total(value):
    for result in (parse_pvs_time(value, UTC), parse_pvs_time(value, None), parse_iso_utc(value)):
        assert result is None or math.isfinite(result)


@PROPERTY
@given(factors=st.lists(st.one_of(st.none(), st.floats()), max_size=4))
def test_product_is_finite_or_none(factors):
    result = product(*factors)
    assert result is None or math.isfinite(result)


def test_huge_integer_is_a_dropped_value_not_an_error():
    with count_dropped_values() as dropped:
        assert to_float(10**400) is None
        assert to_float(10**400, 1000.0) is None
        assert to_float(1e308, 1000.0) is None  # finite in, overflows when scaled
        assert to_float("0.25", 1000.0) == 250.0
        assert to_float(None) is None
        assert to_float("  ") is None
    assert dropped.count == 3


def test_drops_outside_a_poll_are_not_counted_anywhere():
    assert to_float("junk") is None
    with count_dropped_values() as dropped:
        pass
    assert dropped.count == 0


def test_integers_python_refuses_to_parse_cost_only_their_field():
    """Over 4300 digits, ``json.loads`` raises ValueError for the whole document."""
    digits = "9" * 5000
    body = ('{"devices": [{"SERIAL": "E1", "p_3phsum_kw": ' + digits + ', "x": 1}]}').encode()
    doc = decode_json(body, "DeviceList")
    device = doc["devices"][0]
    assert device["x"] == 1
    assert to_float(device["p_3phsum_kw"]) is None
    assert json_int("-" + digits) == -math.inf
    assert json_int("12") == 12
    assert to_text(10**5000) == ""
    assert json.loads("10", parse_int=json_int) == 10


def test_label_text_is_shared_between_equal_values():
    from sunpower_pvs_exporter.pvs.values import to_text

    model = "".join(["AC_Module_", "Type_H"])  # two equal strings, two objects
    other = "AC_Module_Type_" + "H"
    assert model is not other
    assert to_text(model) is to_text(other) == "AC_Module_Type_H"


def test_a_devices_own_serial_is_not_interned():
    """A serial belongs to one device: interning it only grew the interpreter's
    table of interned strings by an entry per device of every site."""
    import sys

    from sunpower_pvs_exporter.pvs.legacy_parse import parse_device

    serial = "".join(["E00122", "0987654321"])
    device = parse_device(
        {"DEVICE_TYPE": "Inverter", "SERIAL": serial, "MODEL": "AC_Module_Type_H"}, None
    )
    assert device.serial == serial
    # Nothing equal to the serial was interned: interning an equal string
    # made afresh returns that very string, not one the parse left behind.
    fresh = "E00122" + "".join(["0987654321"])
    assert sys.intern(fresh) is fresh
    # The shared model string is interned, as before.
    assert sys.intern("".join(["AC_Module_", "Type_H"])) is device.model


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()))
def test_unique_text_is_label_text_without_interning(value):
    from sunpower_pvs_exporter.pvs.values import to_unique_text

    assert to_unique_text(value) == to_text(value)
