"""check_number, the numeric validator of the agents layer, and the budget unit every agent
class declares."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qmml.agents.bandits import AGENTS
from qmml.agents.checks import check_number
from qmml.agents.planning import Planner
from qmml.agents.protocol import BUDGET_UNITS
from qmml.agents.sb3 import SB3Agent
from qmml.agents.strategies import STRATEGIES
from qmml.agents.tabular import TABULAR_AGENTS


# -- accepted values --------------------------------------------------------------------------
@pytest.mark.parametrize("value", [0, 0.5, 1, np.float32(0.25), np.int64(1), -0.0])
def test_returns_a_float_in_range(value: float) -> None:
    out = check_number("x", value, low=0.0, high=1.0)
    assert type(out) is float and out == float(value)


def test_no_bounds_accepts_any_finite_number() -> None:
    assert check_number("x", -1e300) == -1e300


@pytest.mark.parametrize("value", [3, np.int16(3)])
def test_integer_returns_an_int(value: object) -> None:
    out = check_number("n", value, low=1, integer=True)
    assert type(out) is int and out == 3


def test_closed_bounds_include_the_ends() -> None:
    assert check_number("x", 0.0, low=0.0, high=1.0) == 0.0
    assert check_number("x", 1.0, low=0.0, high=1.0) == 1.0


# -- type errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "kind"), [("0.5", "str"), (None, "NoneType"), (True, "bool"), (1j, "complex")]
)
def test_not_a_number_is_a_type_error(value: object, kind: str) -> None:
    with pytest.raises(TypeError, match=rf"^x={value!r} is a {kind}, not a number; expected"):
        check_number("x", value, low=0.0)


def test_numpy_bool_is_not_a_number() -> None:
    with pytest.raises(TypeError, match="is a bool, not a number"):
        check_number("flag", np.True_, integer=True)


# -- value errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_is_out_of_range(value: float) -> None:
    with pytest.raises(ValueError, match=r"is out of range; expected a finite number$"):
        check_number("x", value)


def test_float_where_an_int_is_needed() -> None:
    with pytest.raises(ValueError, match=r"^n=2\.0 is not an int; expected an int in \[1, inf\)$"):
        check_number("n", 2.0, low=1, integer=True)


@pytest.mark.parametrize(
    ("value", "kwargs", "interval"),
    [
        (-0.1, {"low": 0.0}, r"\[0, inf\)"),
        (0.0, {"low": 0.0, "low_open": True}, r"\(0, inf\)"),
        (1.5, {"high": 1.0}, r"\(-inf, 1\]"),
        (1.0, {"high": 1.0, "high_open": True}, r"\(-inf, 1\)"),
        (2.0, {"low": 0.0, "high": 1.0}, r"\[0, 1\]"),
        (1e-12, {"low": 1e-10, "high": 0.5, "high_open": True}, r"\[1e-10, 0\.5\)"),
    ],
)
def test_out_of_range_names_the_interval(value: float, kwargs: dict, interval: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^x={value!r} is out of range; expected a finite number in {interval}$"
    ):
        check_number("x", value, **kwargs)


def test_integer_range_and_hint() -> None:
    with pytest.raises(
        ValueError,
        match=r"^budget=0 is out of range; expected an int in \[1, 10\] \(a number of episodes\)$",
    ):
        check_number("budget", 0, low=1, high=10, integer=True, hint="a number of episodes")
    with pytest.raises(ValueError, match=r"^k=11 is out of range; expected an int in \[2, 10\)$"):
        check_number("k", 11, low=2, high=10, high_open=True, integer=True)


def test_hint_on_type_errors_too() -> None:
    with pytest.raises(TypeError, match=r"expected a finite number in \[0, 1\] \(a discount\)$"):
        check_number("gamma", "0.9", low=0.0, high=1.0, hint="a discount")


# -- budget units -------------------------------------------------------------------------------
_REGISTERED = {
    **{f"bandit:{n}": c for n, c in AGENTS.items()},
    **{f"tabular:{n}": c for n, c in TABULAR_AGENTS.items()},
    **{f"strategy:{n}": c for n, c in STRATEGIES.items()},
    "planner": Planner,
    "sb3": SB3Agent,
}


@pytest.mark.parametrize("name", sorted(_REGISTERED))
def test_every_registered_agent_declares_a_budget_unit(name: str) -> None:
    assert _REGISTERED[name].budget_unit in BUDGET_UNITS


def test_budget_unit_per_family() -> None:
    assert {c.budget_unit for c in AGENTS.values()} == {"steps"}
    assert {c.budget_unit for c in TABULAR_AGENTS.values()} == {"episodes"}
    assert {c.budget_unit for c in STRATEGIES.values()} == {"none"}
    assert Planner.budget_unit == "sweeps"
    assert SB3Agent.budget_unit == "timesteps"
