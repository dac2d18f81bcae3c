"""The supervised experiments (regression, nn-from-scratch, classification): quick runs with
reports, seeded determinism, held-out evaluation, and spec errors caught before running."""

import numpy as np
import pandas as pd
import pytest
import torch

from qmml.experiments.cli import resolve_spec
from qmml.experiments.overrides import apply_quick
from qmml.experiments.report import build_report
from qmml.experiments.runner import plan_trials, run_experiment, trial_context
from qmml.experiments.spec import SpecError, spec_from_dict
from qmml.experiments.workload import expand_agents, get_workload
from qmml.supervised.linear import LinearRegression

torch.set_num_threads(1)

# curves each experiment's custom plots read: a quick run must store them
NEEDED = {
    "regression": {"surface_mse", "path_w", "loss", "lc_val_rmse"},
    "nn-from-scratch": {"train_loss", "val_loss", "grid_class", "confusion"},
    "classification": {"confusion", "roc_tpr", "grid_class"},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["regression", "nn-from-scratch", "classification"])
def test_quick_run_and_report(name, tmp_path):
    spec = apply_quick(resolve_spec(name))
    outcome = run_experiment(spec, out=tmp_path, executor="serial", progress=False)
    assert outcome.ran == outcome.n_trials > 0 and not outcome.failed
    report = build_report(outcome.run_dir.path)
    assert report.is_file() and "Final metrics" in report.read_text()
    figures = list((outcome.run_dir.path / "figures").glob("*.png"))
    assert len(figures) >= len(spec.report.plots)
    curves, scalars = outcome.run_dir.load_tables()
    assert NEEDED[name] <= set(curves["metric"])
    assert {"fit_wall_s"} <= set(scalars["metric"])
    tests = scalars[scalars["metric"].str.startswith("test_")]
    assert len(tests) and tests["value"].notna().all()
    summary = pd.read_csv(outcome.run_dir.path / "summary.csv")
    assert set(summary["agent"]) == {a.name for a in expand_agents(spec)}


@pytest.mark.parametrize("name", ["regression", "nn-from-scratch", "classification"])
def test_full_specs_validate(name):
    spec = resolve_spec(name)
    trials = plan_trials(spec)  # data loads, task matches, every parameter is valid
    assert len(trials) == spec.seeds * len(expand_agents(spec))
    assert spec.quick, "every built-in experiment needs a quick section"


def _trial(name, agent_name, seed_index=0):
    spec = apply_quick(resolve_spec(name))
    workload = get_workload(spec.kind)
    agent = next(a for a in expand_agents(spec) if a.name == agent_name)
    return workload.run_trial(spec, agent, trial_context(spec, seed_index))


def _same(a, b):
    keep_a = a.scalars[~a.scalars["metric"].str.endswith("wall_s")].reset_index(drop=True)
    keep_b = b.scalars[~b.scalars["metric"].str.endswith("wall_s")].reset_index(drop=True)
    pd.testing.assert_frame_equal(keep_a, keep_b, check_exact=True)
    pd.testing.assert_frame_equal(a.curves, b.curves, check_exact=True)


@pytest.mark.parametrize(
    "name, agent",
    [
        ("regression", "salary batch GD"),
        ("regression", "salary mini-batch SGD"),
        ("regression", "poly[degree=4]"),
        ("nn-from-scratch", "spiral torch"),
        ("nn-from-scratch", "spiral sklearn"),
        ("nn-from-scratch", "digits numpy early-stop"),
        ("classification", "spiral numpy-mlp"),
        ("classification", "spiral svm"),
    ],
)
def test_same_seed_same_results(name, agent):
    first, again = _trial(name, agent), _trial(name, agent)
    _same(first, again)
    other = _trial(name, agent, seed_index=1)
    assert not first.scalars["value"].equals(other.scalars["value"])


def test_numpy_and_torch_trials_agree():
    numpy_res, torch_res = (
        _trial("nn-from-scratch", "spiral numpy"),
        _trial("nn-from-scratch", "spiral torch"),
    )
    a = numpy_res.scalars.set_index("metric")["value"]
    b = torch_res.scalars.set_index("metric")["value"]
    assert a["test_accuracy"] == b["test_accuracy"]
    assert a["test_log_loss"] == pytest.approx(b["test_log_loss"], rel=1e-9)
    np.testing.assert_allclose(
        torch_res.curves["value"], numpy_res.curves["value"], rtol=1e-9, atol=1e-12
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_models_are_scored_on_held_out_rows_shared_by_a_seed():
    spec = apply_quick(resolve_spec("classification"))
    workload = get_workload(spec.kind)
    agents = {a.name: a for a in expand_agents(spec)}
    fits = [
        workload.fit_trial(spec, agents[n], trial_context(spec, 0))
        for n in ("cancer logistic", "cancer knn")
    ]
    train_rows = {r.tobytes() for r in fits[0].X_train}
    assert not any(r.tobytes() in train_rows for r in fits[0].X_test)
    assert fits[0].X_test.tobytes() == fits[1].X_test.tobytes()  # same split for a seed
    scaler = fits[0].model.named_steps["scale"]
    np.testing.assert_allclose(scaler.mean_, fits[0].X_train.mean(axis=0))  # train rows only


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_loss_surface_and_path_end_at_the_least_squares_solution():
    res = _trial("regression", "salary batch GD")
    c = res.curves
    get = lambda m: c[c["metric"] == m].sort_values("step")["value"].to_numpy()  # noqa: E731
    w, b, mse = get("surface_w"), get("surface_b"), get("surface_mse").reshape(40, 40)
    spec = apply_quick(resolve_spec("regression"))
    agent = next(a for a in expand_agents(spec) if a.name == "salary batch GD")
    fit = get_workload("regression").fit_trial(spec, agent, trial_context(spec, 0))
    ref = LinearRegression().fit(fit.X_train, fit.y_train)
    i, j = np.unravel_index(np.argmin(mse), mse.shape)
    assert abs(w[j] - ref.coef_[0]) <= 2 * (w[1] - w[0])  # grid minimum next to the optimum
    assert abs(b[i] - ref.intercept_) <= 2 * (b[1] - b[0])
    assert get("path_w")[0] == 0.0 and get("path_b")[0] == 0.0
    assert get("path_w")[-1] == pytest.approx(fit.estimator.coef_[0])
    loss = get("loss")
    assert loss[-1] < loss[0]


BASE = {
    "name": "t",
    "kind": "regression",
    "seeds": 1,
    "env": {"dataset": "salary"},
    "agents": [{"name": "a", "type": "linear-closed-form"}],
}


@pytest.mark.parametrize(
    "change, match",
    [
        ({"env": {"dataset": "salry"}}, "did you mean 'salary'"),
        ({"env": {"dataset": "digits"}}, "classification problem.*needs regression"),
        ({"env": {"dataset": "csv"}}, "needs 'path'"),
        ({"env": {"dataset": "spiral", "data_options": {"radius": 1}}}, "unknown option"),
        ({"env": {"scaling": "robust"}}, "scaling"),
        ({"env": {"colour": "red"}}, "unknown key 'env.colour'"),
        ({"budget": {"cv_folds": 1}}, "at least 2 folds"),
        ({"agents": [{"name": "a", "type": "polynomial", "params": {"degree": 0}}]}, "degree"),
        ({"agents": [{"name": "a", "type": "linear-gd", "params": {"max_iter": 0}}]}, "max_iter"),
        (
            {"agents": [{"name": "a", "type": "linear-sgd", "params": {"seed": 1}}]},
            "unknown parameter 'seed'",
        ),
        ({"agents": [{"name": "a", "type": "linear-gradient"}]}, "did you mean 'linear-gd'"),
    ],
)
def test_regression_spec_errors(change, match):
    with pytest.raises(SpecError, match=match):
        plan_trials(spec_from_dict({**BASE, **change}))


@pytest.mark.parametrize(
    "kind, agent, match",
    [
        ("classification", {"type": "knn", "params": {"n_neighbors": 0}}, "n_neighbors"),
        ("classification", {"type": "numpy-mlp", "params": {"solver": "lbfgs"}}, "solver"),
        (
            "classification",
            {"type": "random-forest", "params": {"random_state": 3}},
            "random_state.*set by the experiment",
        ),
        (
            "nn-from-scratch",
            {"type": "numpy-mlp", "params": {"max_epochs": 5}},
            "max_epochs.*set by the experiment",
        ),
        ("nn-from-scratch", {"type": "torch-mlp", "params": {"activation": "swish"}}, "activation"),
    ],
)
def test_classifier_spec_errors(kind, agent, match):
    spec = {
        "name": "t",
        "kind": kind,
        "seeds": 1,
        "env": {"dataset": "iris"},
        "agents": [{"name": "a", **agent}],
    }
    with pytest.raises(SpecError, match=match):
        plan_trials(spec_from_dict(spec))
    with pytest.raises(SpecError, match="regression problem"):
        plan_trials(
            spec_from_dict(
                {
                    **spec,
                    "env": {"dataset": "salary"},
                    "agents": [{"name": "a", "type": "numpy-mlp"}],
                }
            )
        )


def test_user_csv_runs_and_its_errors_are_spec_errors(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 40)
    path = tmp_path / "house.csv"
    pd.DataFrame(
        {"size": x, "rooms": rng.integers(1, 5, 40), "price": 3 * x + 5 + rng.normal(0, 0.1, 40)}
    ).to_csv(path, index=False)
    spec = spec_from_dict(
        {
            **BASE,
            "budget": {"cv_folds": 0},
            "env": {"dataset": "csv", "path": str(path), "target": "price"},
        }
    )
    outcome = run_experiment(spec, out=tmp_path / "runs", executor="serial", progress=False)
    _, scalars = outcome.run_dir.load_tables()
    assert scalars.set_index("metric").loc["test_r2", "value"] > 0.99
    bad = spec_from_dict({**BASE, "env": {"dataset": "csv", "path": str(path), "target": "prize"}})
    with pytest.raises(SpecError, match="did you mean 'price'"):
        plan_trials(bad)


@pytest.mark.parametrize("impute", ["mean", "median", "most_frequent", "constant"])
def test_imputer_is_fitted_on_training_rows_only(tmp_path, impute):
    rng = np.random.default_rng(0)
    n = 80
    df = pd.DataFrame(
        {
            "id": np.arange(n),
            "size": rng.uniform(0, 10, n).round(1),
            "kind": rng.choice(["a", "b"], n).astype(object),
            "price": rng.normal(0, 1, n),
        }
    )
    df.loc[::5, "size"] = np.nan
    df.loc[::7, "kind"] = None
    env = {
        "dataset": "csv",
        "target": "price",
        "one_hot": True,
        "drop": ["id"],
        "task": "regression",
        "impute": impute,
        **({"fill_value": -1.0} if impute == "constant" else {}),
    }

    def fitted(frame, name):
        path = tmp_path / name
        frame.to_csv(path, index=False)
        spec = spec_from_dict(
            {**BASE, "budget": {"cv_folds": 0}, "env": {**env, "path": str(path)}}
        )
        wl = get_workload(spec.kind)
        agent = expand_agents(spec)[0]
        wl.check(spec, [agent])
        return wl.fit_trial(spec, agent, trial_context(spec, 0))

    a = fitted(df, "a.csv")
    from sklearn.model_selection import train_test_split

    # the rows split() holds out (the same shuffle of the row numbers)
    _, test_idx = train_test_split(np.arange(n), test_size=0.25, random_state=a.split_seed)
    test_rows = np.isin(np.arange(n), test_idx)
    np.testing.assert_array_equal(a.X_test, a.data.X[test_idx])
    changed = df.copy()
    changed.loc[test_rows, "size"] = changed.loc[test_rows, "size"] * 100 + 50  # test rows only
    b = fitted(changed, "b.csv")
    stats = [f.model.named_steps["impute"].statistics_ for f in (a, b)]
    np.testing.assert_array_equal(stats[0], stats[1])
    assert not np.array_equal(a.X_test, b.X_test, equal_nan=True)  # the test rows did change
    if impute == "mean":
        np.testing.assert_allclose(stats[0], np.nanmean(a.X_train, axis=0))
    assert "kind_nan" in a.data.feature_names
