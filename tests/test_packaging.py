"""What pip installs for the tests: the `test` extra of pyproject.toml lists
exactly what requirements-test.txt (the file the scripts install) does."""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_the_test_extra_is_requirements_test_txt():
    tomllib = pytest.importorskip("tomllib")  # 3.11+; the other versions check the same files
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extra = project["optional-dependencies"]["test"]
    lines = (ROOT / "requirements-test.txt").read_text(encoding="utf-8").splitlines()
    required = [line.split("#", 1)[0].strip() for line in lines]
    assert sorted(filter(None, required)) == sorted(extra)
