"""What the supervised workloads share: the ``env`` section that names the data, loading and
splitting it, seeding models, and checking model parameters before anything runs.

Every trial splits its data with a seed derived from the trial seed, and the split seed is
the same for every agent of a seed index: all models of one seed see the same test rows.
Scalers sit inside each model's ``Pipeline`` and are fitted on training rows only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from qmml.experiments.spec import ExperimentSpec, SpecError
from qmml.experiments.workload import (
    ResolvedAgent,
    StrictModel,
    TrialContext,
    TrialResult,
    Workload,
)
from qmml.supervised.data import DataError, Dataset, load_csv, load_dataset, scaled, split

__all__ = [
    "DataSection",
    "Fitted",
    "SupervisedWorkload",
    "downsample",
    "final_step",
    "load_env_data",
    "seeded",
    "trial_result",
]


class DataSection(StrictModel):
    """The ``env`` section of a supervised experiment: which data and how it is prepared.

    Attributes:
        dataset: ``salary``, ``sine``, ``spiral``, ``diabetes``, ``breast_cancer``,
            ``digits``, ``iris``, ``wine``, or ``csv`` (then ``path`` and ``target``).
        data_options: options of the generator (e.g. ``{n_per_class: 200, noise: 0.2}``
            for ``spiral``; ``seed`` fixes the generated data, default 0).
        path: a CSV file, for ``dataset: csv``.
        target: the CSV's target column.
        one_hot: one-hot encode non-numeric CSV columns (an empty cell is a category).
        features: the CSV columns to use as features (default: all but the target).
        drop: CSV columns to leave out (e.g. an id).
        task: ``auto`` (guess from the target), ``regression`` or ``classification``.
        impute: fill empty numeric cells: ``none`` (refuse them), ``mean``, ``median``,
            ``most_frequent`` or ``constant`` (with ``fill_value``); fitted on the training
            rows only, inside the model's pipeline before the scaler.
        fill_value: the number ``impute: constant`` writes.
        test_size: held-out share; every metric named ``test_*`` is computed on it.
        scaling: ``none``, ``standard`` or ``minmax``, fitted on the training rows only.
    """

    dataset: str = "salary"
    data_options: dict[str, Any] = Field(default_factory=dict)
    path: str | None = None
    target: str | None = None
    one_hot: bool = False
    features: list[str] | None = None
    drop: list[str] = Field(default_factory=list)
    task: Literal["auto", "regression", "classification"] = "auto"
    impute: Literal["none", "mean", "median", "most_frequent", "constant"] = "none"
    fill_value: float | None = None
    test_size: float = Field(default=0.25, gt=0, lt=1)
    scaling: Literal["none", "standard", "minmax"] = "standard"


def load_env_data(env: DataSection) -> Dataset:
    """The data set an ``env`` section names.

    Raises:
        DataError: unknown data set, bad options, or a bad CSV.
    """
    if env.dataset == "csv":
        if not env.path or not env.target:
            raise DataError(
                "env: dataset 'csv' needs 'path' (the CSV file) and 'target' (its target column)"
            )
        return load_csv(
            env.path,
            env.target,
            one_hot=env.one_hot,
            task=env.task,
            features=env.features,
            drop=env.drop,
            keep_missing=env.impute != "none",
        )
    csv_only = [k for k in ("path", "target", "features") if getattr(env, k) is not None]
    csv_only += ["drop"] * bool(env.drop) + ["task"] * (env.task != "auto")
    if csv_only:
        raise DataError(
            f"env: {', '.join(csv_only)} only apply to dataset: csv (got dataset "
            f"{env.dataset!r}); remove them or set dataset: csv"
        )
    return load_dataset(env.dataset, **env.data_options)


def _check_impute(env: DataSection) -> None:
    if env.impute == "constant" and env.fill_value is None:
        raise DataError("env: impute: constant needs fill_value (a number), e.g. fill_value: 0")
    if env.fill_value is not None and env.impute != "constant":
        raise DataError("env: fill_value applies to impute: constant only; remove it")


def seeded(model: BaseEstimator, seed: int) -> BaseEstimator:
    """``model`` with every ``random_state`` parameter (pipeline steps included) set."""
    keys = [k for k in model.get_params() if k == "random_state" or k.endswith("__random_state")]
    return model.set_params(**dict.fromkeys(keys, seed)) if keys else model


def final_step(model: BaseEstimator) -> BaseEstimator:
    """The estimator at the end of a pipeline (or ``model`` itself)."""
    return model.steps[-1][1] if isinstance(model, Pipeline) else model


class Fitted:
    """A model fitted on a trial's training split, with the split and the fit time."""

    def __init__(
        self,
        model: BaseEstimator,
        data: Dataset,
        X_train: np.ndarray,
        X_test: np.ndarray,
        y_train: np.ndarray,
        y_test: np.ndarray,
        fit_wall_s: float,
        split_seed: int,
        model_seed: int,
    ):
        self.model, self.data = model, data
        self.X_train, self.X_test, self.y_train, self.y_test = X_train, X_test, y_train, y_test
        self.fit_wall_s, self.split_seed, self.model_seed = fit_wall_s, split_seed, model_seed

    @property
    def estimator(self) -> BaseEstimator:
        """The fitted model behind any scaler."""
        return final_step(self.model)


class SupervisedWorkload(Workload):
    """Base of the supervised workloads: data checks in :meth:`check`, one fit per trial."""

    Env = DataSection
    task: str = ""  # the data's task this workload needs
    reserved: tuple[str, ...] = ("random_state",)  # parameters the workload sets itself

    def provenance(self, spec: ExperimentSpec) -> list[tuple[str, str]]:
        """Each data set the agents use: the bundled file and its hash, scikit-learn's copy
        and version, a CSV's path and hash, or "generated from the seed"."""
        out = []
        for a in spec.agents:
            env = {**spec.env, **a.env}
            name, path = str(env.get("dataset", "salary")), env.get("path")
            out.append((f"data ({name})", _describe(name, path)))
        return list(dict.fromkeys(out))

    def build(self, spec: ExperimentSpec, agent: ResolvedAgent) -> BaseEstimator:
        """The agent's unfitted model (before scaling and seeding)."""
        factory: Callable[..., BaseEstimator] = self.agent_types[agent.type]
        params = dict(agent.params)
        if isinstance(params.get("hidden_layer_sizes"), list):  # YAML list -> tuple
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        return factory(**params)

    def check(self, spec: ExperimentSpec, agents: list[ResolvedAgent]) -> None:
        """Every agent's data loads and has the right task; model parameters are valid."""
        seen: dict[str, Dataset] = {}
        for a in agents:
            key = f"agents.{a.group}"
            for name in self.reserved:
                if name in a.params:
                    raise SpecError(
                        f"{key}.params: {name!r} is set by the experiment (from the "
                        "seed or the budget); remove it"
                    )
            env = self.env_config(spec, a)
            tag = env.model_dump_json()
            if tag not in seen:
                try:
                    _check_impute(env)
                    seen[tag] = load_env_data(env)
                except DataError as err:
                    raise SpecError(f"{key}.env: {err}") from None
            data = seen[tag]
            if self.task and data.task != self.task:
                raise SpecError(
                    f"{key}.env: data set {data.name!r} is a {data.task} problem; "
                    f"the {self.name!r} experiment needs {self.task} data"
                )
            model = final_step(self.build(spec, a))
            try:  # ours: _check_params; scikit-learn's: _validate_params (both ValueErrors)
                getattr(model, "_check_params", getattr(model, "_validate_params", lambda: None))()
            except ValueError as err:
                raise SpecError(f"{key}.params: {err}") from None

    def fit_trial(
        self,
        spec: ExperimentSpec,
        agent: ResolvedAgent,
        ctx: TrialContext,
        prepare: Callable[[BaseEstimator, Dataset], None] | None = None,
    ) -> Fitted:
        """Load and split the data, build, seed and fit the model on the training split.

        ``prepare(model, data)`` may adjust the final estimator before fitting.
        """
        env = self.env_config(spec, agent)
        split_seed, model_seed = ctx.int_seeds(2)  # split seed: shared by a seed's agents
        data = load_env_data(env)
        X_train, X_test, y_train, y_test = split(data, test_size=env.test_size, seed=split_seed)
        model = scaled(self.build(spec, agent), env.scaling, env.impute, env.fill_value)
        model = seeded(model, model_seed)
        if prepare is not None:
            prepare(final_step(model), data)
        t0 = time.perf_counter()
        model.fit(X_train, y_train)
        wall = time.perf_counter() - t0
        return Fitted(model, data, X_train, X_test, y_train, y_test, wall, split_seed, model_seed)


def trial_result(
    scalars: Mapping[str, float | np.ndarray],
    curves: dict[str, np.ndarray],
    steps: dict[str, np.ndarray] | None = None,
) -> TrialResult:
    """A :class:`TrialResult` whose curves may each have their own steps (default 1..n)."""
    res = TrialResult.from_arrays(scalars=dict(scalars))
    steps = steps or {}
    parts = [TrialResult.from_arrays({k: v}, steps=steps.get(k)).curves for k, v in curves.items()]
    if parts:
        res.curves = pd.concat(parts, ignore_index=True)
    return res


def downsample(steps: np.ndarray, n_max: int) -> np.ndarray:
    """At most ``n_max`` evenly spread indices into ``steps``, first and last included."""
    if len(steps) <= n_max:
        return np.arange(len(steps))
    return np.unique(np.linspace(0, len(steps) - 1, n_max).round().astype(int))


def _describe(name: str, path: Any) -> str:
    import hashlib
    from importlib import resources

    import sklearn

    def sha(f: Path) -> str:
        return hashlib.sha256(f.read_bytes()).hexdigest()[:16]

    if name == "csv" and path and Path(str(path)).is_file():
        return f"CSV {Path(str(path)).resolve()}, sha256 {sha(Path(str(path)))}…"
    if name == "salary":
        f = Path(str(resources.files("qmml.supervised") / "data" / "salary.csv"))
        return f"bundled salary.csv, sha256 {sha(f)}… (supervised/data/README.md)"
    if name in ("sine", "spiral"):
        return f"{name}: generated from the trial's seed"
    return f"scikit-learn {sklearn.__version__} bundled data set '{name}'"
