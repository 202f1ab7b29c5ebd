"""Shared fixtures: tiny datasets and a tiny behaviour-cloned model on a short oval."""

from __future__ import annotations

import pytest

OVAL = "oval:a=300,b=150,width=12"
"""A 1.45 km oval: a lap takes ~40 s, so episodes stay short."""


@pytest.fixture(scope="session")
def datasets_root(tmp_path_factory):
    """Minari root with apexrl/moto-pro-v0 and apexrl/moto-amateur-v0, 3 laps each (~2 s)."""
    from apexrl.data.generate import generate_datasets

    root = tmp_path_factory.mktemp("datasets")
    generate_datasets(root, laps=3, seed=7, track=OVAL, progress=False)
    return root


@pytest.fixture(scope="session")
def bc_model(datasets_root, tmp_path_factory):
    """A behaviour-cloned PPO policy (3 epochs) saved as an apexrl model folder."""
    from apexrl.train.bc import BCConfig, train_bc

    out = tmp_path_factory.mktemp("bc") / "model"
    train_bc(datasets_root, out, config=BCConfig(epochs=3, batch_size=512), seed=3,
             progress=False)  # fmt: skip
    return out
