"""``apexrl pipeline``: the main job (what ./run_pipeline.sh runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from apexrl.cli._common import console, handle_errors, parse_layers, parse_mix, print_json


@handle_errors
def pipeline_command(
    track: Annotated[
        str | None,
        typer.Option(
            help="Track: built-in name, shape spec, file or DeepRacer world name "
            "(default: apex_park)."
        ),  # fmt: skip
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            help="Run folder (must be new or empty, unless --resume). "
            "Default: runs/<UTC timestamp>/."
        ),  # fmt: skip
    ] = None,
    laps: Annotated[
        int | None, typer.Option(min=1, help="Lap attempts per rider dataset (default: 100).")
    ] = None,
    timesteps: Annotated[
        int | None, typer.Option(min=1, help="PPO env steps (default: 100000).")
    ] = None,
    eval_episodes: Annotated[
        int | None,
        typer.Option(
            min=1, help="Lap attempts per evaluation condition (default: 10)."
        ),  # fmt: skip
    ] = None,
    seed: Annotated[
        int | None, typer.Option(min=0, help="Seed of the whole run (default: 42).")
    ] = None,
    vehicle: Annotated[
        str | None,
        typer.Option(
            help="Vehicle for the optimal lap: motorcycle or car (default: motorcycle)."
        ),  # fmt: skip
    ] = None,
    lap_harmonics: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=32,
            help="Lap-position harmonics the coach observes besides the 8 telemetry channels "
            "(lap distance from a GPS lap timer as sin/cos; the firmware then reads it as a 9th "
            "value). 0 = the 8 channels only, which cannot tell corners apart: the coach is "
            "then less safe than the uncoached rider. Default: 8.",
        ),  # fmt: skip
    ] = None,
    actor_layers: Annotated[
        str | None,
        typer.Option(
            help="Hidden widths of the coach's actor network, comma-separated (BC and PPO; the "
            "critic stays 64,64). 64,64 under-fits the oracle and is less safe; wider fits "
            "better but the int8 model grows with it (ESP32 budget: export report). "
            "Default: 80,64.",
        ),  # fmt: skip
    ] = None,
    bc_mix: Annotated[
        str | None,
        typer.Option(
            help="Behaviour cloning's share of each rider dataset, RIDER=WEIGHT,... The coach "
            "coaches amateurs; pro data makes its cues less safe for them. "
            "Default: amateur=1 (apexrl train bc: pro=0.7,amateur=0.3).",
        ),  # fmt: skip
    ] = None,
    int8_aware: Annotated[
        bool | None,
        typer.Option(
            "--int8-aware/--float-coach",
            help="Train the coach with the int8 model's roundings (straight-through "
            "gradients), so the int8 model the ESP32 runs is the network that was trained and "
            "evaluated; --float-coach trains a float network, whose int8 model is a "
            "post-training approximation (up to 15 % of an action's range off). "
            "Default: --int8-aware.",
        ),  # fmt: skip
    ] = None,
    skip_data: Annotated[
        bool, typer.Option("--skip-data", help="Do not generate datasets (see --datasets).")
    ] = False,
    skip_train: Annotated[
        bool, typer.Option("--skip-train", help="No BC and no PPO (see --model).")
    ] = False,
    skip_export: Annotated[bool, typer.Option("--skip-export", help="Do not export.")] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the interrupted run in --output with its own "
            "settings (PPO from its latest valid checkpoint).",
        ),  # fmt: skip
    ] = False,
    datasets: Annotated[
        Path | None, typer.Option(help="Minari root with existing datasets, for --skip-data.")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="Existing model folder to evaluate, for --skip-train.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run the apexrl pipeline: optimal lap -> datasets -> behaviour cloning -> PPO ->
    evaluation -> export, into one run folder.

    Writes optimal_lap.{json,png}, raceline.csv, datasets/ (Minari), bc/ and ppo/ (models,
    checkpoints), tensorboard/, evaluation.json with lap_times.png, speed_map.png and
    haptic_cues.png, export/ (ONNX, TFLite fp32/fp16/dynamic/int8, the TFLM C array, a C MLP and
    export_report.json, every artifact checked against PyTorch), pipeline.log, and summary.json
    last, only when every step succeeded.
    """
    from apexrl import pipeline

    summary = pipeline.run(
        track=track, output=output, vehicle=vehicle, laps=laps, timesteps=timesteps,
        eval_episodes=eval_episodes, seed=seed, lap_harmonics=lap_harmonics,
        actor_layers=None if actor_layers is None else parse_layers(actor_layers),
        bc_mix=None if bc_mix is None else parse_mix(bc_mix, "--bc-mix"), int8_aware=int8_aware,
        skip_data=skip_data, skip_train=skip_train,
        skip_export=skip_export, resume=resume, datasets=datasets, model=model,
        progress=not json_output,
    )  # fmt: skip
    if json_output:
        print_json(summary)
        return
    steps = summary["steps"]
    out = console()
    out.print(f"[bold]apexrl pipeline[/] -> {summary['output']}")
    lap = steps["optimal_lap"]
    out.print(
        f"  optimal lap: {lap['track']} ({lap['length_m']:.0f} m, {lap['vehicle']}) "
        f"[bold green]{lap['raceline_lap_time_s']:.2f} s[/] on the racing line, "
        f"{lap['centerline_lap_time_s']:.2f} s on the centre line"
    )
    for name in ("data", "bc", "ppo", "evaluate", "export"):
        step = steps.get(name, {})
        if "skipped" in step:
            out.print(f"  {name}: [yellow]skipped[/]: {step['skipped']}")
    if "datasets" in steps["data"]:
        for d in steps["data"]["datasets"]:
            c = d["counts"]
            out.print(f"  data: {d['dataset_id']}: {c['episodes']} episodes, "
                      f"{c['laps_completed']} laps, {c['crashes']} crashes")  # fmt: skip
    if "best_val_loss" in steps.get("bc", {}):
        bc = steps["bc"]
        out.print(f"  bc: {bc['epochs']} epochs, validation loss {bc['best_val_loss']}")
    if "timesteps" in steps.get("ppo", {}):
        ppo = steps["ppo"]
        out.print(f"  ppo: {ppo['timesteps']} env steps, {ppo['env_steps_per_s']:.0f} env-steps/s")
    if "chosen" in steps.get("coach", {}):
        coach = steps["coach"]
        scores = ", ".join(f"{name} {m['gap_closed_fraction']:.0%}" if m["gap_closed_fraction"]
                           is not None else f"{name} -"
                           for name, m in coach["validation"].items())  # fmt: skip
        out.print(f"  coach: {coach['chosen']} ({coach['model']}), chosen on validation riders "
                  f"by gap closed without extra violations: {scores}")  # fmt: skip
    if "coaching" in steps["evaluate"]:
        from apexrl.evaluate.coaching import evaluation_table

        evaluation = _read_json(Path(summary["output"]) / "evaluation.json")
        out.print(evaluation_table(evaluation))
    ex = steps.get("export", {})
    if "fits_budget" in ex:
        verdict = "[green]fits[/]" if ex["fits_budget"] else "[red]does not fit[/]"
        if "policy_int8.tflite" in ex["rejected"]:
            verdict = (f"size and speed {verdict} the budget, but the int8 model was "
                       "[bold red]rejected[/] for accuracy; ship the fp32 C MLP")  # fmt: skip
        else:
            verdict += " the budget"
        out.print(f"  export: {ex['export_dir']}/ (int8 {ex['int8_bytes']} B, TFLM arena "
                  f"{ex['tflm_arena_bytes']} B, ESP32 ~{ex['esp32_latency_estimate_ms']:.2f} ms:"
                  f" {verdict})")  # fmt: skip
        for name, err in ex["rejected"].items():
            out.print(
                f"  export: [bold red]rejected[/] {name}: max error {100 * err:.2f} % of the "
                f"action range is out of tolerance (moved to {ex['export_dir']}/rejected/)"
            )
    out.print(f"  done in {summary['seconds']:.1f} s; summary.json, pipeline.log")


def _read_json(path: Path) -> dict:
    import json

    return json.loads(path.read_text(encoding="utf-8"))
