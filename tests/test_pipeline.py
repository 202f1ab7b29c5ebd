"""The main job: one fresh folder per run, every artifact, nothing overwritten, errors stop it,
and an interrupted run continues in its own folder."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from apexrl import pipeline
from apexrl.tracks.library import load_track

OVAL = "oval:a=300,b=150,width=12"
TINY = {"track": OVAL, "laps": 2, "timesteps": 2048, "eval_episodes": 2, "progress": False}
"""Every step on a 1.45 km oval: 2 laps per rider, one PPO rollout, 2 evaluation laps (~15 s)."""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline") / "run"
    summary = pipeline.run(output=out, **TINY)
    return out, summary


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pipeline_writes_every_artifact(tiny_run):
    out, summary = tiny_run
    names = {p.name for p in out.iterdir()}
    assert {"optimal_lap.png", "raceline.csv", "optimal_lap.json", "run.json", "pipeline.log",
            "evaluation.json", "lap_times.png", "speed_map.png", "haptic_cues.png",
            "summary.json", "datasets", "bc", "ppo", "tensorboard", "export"} <= names  # fmt: skip
    for rider in ("pro", "amateur"):
        assert (out / "datasets" / "apexrl" / f"moto-{rider}-v0" / "checksums.json").is_file()
    assert {p.name for p in (out / "bc").iterdir()} >= {"model.json", "model.safetensors"}
    assert {p.name for p in (out / "ppo" / "model").iterdir()} == {
        "model.json", "model.safetensors", "model_sb3.zip"}  # fmt: skip
    assert {p.name for p in (out / "tensorboard").iterdir()} == {"bc", "ppo"}
    # The racing line file is itself a track.
    assert load_track(out / "raceline.csv").closed
    assert (out / "optimal_lap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "summary.json").read_text()) == summary


def test_evaluation_json_has_the_promised_numbers(tiny_run):
    out, summary = tiny_run
    ev = json.loads((out / "evaluation.json").read_text())
    for key in ("lap_time_mean_s", "lap_time_std_s", "lap_time_min_s", "lap_time_max_s",
                "reward_mean", "success_rate", "safety_violations_total",
                "safety_violations_per_episode"):  # fmt: skip
        assert key in ev
    coaching = ev["coaching"]
    for key in ("amateur_lap_time_s", "coached_lap_time_s", "oracle_lap_time_s",
                "pro_lap_time_s", "optimal_lap_time_s", "gap_closed_fraction",
                "amateur_violations_per_episode", "coached_violations_per_episode"):  # fmt: skip
        assert key in coaching
    lap = json.loads((out / "optimal_lap.json").read_text())
    assert coaching["optimal_lap_time_s"] == lap["raceline_lap_time_s"]
    assert ev["seed"] == pipeline.evaluation_seed(42) != 42  # not PPO's training riders
    assert summary["steps"]["evaluate"]["coaching"] == coaching


def test_export_step_writes_checked_edge_artifacts(tiny_run):
    out, summary = tiny_run
    step = summary["steps"]["export"]
    report = json.loads((out / "export" / "export_report.json").read_text())
    for name in ("policy.onnx", "policy_fp32.tflite", "policy_int8.tflite", "policy_int8.cc",
                 "policy_mlp.c"):  # fmt: skip
        assert (out / "export" / name).is_file()
        assert name in report["artifacts"]
    assert step["int8_bytes"] == (out / "export" / "policy_int8.tflite").stat().st_size
    assert step["fits_budget"] is report["fits_budget"] is True
    assert step["tflm_matches_litert"] is True


def test_the_coach_is_chosen_on_validation_riders_and_is_what_gets_evaluated(tiny_run):
    out, summary = tiny_run
    record = json.loads((out / "coach.json").read_text())
    assert record["chosen"] in ("ppo", "bc") and set(record["candidates"]) == {"ppo", "bc"}
    assert record["seed"] == pipeline.validation_seed(42)
    assert record["seed"] not in (42, pipeline.evaluation_seed(42))
    chosen = pipeline.coach_model(out)
    assert chosen == out / record["model"] and (chosen / "model.json").is_file()
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["model"]["path"] == str(chosen)
    assert summary["steps"]["coach"]["chosen"] == record["chosen"]
    scores = record["candidates"][record["chosen"]]
    for other in record["candidates"].values():  # nothing that qualifies is better
        if other["qualifies"]:
            assert scores["qualifies"] and scores["gap_closed_fraction"] >= other[
                "gap_closed_fraction"]  # fmt: skip


def test_equal_candidates_go_to_the_first_named(tiny_run, tmp_path):
    out, _ = tiny_run
    run = tmp_path / "run"
    shutil.copytree(out / "bc", run / "a")
    shutil.copytree(out / "bc", run / "b")
    record = pipeline.select_coach(run, {"b": Path("b"), "a": Path("a")}, track=OVAL,
                                   episodes=2)  # fmt: skip
    assert record["chosen"] == "b"
    assert record["candidates"]["a"] == record["candidates"]["b"]
    assert pipeline.coach_model(run) == run / "b"


def test_the_models_carry_their_provenance(tiny_run):
    from apexrl.train.model_io import load_policy

    out, _ = tiny_run
    prov = load_policy(out / "ppo" / "model").metadata["provenance"]
    assert prov["seed"] == 42 and prov["track"] == OVAL
    assert prov["init_policy"] == str(out / "bc")
    assert prov["num_timesteps"] == 2048
    assert "apexrl/moto-amateur-v0" in load_policy(out / "bc").metadata["provenance"]["datasets"]
    # The run's recipe is what the models were built with.
    settings = json.loads((out / "run.json").read_text())
    bc_meta = load_policy(out / "bc").metadata
    mix = bc_meta["hyperparameters"]["bc"]["mix"]
    assert mix == pytest.approx({k: v / sum(settings["bc_mix"].values())
                                 for k, v in settings["bc_mix"].items() if v > 0})  # fmt: skip
    assert bc_meta["policy_kwargs"]["net_arch"]["pi"] == settings["actor_layers"]


def test_resume_keeps_finished_steps_and_reproduces_the_run(tiny_run, tmp_path):
    out, summary = tiny_run
    run = tmp_path / "run"
    shutil.copytree(out, run)
    kept = [run / "bc" / "model.safetensors",
            run / "datasets" / "apexrl" / "moto-pro-v0" / "checksums.json"]  # fmt: skip
    before = [_sha(p) for p in kept]
    # Interrupted during PPO: no final model, no evaluation, no summary.
    shutil.rmtree(run / "ppo")
    (run / "evaluation.json").unlink()
    (run / "summary.json").unlink()
    again = pipeline.run(output=run, resume=True, progress=False)
    assert again["resumed"] and again["settings"] == summary["settings"]
    assert [_sha(p) for p in kept] == before
    # Same seed, same BC model: PPO and the evaluation come out identical.
    ev_then = summary["steps"]["evaluate"]["coaching"]
    assert json.loads((run / "evaluation.json").read_text())["coaching"] == ev_then
    assert "pipeline resumed" in (run / "pipeline.log").read_text()


def test_resume_refuses_other_settings_and_non_runs(tiny_run, tmp_path):
    out, _ = tiny_run
    with pytest.raises(ValueError, match="other settings: the run has laps=2"):
        pipeline.run(output=out, resume=True, laps=3, progress=False)
    with pytest.raises(FileNotFoundError, match="not an apexrl run folder"):
        pipeline.run(output=tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match="resume needs the folder"):
        pipeline.run(resume=True, progress=False)


def test_pipeline_never_writes_into_a_used_folder(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="never overwrites"):
        pipeline.run(track="circle:radius=30,width=6", output=out, progress=False)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_a_failing_step_leaves_no_summary_and_logs_the_error(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="not found"):
        pipeline.run(track="no-such-track", output=out, progress=False)
    assert not (out / "summary.json").exists()
    assert "pipeline failed" in (out / "pipeline.log").read_text()


def test_a_failing_training_step_stops_the_run(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("trainer exploded")

    monkeypatch.setattr(pipeline, "train", broken)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="trainer exploded"):
        pipeline.run(output=out, skip_data=True, **{**TINY, "laps": 1})
    assert not (out / "summary.json").exists()
    assert not (out / "evaluation.json").exists()
    log = (out / "pipeline.log").read_text()
    assert "pipeline failed in step train: trainer exploded" in log


def test_skipping_data_and_training_skips_the_evaluation_too(tmp_path):
    summary = pipeline.run(output=tmp_path / "run", skip_data=True, skip_train=True,
                           skip_export=True, **TINY)  # fmt: skip
    steps = summary["steps"]
    assert steps["data"]["skipped"] == "--skip-data"
    assert steps["bc"]["skipped"] == steps["ppo"]["skipped"] == "--skip-train"
    assert steps["evaluate"]["skipped"].startswith("no model to evaluate")
    assert steps["export"] == {"skipped": "--skip-export"}
    assert (tmp_path / "run" / "summary.json").is_file()


def test_bad_settings_fail_before_any_folder_is_made(tmp_path):
    with pytest.raises(ValueError, match="laps must be a positive integer"):
        pipeline.run(output=tmp_path / "run", laps=0, progress=False)
    assert not (tmp_path / "run").exists()


def test_pipeline_cli_exit_codes(cli, tmp_path):
    fast = ("--track", OVAL, "--skip-data", "--skip-train", "--skip-export", "--json")
    ok = cli("pipeline", *fast, "--output", str(tmp_path / "a"))
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["steps"]["optimal_lap"]["track"]
    bad = cli("pipeline", "--track", "no-such-track", "--output", str(tmp_path / "b"))
    assert bad.exit_code == 1
    assert "not found" in bad.output
    layers = cli("pipeline", *fast, "--actor-layers", "64;64", "--output", str(tmp_path / "c"))
    assert layers.exit_code == 2 and "--actor-layers wants" in layers.output
    mix = cli("pipeline", *fast, "--bc-mix", "amateur", "--output", str(tmp_path / "c"))
    assert mix.exit_code == 2 and "--bc-mix wants RIDER=WEIGHT" in mix.output
    assert not (tmp_path / "c").exists()
    used = cli("pipeline", *fast, "--output", str(tmp_path / "a"))
    assert used.exit_code == 1 and "never overwrites" in used.output
    again = cli("pipeline", "--resume", *fast[2:], "--output", str(tmp_path / "a"))
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["resumed"] is True


def test_a_missing_train_extra_is_named_before_anything_runs(tmp_path, monkeypatch):
    from importlib import metadata

    real = metadata.version

    def version(dist):
        if dist == "stable-baselines3":
            raise metadata.PackageNotFoundError(dist)
        return real(dist)

    monkeypatch.setattr(metadata, "version", version)
    with pytest.raises(pipeline.MissingExtraError, match=r"'train' extra \(missing: "
                       r"stable-baselines3\)"):  # fmt: skip
        pipeline.run(output=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    done = pipeline.run(output=tmp_path / "lap", skip_data=True, skip_train=True, **TINY)
    assert done["steps"]["optimal_lap"]["raceline_lap_time_s"] > 0


def _failing_export(failed: str):
    """An export_policy stand-in that writes a report in which ``failed`` broke its tolerance."""
    from apexrl.export import ExportError

    def fake(model, output_dir, **kwargs):
        names = ["policy.onnx", "policy_fp32.tflite", "policy_int8.tflite", "policy_mlp.c"]
        artifacts = {
            n: {
                "passed": n != failed,
                "max_error_fraction_of_range": 0.1 if n == failed else 1e-6,
                "bytes": 100,
            }  # fmt: skip
            for n in names
        }
        report = {"artifacts": artifacts, "failures": [f"{failed}: max error 0.1"],
                  "tflm_arena_bytes": 4000, "tflm_matches_litert": True,
                  "esp32_latency_estimate_ms": 0.25, "fits_budget": True}  # fmt: skip
        out = Path(output_dir)
        out.mkdir(parents=True)
        (out / "export_report.json").write_text(json.dumps(report))
        raise ExportError(f"export failed its checks against PyTorch: {failed}")

    return fake


@pytest.mark.parametrize(
    ("failed", "fatal"), [("policy_int8.tflite", False), ("policy_mlp.c", True)]
)
def test_export_step_rejects_quantized_variants_but_fails_on_firmware_artifacts(
    tiny_run, tmp_path, monkeypatch, failed, fatal
):
    from apexrl.export import ExportError
    from apexrl.export import report as export_report

    out, _ = tiny_run
    monkeypatch.setattr(export_report, "export_policy", _failing_export(failed))
    run = tmp_path / "run"
    run.mkdir()
    if fatal:
        with pytest.raises(ExportError, match=failed):
            pipeline.export(run, model=out / "ppo" / "model")
    else:
        step = pipeline.export(run, model=out / "ppo" / "model")
        assert step["rejected"] == {failed: 0.1}
