"""``apexrl deploy``: DeepRacer model files for deepracer-for-cloud, and their upload to S3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from apexrl.cli._common import console, fail, handle_errors, print_json

app = typer.Typer(
    help=(
        "AWS DeepRacer deployment: write the files deepracer-for-cloud trains from "
        "(reward_function.py, model_metadata.json, hyperparameters.json, .env files), upload "
        "them to S3 or MinIO, list tracks and algorithms."
    ),
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _hyperparameters(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    path = Path(text).expanduser()
    if path.suffix.lower() == ".json" and path.is_file():
        from apexrl.deepracer.files import read_json

        data = read_json(path)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(
                f"neither a .json file nor valid JSON ({exc.msg}); e.g. '{{\"lr\": 0.0001}}'",
                param_hint="--hyperparameters",
            ) from None
    if not isinstance(data, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--hyperparameters")
    return data


def _env_pairs(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--env")
        out[key.strip()] = value.strip()
    return out


@app.command("deepracer")
@handle_errors
def deepracer_command(
    name: Annotated[
        str,
        typer.Argument(help="Model name: the S3 model prefix and car name.", show_default=False),
    ],
    reward_function: Annotated[
        Path, typer.Option("--reward-function", help="The reward_function.py to package.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="New or empty folder to write.")],
    algorithm: Annotated[
        str, typer.Option("--algorithm", help="clipped_ppo or sac (sac needs a continuous space).")
    ] = "clipped_ppo",
    sensors: Annotated[
        str,
        typer.Option(
            "--sensors",
            help="Comma-separated: one camera (FRONT_FACING_CAMERA, LEFT_CAMERA, STEREO_CAMERAS) "
            "plus at most one of LIDAR, SECTOR_LIDAR, DISCRETIZED_SECTOR_LIDAR.",
        ),
    ] = "FRONT_FACING_CAMERA",
    action_space: Annotated[
        str | None,
        typer.Option(
            "--action-space",
            help="Preset (time_trial, centerline_following, speed_optimization, "
            "object_avoidance, head_to_head) or a .json file. Default: time_trial for "
            "clipped_ppo, speed_optimization (continuous) for sac.",
        ),
    ] = None,
    track: Annotated[
        str,
        typer.Option(
            "--track",
            help="DeepRacer world name (see 'apexrl deploy list-tracks'); with --multi-config a "
            "comma-separated list: the first for worker 1, the rest cycled over workers 2..N.",
        ),
    ] = "reInvent2019_track",
    race_type: Annotated[
        str, typer.Option("--race-type", help="TIME_TRIAL, OBJECT_AVOIDANCE or HEAD_TO_BOT.")
    ] = "TIME_TRIAL",
    workers: Annotated[int, typer.Option("--workers", help="Simulation workers (DR_WORKERS).")] = 1,
    multi_config: Annotated[
        bool,
        typer.Option("--multi-config", help="Per-worker configuration files (worker-N.env)."),
    ] = False,
    hyperparameters: Annotated[
        str | None,
        typer.Option(
            "--hyperparameters",
            help="Overrides as a JSON object or a .json file, e.g. '{\"lr\": 0.0001}'.",
        ),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env", help="Other DRfC setting KEY=VALUE (repeatable), e.g. DR_LOCAL_S3_BUCKET=b."
        ),
    ] = None,
    any_world: Annotated[
        bool,
        typer.Option("--any-world", help="Accept a world name apexrl does not know (newer ones)."),
    ] = False,
    files_only: Annotated[
        bool,
        typer.Option(
            "--files-only", help="Only write the files (required: apexrl does not train)."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty folder, replacing the files.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Write the deepracer-for-cloud files for a model (validated) into a folder."""
    if not files_only:
        raise fail(
            "training on AWS is not part of apexrl; pass --files-only to write the files, then "
            "upload them with 'apexrl deploy upload DIR --bucket BUCKET'",
            code=2,
        )
    from apexrl.deepracer.actions import resolve_action_space
    from apexrl.deepracer.files import write_deepracer_files

    worlds = [w.strip() for w in track.split(",") if w.strip()]
    if not worlds:
        raise typer.BadParameter("give at least one world name", param_hint="--track")
    result = write_deepracer_files(
        output,
        name=name,
        reward_function_path=reward_function,
        algorithm=algorithm,
        sensors=sensors.split(","),
        action_space=resolve_action_space(action_space) if action_space else None,
        world_name=worlds[0],
        worker_world_names=worlds[1:],
        allow_unknown_world=any_world,
        race_type=race_type,
        workers=workers,
        multi_config=multi_config,
        hyperparameter_overrides=_hyperparameters(hyperparameters),
        env_overrides=_env_pairs(env),
        force=force,
    )
    if json_output:
        print_json(
            {
                "output_dir": str(result.output_dir),
                "files": [str(p) for p in result.paths],
                "model_metadata": result.model_metadata,
                "hyperparameters": result.hyperparameters,
            }
        )
        return
    out = console()
    out.print(f"wrote {len(result.paths)} files to {result.output_dir}:", markup=False)
    for path in result.paths:
        out.print(f"  {path.name}", markup=False)
    out.print(
        "next: copy system.env, run.env (and worker-*.env) into your deepracer-for-cloud folder "
        f"and upload the custom files with 'apexrl deploy upload {result.output_dir} --bucket "
        "bucket --endpoint-url http://localhost:9000 --profile minio'",
        markup=False,
    )


@app.command("upload")
@handle_errors
def upload_command(
    folder: Annotated[
        Path,
        typer.Argument(help="Folder written by 'apexrl deploy deepracer'.", show_default=False),
    ],
    bucket: Annotated[str, typer.Option("--bucket", help="S3 bucket (DRfC: DR_LOCAL_S3_BUCKET).")],
    prefix: Annotated[
        str | None,
        typer.Option(
            "--prefix",
            help="Key prefix. Default: DR_LOCAL_S3_CUSTOM_FILES_PREFIX of the folder's run.env, "
            "else custom_files.",
        ),
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option("--endpoint-url", help="S3-compatible endpoint, e.g. http://localhost:9000."),
    ] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="AWS profile name.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="AWS region.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Upload reward_function.py, model_metadata.json and hyperparameters.json (validated first).

    The .env files stay local: deepracer-for-cloud reads them from its own folder, not from S3.
    """
    from apexrl.deepracer.s3 import upload_custom_files

    with console(stderr=True).status(f"uploading to {bucket} ..."):
        result = upload_custom_files(
            folder,
            bucket=bucket,
            prefix=prefix,
            endpoint_url=endpoint_url,
            profile=profile,
            region=region,
        )
    if json_output:
        print_json(result.to_dict())
        return
    out = console()
    for obj in result.objects:
        out.print(f"s3://{result.bucket}/{obj.key}  ({obj.size_bytes} bytes)", markup=False)


@app.command("list-tracks")
@handle_errors
def list_tracks_command(json_output: JsonOpt = False) -> None:
    """List apexrl's built-in tracks, downloaded routes and the official DeepRacer world names."""
    from apexrl.deepracer.worlds import official_world_names, world_display_name
    from apexrl.tracks.download import cached_routes
    from apexrl.tracks.library import builtin_tracks

    data = {
        "builtin": builtin_tracks(),
        "downloaded": cached_routes(),
        "official_worlds": [
            {"name": n, "display_name": world_display_name(n)} for n in official_world_names()
        ],
    }
    if json_output:
        print_json(data)
        return
    out = console()
    out.print("[bold]apexrl built-in tracks[/] (for simulation and templates):", markup=True)
    out.print("  " + ", ".join(data["builtin"]), markup=False)
    out.print("[bold]downloaded DeepRacer routes[/]:", markup=True)
    out.print("  " + (", ".join(data["downloaded"]) or "none (apexrl tracks download NAME)"))
    out.print("[bold]official DeepRacer worlds[/] (DR_WORLD_NAME, --track):", markup=True)
    for world in data["official_worlds"]:
        out.print(f"  {world['name']:<32} {world['display_name']}", markup=False)


@app.command("list-algorithms")
@handle_errors
def list_algorithms_command(json_output: JsonOpt = False) -> None:
    """List the training algorithms the DeepRacer simulator supports."""
    from apexrl.deepracer.files import ALGORITHMS

    if json_output:
        print_json([{"name": k, "description": v} for k, v in ALGORITHMS.items()])
        return
    for name, description in ALGORITHMS.items():
        console().print(f"{name:<12} {description}", markup=False)
