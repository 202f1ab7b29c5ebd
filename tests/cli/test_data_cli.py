"""``apexrl data``: import, validate, compare and generate through the real CLI."""

from __future__ import annotations

import json

import pytest

from tests.data.conftest import AIM, ORIGIN, RACECHRONO

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _err(result) -> str:
    return " ".join(result.stderr.split())


def _one_red_line(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
    return _err(result)


@pytest.fixture(scope="module")
def imported_root(tmp_path_factory):
    """A Minari root holding the RaceChrono fixture as apexrl/imported-v0 (written by the CLI)."""
    from typer.testing import CliRunner

    from apexrl.cli.app import app

    root = tmp_path_factory.mktemp("imported")
    args = ["data", "import", str(RACECHRONO), "--origin", ORIGIN, "-o", str(root), "--json"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root, json.loads(result.stdout)


def test_import_json(imported_root):
    root, data = imported_root
    assert data["format"] == "racechrono" and data["track"] == "apex_park"
    assert [lap["kind"] for lap in data["laps"]] == ["out", "lap", "in"]
    assert data["best_lap_time_s"] == pytest.approx(101.3, abs=0.05)
    assert data["alignment"]["method"] == "origin"
    assert "tire_friction_usage" in data["derived_channels"]
    assert data["dataset"]["dataset_id"] == "apexrl/imported-v0"
    assert (root / "apexrl" / "imported-v0" / "checksums.json").is_file()


def test_import_table_and_fitted_alignment(cli):
    result = cli("data", "import", str(AIM), "--format", "aim")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "alignment fitted" in out and "107.23" in out
    assert "logged: column 8 'TPS' [%]" in out and "derived: steady-state lean" in out


def test_import_refuses_existing_dataset(cli, imported_root, tmp_path):
    root, _ = imported_root
    result = cli("data", "import", str(RACECHRONO), "--origin", ORIGIN, "-o", str(root))
    assert "apexrl/imported-v0 already exists" in _one_red_line(result)
    args = ("data", "import", str(AIM), "-o", str(tmp_path), "--dataset-id", "me/aim-v1")
    result = cli(*args, "--complete-only", "--json")
    assert result.exit_code == 0, result.output
    assert cli("data", "validate", str(tmp_path / "me" / "aim-v1"), "--json").exit_code == 0
    assert "1 episodes" in " ".join(cli("data", "validate", str(tmp_path)).stdout.split())


@pytest.mark.parametrize(
    ("edit", "fmt", "message"),
    [
        ((1, "garbage"), "racechrono", "bad.csv:1: not a RaceChrono export"),
        ((2, "Format,2"), "racechrono", "bad.csv:2: expected 'Format,3'"),
        ((50, "1,2,3"), "racechrono", "bad.csv:50: row has 3 cells, expected 20"),
        ((1, "garbage"), "auto", "bad.csv:1: unknown log format"),
    ],
)
def test_import_bad_files(cli, tmp_path, edit, fmt, message):
    lines = RACECHRONO.read_text(encoding="utf-8").splitlines()
    lines[edit[0] - 1] = edit[1]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("data", "import", str(bad), "--format", fmt)
    assert message in _one_red_line(result)


def test_import_usage_errors(cli, tmp_path):
    assert cli("data", "import", str(RACECHRONO), "--format", "motec").exit_code == 2
    assert cli("data", "import").exit_code == 2
    result = cli("data", "import", str(tmp_path / "none.csv"))
    assert "no log file" in _one_red_line(result)
    result = cli("data", "import", str(RACECHRONO), "--origin", "north")
    assert "origin 'north' must be LAT,LON[,HEADING]" in _one_red_line(result)


def test_validate_ok_and_json(cli, imported_root):
    root, _ = imported_root
    result = cli("data", "validate", str(root))
    assert result.exit_code == 0, result.output
    assert "ok apexrl/imported-v0: 3 episodes" in " ".join(result.stdout.split())
    data = json.loads(cli("data", "validate", str(root), "--json").stdout)
    assert data["ok"] is True and data["datasets"][0]["episodes"] == 3


def test_validate_corrupt_data_exits_1(cli, imported_root, tmp_path):
    import shutil

    root, _ = imported_root
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    data = copy / "apexrl" / "imported-v0" / "data" / "main_data.hdf5"
    size = data.stat().st_size
    with open(data, "r+b") as fh:
        fh.truncate(size - 1000)
    message = _one_red_line(cli("data", "validate", str(copy)))
    assert (
        f"truncated file data/main_data.hdf5: {size - 1000} bytes, the manifest says {size}"
        in message
    )
    result = cli("data", "validate", str(copy), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["datasets"][0]["ok"] is False


def test_validate_missing_folder(cli, tmp_path):
    assert "no such folder" in _one_red_line(cli("data", "validate", str(tmp_path / "x")))


def test_compare_log_json_and_plot(cli, tmp_path):
    plot = tmp_path / "lap.png"
    args = ("data", "compare", str(RACECHRONO), "--origin", ORIGIN, "--plot", str(plot))
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["corners"]) == 11 and data["plot"] == str(plot)
    assert data["lap_time_s"] == pytest.approx(101.3, abs=0.05)
    assert plot.read_bytes()[:8] == PNG_MAGIC
    assert "exists; pass --force" in _one_red_line(cli(*args))
    assert cli(*args, "--force").exit_code == 0


def test_compare_table(cli):
    result = cli("data", "compare", str(AIM))
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "T1 L" in out and "T11 L" in out and "optimal" in out


def test_compare_dataset_episode(cli, imported_root):
    root, _ = imported_root
    args = ("data", "compare", "--dataset", str(root), "--dataset-id", "apexrl/imported-v0")
    result = cli(*args, "--episode", "1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["lap_time_s"] == pytest.approx(101.3, abs=0.05)
    assert (
        "episode 0 of 'apexrl/imported-v0' did not complete its lap (outcome: out-lap"
        in _one_red_line(cli(*args, "--episode", "0"))
    )
    assert "episode 9 is out of range" in _one_red_line(cli(*args, "--episode", "9"))
    assert "recorded on track 'apex_park', not" in _one_red_line(
        cli(*args, "--episode", "1", "--track", "dr_oval")
    )


def test_compare_usage_errors(cli, tmp_path):
    assert "give either a log file LAP or --dataset" in _one_red_line(cli("data", "compare"), 2)
    both = cli("data", "compare", str(AIM), "--dataset", str(tmp_path), "--dataset-id", "a/b-v0")
    assert "give either" in _one_red_line(both, 2)
    assert "--dataset needs --dataset-id" in _one_red_line(
        cli("data", "compare", "--dataset", str(tmp_path)), 2
    )


def test_generate_json_then_refuse_then_force(cli, tmp_path):
    args = ("data", "generate", "--laps", "2", "--num-envs", "2", "--riders", "pro")
    result = cli(*args, "--output", str(tmp_path), "--seed", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (pro,) = data["datasets"]
    assert pro["dataset_id"] == "apexrl/moto-pro-v0" and pro["counts"]["episodes"] == 2
    assert (tmp_path / "apexrl" / "moto-pro-v0" / "checksums.json").is_file()
    again = cli(*args, "--output", str(tmp_path))
    assert "apexrl/moto-pro-v0 already exists" in _one_red_line(again)
    result = cli(*args, "--output", str(tmp_path), "--seed", "4", "--force")
    assert result.exit_code == 0, result.output
    assert "apexrl/moto-pro-v0" in result.stdout and "MINARI_DATASETS_PATH" in result.stdout
    assert cli("data", "validate", str(tmp_path)).exit_code == 0


def test_generate_errors(cli, tmp_path):
    out = ("--output", str(tmp_path))
    assert cli("data", "generate", "--laps", "0", *out).exit_code == 2
    assert cli("data", "generate").exit_code == 2  # --output is required
    result = cli("data", "generate", "--laps", "1", "--riders", "expert", *out)
    assert "riders must be distinct presets from: pro, amateur" in _one_red_line(result)
    result = cli("data", "generate", "--laps", "1", "--track", "nope", *out)
    assert "track 'nope' not found" in _one_red_line(result)
