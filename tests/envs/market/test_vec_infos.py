"""StepInfos: the lazy info sequence of MarketVecEnv behaves like the list of dicts it
replaces, for SB3's wrappers and algorithms as for plain code."""

from __future__ import annotations

import numpy as np
import pytest
from stable_baselines3.common.vec_env import VecMonitor

from qmml.envs.market import MarketVecEnv
from qmml.envs.market.synthetic import gbm
from qmml.envs.market.vec_infos import StepInfos


def _infos() -> StepInfos:
    return StepInfos(4, {2: {"equity": 1.0, "TimeLimit.truncated": True}})


def test_reads_like_a_list_of_dicts() -> None:
    infos = _infos()
    assert len(infos) == 4 and infos[2]["equity"] == 1.0 and infos[-2] is infos[2]
    assert infos[0] == {} and infos[-1] == {} and infos[0] is not infos[1]
    assert infos[1:3] == [{}, {"equity": 1.0, "TimeLimit.truncated": True}]
    assert infos == [{}, {}, {"equity": 1.0, "TimeLimit.truncated": True}, {}]
    assert infos != [{}, {}, {}, {}] and infos != [{}] and infos != "not a list"
    assert [i.get("TimeLimit.truncated", False) for i in infos] == [False, False, True, False]
    assert "StepInfos([{}, {}" in repr(infos)
    for bad in (4, -5):  # before and after the list is built
        with pytest.raises(IndexError, match="out of range for 4 environments"):
            _infos()[bad]
        with pytest.raises(IndexError):
            infos[bad]
    with pytest.raises(TypeError):
        infos["0"]  # type: ignore[call-overload]


def test_a_dict_read_once_is_the_same_dict_ever_after() -> None:
    infos = _infos()
    first = infos[1]
    first["is_success"] = True  # wrappers write into infos[i] and expect it to stay
    assert infos[1] is first and list(infos)[1] is first and infos[:][1] is first
    listed = infos.as_list()
    assert all(a is b for a, b in zip(infos, listed, strict=True))
    assert [infos[i] for i in range(4)] == listed and infos[3] is listed[3]


def test_sb3_vec_monitor_reports_every_episode() -> None:
    vec = MarketVecEnv(6, gbm(200, seed=1), window=5, episode_length=4, random_start=True, seed=0)
    mon = VecMonitor(vec)
    mon.reset()
    rewards = np.zeros(6)
    for step in range(1, 9):
        _, r, done, infos = mon.step(np.ones(6, dtype=np.int64))
        rewards += r
        assert done.all() == (step % 4 == 0) and len(infos) == 6
        for i, info in enumerate(infos):
            if step % 4:
                assert info == {}
                continue
            assert info["episode"]["l"] == 4
            assert np.isclose(info["episode"]["r"], rewards[i], rtol=1e-5)
            assert info["terminal_observation"].shape == vec.observation_space.shape
        if step % 4 == 0:
            rewards[:] = 0.0


def test_observations_the_caller_keeps_are_never_overwritten() -> None:
    vec = MarketVecEnv(5, gbm(200, seed=2), window=5, episode_length=3, random_start=True, seed=0)
    kept, copies = [vec.reset()], []
    copies.append(kept[0].copy())
    terminal = []
    for _ in range(7):
        obs, _, done, infos = vec.step(np.ones(5, dtype=np.int64))
        kept.append(obs)
        copies.append(obs.copy())
        terminal += [
            (infos[i]["terminal_observation"], infos[i]["terminal_observation"].copy())
            for i in np.flatnonzero(done)
        ]
    assert len(terminal) == 10
    for a, b in [*zip(kept, copies, strict=True), *terminal]:
        np.testing.assert_array_equal(a, b)  # SB3's rollout keeps the last obs across a step
