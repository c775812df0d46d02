"""Shared test fixtures. Tests never read ../shared/corpus; they make their own small images."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
#: The conformance suite committed with the spec (spec/conformance/README.md).
CONFORMANCE = REPO / "spec" / "conformance"


def conformance_cases() -> list[dict[str, Any]]:
    """Every entry of spec/conformance/cases.json."""
    return json.loads((CONFORMANCE / "cases.json").read_text(encoding="utf-8"))["cases"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Any test taking a ``conformance_case`` argument runs once per vector, named by its file.
    if "conformance_case" in metafunc.fixturenames:
        cases = conformance_cases()
        metafunc.parametrize("conformance_case", cases, ids=[case["file"] for case in cases])


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    return CONFORMANCE


@pytest.fixture(scope="session")
def conformance_table() -> list[dict[str, Any]]:
    return conformance_cases()


@pytest.fixture(scope="session")
def conformance_generator() -> Any:
    """spec/conformance/generate.py, loaded as a module (its recipes and .xz helpers)."""
    spec = importlib.util.spec_from_file_location("kmz_conformance_generate", CONFORMANCE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)
