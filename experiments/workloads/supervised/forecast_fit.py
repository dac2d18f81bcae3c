"""Fitting and scoring one forecaster of :mod:`forecasting`: the walk-forward folds of a
section, each fold's fit and forecasts (the fixed baselines, ridge, trees and the networks,
scalers fitted on the training block alone), stitched in time order, and their out-of-sample
scores against the zero-return forecast (MSE ratio, Diebold-Mariano, Pesaran-Timmermann).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from qmml.envs.market.data import Market
from qmml.experiments.workloads.supervised.forecast_data import (
    Fold,
    FoldData,
    fold_data,
    folds_of,
    targets,
)
from qmml.supervised import forecast_stats as fs

if TYPE_CHECKING:  # forecasting imports this module: its types for annotations only
    from qmml.experiments.workloads.supervised.forecasting import (
        ForecastBudgetSection,
        ForecastSection,
        Model,
    )

__all__ = ["evaluate", "folds_for", "forecasts"]


def folds_for(env: ForecastSection, market: Market) -> list[Fold]:
    """The section's walk-forward folds over ``market``."""
    return folds_of(
        market.dates,
        train_days=env.train_days,
        val_days=env.val_days,
        test_days=env.test_days,
        expanding=env.expanding,
        max_folds=env.max_folds,
    )


def _fit_predict(
    model: Model, d: FoldData, budget: ForecastBudgetSection, seed: int, threads: int
) -> tuple[list[np.ndarray], dict[str, float], dict[str, np.ndarray]]:
    """Standardised predictions of a learned model for [x_eval, x_trade] of each ticker."""
    from qmml.supervised.lagged import fit_gbt, fit_ridge

    extra: dict[str, float] = {}
    hist: dict[str, np.ndarray] = {}
    if model.kind == "ridge":
        coef = fit_ridge(d.x_train, d.y_train, model.params["alpha"])
        extra["n_params"] = float(coef.size)

        def pred(x: np.ndarray) -> np.ndarray:
            return x @ coef[:-1] + coef[-1]
    elif model.kind == "gbt":
        reg = fit_gbt(d.x_train, d.y_train, seed=seed, **model.params)

        def pred(x: np.ndarray) -> np.ndarray:
            return reg.predict(x) if len(x) else np.empty(0)
    else:
        import torch

        from qmml.supervised.deep.forecast import ForecastNetConfig, fit_forecaster, predict

        torch.set_num_threads(threads)
        cfg = ForecastNetConfig(model.kind, **model.params)
        net, hist, _ = fit_forecaster(
            cfg,
            (d.x_train, d.y_train),
            (d.x_val, d.y_val),
            steps=budget.steps,
            eval_every=budget.eval_every,
            seed=seed,
            threads=threads,
        )
        extra["n_params"] = float(sum(p.numel() for p in net.parameters()))

        def pred(x: np.ndarray) -> np.ndarray:
            return predict(net, x)

    w = d.x_eval.shape[2]
    out = [pred(x.reshape(-1, w)).reshape(x.shape[:2]).T for x in (d.x_eval, d.x_trade)]
    return out, extra, hist


def _baseline(kind: str, close: np.ndarray, d: FoldData, origins: np.ndarray, h: int) -> np.ndarray:
    """Return forecasts (K, N) of the fixed baselines at ``origins``."""
    y_tr = targets(close, d.train_origins, h, False)
    if kind == "zero":
        return np.zeros((len(origins), close.shape[1]))
    if kind == "mean":
        return np.repeat(y_tr.mean(axis=0, keepdims=True), len(origins), axis=0)
    logc = np.log(close)
    past = logc[origins] - logc[np.maximum(origins - h, 0)]  # the last h-day return
    return np.sign(past) * np.abs(y_tr).mean(axis=0)  # persistence of the sign


def forecasts(
    model: Model,
    env: ForecastSection,
    budget: ForecastBudgetSection,
    market: Market,
    seed: int,
    threads: int = 1,
) -> dict[str, Any]:
    """Every fold's forecasts of one model, stitched in time order.

    Returns:
        ``eval_origins`` (K,), ``y`` and ``f`` (K, N) true and forecast returns,
        ``y_tgt`` and ``f_tgt`` the same in the target's units (levels when leaking),
        ``trade_origins`` and ``f_trade`` (returns), ``fit_cpu_s``, ``n_params`` and the
        validation-loss history of the last fold.
    """
    leaks, h = env.leak_set(), env.horizon
    levels = "levels" in leaks
    close = market.close
    acc: dict[str, list[np.ndarray]] = {k: [] for k in ("eo", "f", "ft", "to", "ftr")}
    cpu = 0.0
    extra: dict[str, float] = {}
    hist: dict[str, np.ndarray] = {}
    for k, fold in enumerate(folds_for(env, market)):
        d = fold_data(close, fold, window=env.window, horizon=h, leaks=leaks)
        t0 = time.process_time()
        if model.kind in ("zero", "mean", "persistence"):
            f_ev = _baseline(model.kind, close, d, d.eval_origins, h)
            f_td = _baseline(model.kind, close, d, d.trade_origins, h)
            if levels:  # the forecast as a price: P_t exp(r)
                f_ev_t = close[d.eval_origins] * np.exp(f_ev)
            else:
                f_ev_t = f_ev
        else:
            (z_ev, z_td), extra, hist = _fit_predict(model, d, budget, seed + k, threads)
            f_ev_t = np.column_stack([s.inverse(z_ev[:, i]) for i, s in enumerate(d.y_scalers)])
            f_td_t = (
                np.column_stack([s.inverse(z_td[:, i]) for i, s in enumerate(d.y_scalers)])
                if len(z_td)
                else np.empty((0, close.shape[1]))
            )
            f_ev, f_td = f_ev_t, f_td_t
            if levels:  # the implied return of a price forecast
                f_ev = np.log(np.maximum(f_ev_t, 1e-8) / close[d.eval_origins])
                f_td = np.log(np.maximum(f_td_t, 1e-8) / close[d.trade_origins])
        cpu += time.process_time() - t0
        acc["eo"].append(d.eval_origins)
        acc["f"].append(f_ev)
        acc["ft"].append(f_ev_t)
        acc["to"].append(d.trade_origins)
        acc["ftr"].append(f_td)
    eo = np.concatenate(acc["eo"])
    return {
        "eval_origins": eo,
        "y": targets(close, eo, h, False),
        "f": np.concatenate(acc["f"]),
        "y_tgt": targets(close, eo, h, levels),
        "f_tgt": np.concatenate(acc["ft"]),
        "trade_origins": np.concatenate(acc["to"]),
        "f_trade": np.concatenate(acc["ftr"]),
        "fit_cpu_s": cpu,
        "n_params": extra.get("n_params", float("nan")),
        "history": hist,
    }


def evaluate(out: dict[str, Any], horizon: int) -> dict[str, float]:
    """Out-of-sample scores of stitched forecasts (see the report's notes for each)."""
    y, f = out["y"], out["f"]
    e_model, e_zero = y - f, y
    # per-day root mean squared error across assets: e1^2 - e2^2 is the day's mean loss gap
    day_m, day_z = np.sqrt((e_model**2).mean(axis=1)), np.sqrt((e_zero**2).mean(axis=1))
    yt, ft = out["y_tgt"].ravel(), out["f_tgt"].ravel()
    s: dict[str, float] = {
        "mse": float(np.mean(e_model**2)),
        "mse_ratio": fs.mse_ratio(y.ravel(), f.ravel(), np.zeros(y.size)),
        "apparent_r2": 1.0 - float(np.sum((yt - ft) ** 2) / np.sum((yt - yt.mean()) ** 2)),
        "dir_acc": fs.directional_accuracy(y.ravel(), f.ravel()),
        "up_rate": float(np.mean(y > 0)),
        "n_eval": float(y.size),
    }
    s["oos_r2"] = 1.0 - s["mse_ratio"]
    s["dir_edge"] = s["dir_acc"] - s["up_rate"]
    try:
        dm = fs.diebold_mariano(day_m, day_z, horizon=horizon)
        s["dm_stat"], s["dm_p"] = dm.statistic, dm.p_value
    except ValueError:  # the zero forecast itself (identical losses)
        pass
    try:
        pt = fs.pesaran_timmermann(y.ravel(), f.ravel())
        s["pt_stat"], s["pt_p"] = pt.statistic, pt.p_value
    except ValueError:  # signs that never change: no directional test
        pass
    return s
