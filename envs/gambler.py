"""Sutton & Barto's Gambler's problem (Example 4.3) as a finite MDP with a ``P`` table."""

from __future__ import annotations

import math

__all__ = ["GamblersProblem"]


class GamblersProblem:
    """A gambler bets on coin flips until reaching ``goal`` dollars or losing everything.

    ## Description
    The state is the capital s ∈ {0, ..., goal}; the action is a stake in
    {1, ..., min(s, goal − s)}. Heads (probability ``p_heads``) wins the stake, tails loses it.
    Reaching ``goal`` pays +1 and ends the episode; reaching 0 ends it with 0. Undiscounted
    (γ = 1), the value of a state is the probability of reaching the goal from it.

    ## Action Space
    Stakes 0..goal // 2; in state s only stakes 1..min(s, goal − s) exist, so ``P[s]`` lists
    only those (planners treat the missing ones as unavailable). Stake 0 is left out: it
    would repeat the state for ever and tie with every optimal action when γ = 1.

    ## Observation Space
    The capital, 0..goal; 0 and ``goal`` are terminal (``P[0]`` and ``P[goal]`` are empty).

    ## Arguments
    ``p_heads`` in [0, 1] (the book uses 0.4, 0.25 and 0.55), ``goal`` >= 2 (the book: 100).

    Raises:
        ValueError: ``p_heads`` outside [0, 1] or ``goal`` < 2.
    """

    def __init__(self, p_heads: float = 0.4, goal: int = 100) -> None:
        if not isinstance(p_heads, int | float) or not (
            math.isfinite(p_heads) and 0.0 <= p_heads <= 1.0
        ):
            raise ValueError(
                f"p_heads={p_heads!r} is out of range; the probability of heads must be in [0, 1]"
            )
        if isinstance(goal, bool) or not isinstance(goal, int) or goal < 2:
            raise ValueError(f"goal={goal!r} must be an int >= 2 (the book uses 100)")
        self.p_heads = float(p_heads)
        self.goal = goal
        self.n_states = goal + 1
        self.n_actions = goal // 2 + 1
        self.P = self._table()

    def _table(self) -> dict[int, dict[int, list[tuple[float, int, float, bool]]]]:
        p, goal = self.p_heads, self.goal
        table: dict[int, dict[int, list[tuple[float, int, float, bool]]]] = {}
        for s in range(self.n_states):
            table[s] = {}
            for stake in range(1, min(s, goal - s) + 1):
                win, lose = s + stake, s - stake
                outcomes = [
                    (p, win, 1.0 if win == goal else 0.0, win == goal),
                    (1.0 - p, lose, 0.0, lose == 0),
                ]
                table[s][stake] = [o for o in outcomes if o[0] > 0]
        return table

    def stakes(self, s: int) -> range:
        """The stakes available with capital ``s``."""
        return range(1, min(s, self.goal - s) + 1)
