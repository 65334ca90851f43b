"""pinnrun/numbers.py: the one place numbers become text (progress, train, inspect, scale)."""

import math

import pytest

from pinnrun import numbers


@pytest.mark.parametrize("odd", [None, True, "0.1", [1.0], {"a": 1}])
def test_what_is_not_a_number_is_a_dash_in_every_format(odd):
    shown = {
        numbers.text(odd, ".3g"),
        numbers.sci(odd),
        numbers.percent(odd),
        numbers.signed_percent(odd),
        numbers.seconds(odd),
        numbers.milliseconds(odd),
        numbers.per_step(odd),
        numbers.count(odd),
        numbers.si(odd),
        numbers.span(odd, 1.0),
        numbers.span(1.0, odd),
    }
    assert shown == {numbers.DASH}


def test_a_diverged_loss_reads_nan_or_inf_not_a_dash():
    assert numbers.sci(math.nan) == "nan" and numbers.sci(math.inf) == "inf"


def test_each_kind_of_number_has_its_one_format():
    assert numbers.sci(1.23456e-3) == "1.235e-03" and numbers.sci(1.23456e-3, 2) == "1.23e-03"
    assert numbers.percent(0.456) == "46%" and numbers.signed_percent(-0.2) == "-20%"
    assert [numbers.seconds(v) for v in (1.234, 12.34, 1234.5)] == ["1.23", "12.3", "1234"]
    assert numbers.milliseconds(0.00279) == "2.79" and numbers.milliseconds(2.5) == "2,500"
    assert numbers.per_step(0.0123456) == "12.35 ms"
    assert numbers.count(1234567) == "1,234,567" and numbers.count(1.5e6) == "1.500e+06"
    assert [numbers.si(v) for v in (950, 12_345, 3.2e6, 4e9)] == ["950", "12.3k", "3.2M", "4G"]
    assert numbers.span(1e-3, 2e-3) == "1.0e-03 .. 2.0e-03"
    assert [numbers.byte_size(n) for n in (1000, 4004, 2**20, 15_259 * 2**20, 5.7 * 2**40)] == [
        "1,000 bytes",
        "3.9 KiB",
        "1.0 MiB",
        "14.9 GiB",
        "5.7 TiB",
    ]
