"""``apexrl train``: behaviour cloning and PPO/SAC fine-tuning of a haptic coach."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from apexrl.cli._common import console, handle_errors, parse_layers, parse_mix, print_json

app = typer.Typer(
    help=(
        "Train a haptic coach: behaviour cloning on the Minari datasets (`train bc`), then PPO "
        "(`train ppo`) or SAC (`train sac`) in closed loop with simulated amateur riders. Models "
        "are safetensors + JSON (plus an SB3 zip for RL); training runs write TensorBoard logs "
        "and atomic checkpoints and continue with --resume."
    ),
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
SeedOpt = Annotated[int, typer.Option(min=0, help="Seed; the same seed gives the same run.")]
TrackOpt = Annotated[
    str, typer.Option("--track", "-t", help="Built-in name, shape spec or track file.")
]
OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="Folder to write into.")]


@app.command("bc")
@handle_errors
def bc_command(
    datasets: Annotated[
        Path, typer.Option("--datasets", "-d", help="Minari root with apexrl/moto-*-v0 datasets.")
    ],
    output: OutputOpt,
    mix: Annotated[str, typer.Option(help="Share of each rider's data per epoch.")] = (
        "pro=0.7,amateur=0.3"
    ),
    epochs: Annotated[int, typer.Option(min=1, help="Most epochs (early stopping).")] = 30,
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per gradient step.")] = 256,
    learning_rate: Annotated[float, typer.Option(min=0.0, help="Adam learning rate.")] = 1e-3,
    val_fraction: Annotated[
        float, typer.Option(min=0.0, max=0.99, help="Episodes held out per rider.")
    ] = 0.1,
    patience: Annotated[int, typer.Option(min=1, help="Epochs without improvement.")] = 4,
    algo: Annotated[str, typer.Option(help="Policy the clone is for: ppo or sac.")] = "ppo",
    loss: Annotated[
        str,
        typer.Option(
            help="cue: MSE of the cue the rider reads (lateral, urgency); action: MSE of the "
            "raw [left, right, frequency] actions."
        ),
    ] = "cue",
    input_noise: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Gaussian noise on the training observations, in int8 input steps (1/255 of "
            "each channel's range): smoother at int8 resolution, less exact; 0 = none.",
        ),
    ] = 0.0,
    lap_harmonics: Annotated[
        int,
        typer.Option(
            min=0,
            max=32,
            help="Lap-position harmonics appended to the 8 telemetry channels (sin/cos of the "
            "lap distance, from the datasets' s_m); apexrl pipeline uses 8. 0 = none.",
        ),
    ] = 0,
    actor_layers: Annotated[
        str | None,
        typer.Option(
            help="Hidden widths of the actor, comma-separated (default: the algorithm's SB3 "
            "default, 64,64 for PPO; apexrl pipeline: --actor-layers)."
        ),
    ] = None,
    int8_aware: Annotated[
        bool,
        typer.Option(
            "--int8-aware",
            help="After cloning, train on with the int8 model's roundings (PPO only): the int8 "
            "export is then the trained network (apexrl pipeline does this by default).",
        ),
    ] = False,
    seed: SeedOpt = 42,
    tensorboard: Annotated[
        Path | None, typer.Option(help="TensorBoard folder (default OUTPUT/tensorboard).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a model in OUTPUT.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Behaviour cloning: pretrain a PPO (or SAC) policy on the oracle's cues (MSE of the cue the
    rider reads by default)."""
    from apexrl.train.bc import BCConfig, train_bc
    from apexrl.train.model_io import actor_policy_kwargs, default_policy_kwargs

    kwargs = None if actor_layers is None else actor_policy_kwargs(algo, parse_layers(actor_layers))
    if int8_aware:
        if algo != "ppo":
            raise typer.BadParameter("int8-aware training is for PPO coaches (--algo ppo)",
                                     param_hint="--int8-aware")  # fmt: skip
        kwargs = {**(kwargs or default_policy_kwargs(algo)), "int8_aware": True}
    config = BCConfig(mix=parse_mix(mix), epochs=epochs, batch_size=batch_size,
                      learning_rate=learning_rate, val_fraction=val_fraction,
                      patience=patience, loss=loss, input_noise=input_noise,
                      lap_harmonics=lap_harmonics)  # fmt: skip
    result = train_bc(datasets, output, config=config, algo=algo, seed=seed, policy_kwargs=kwargs,
                      tensorboard_dir=tensorboard or output / "tensorboard",
                      progress=not json_output, force=force)  # fmt: skip
    summary = result.summary()
    if json_output:
        print_json(summary)
        return
    out = console()
    out.print(f"[bold]behaviour cloning[/] -> {summary['model_dir']}")
    out.print(
        f"  {summary['epochs']} epochs (best {summary['best_epoch']}"
        f"{', stopped early' if summary['stopped_early'] else ''}): train loss "
        f"{summary['train_loss'][-1]:.4f}, validation loss {summary['best_val_loss']}"
    )
    out.print(f"  done in {summary['seconds']:.1f} s")


def _rl(algo: str, output: Path, init: Path | None, timesteps: int, track: str, seed: int,
        num_envs: int | None, n_steps: int | None, checkpoint_every: int, resume: bool,
        json_output: bool) -> None:  # fmt: skip
    from apexrl.train.rl import PPOConfig, SACConfig, train_rl

    if algo == "ppo":
        defaults = PPOConfig()
        config = PPOConfig(num_envs=num_envs or defaults.num_envs,
                           n_steps=n_steps or defaults.n_steps)  # fmt: skip
    else:
        config = SACConfig(num_envs=num_envs or SACConfig().num_envs)
    result = train_rl(output, algo=algo, timesteps=timesteps, config=config, track=track,
                      seed=seed, init_policy=init, checkpoint_every=checkpoint_every,
                      resume=resume, progress=not json_output)  # fmt: skip
    summary = result.summary()
    if json_output:
        print_json(summary)
        return
    out = console()
    out.print(f"[bold]{algo.upper()}[/] -> {summary['model_dir']}")
    resumed = f" (resumed at step {summary['resumed_from']})" if summary["resumed_from"] else ""
    out.print(f"  {summary['timesteps']} env steps{resumed}, {summary['env_steps_per_s']:.0f} "
              f"env-steps/s, {summary['seconds']:.1f} s")  # fmt: skip
    m = summary["metrics"]
    if m.get("episodes"):
        out.print(f"  training episodes: {m['episodes']}, laps {m['laps_completed']}, mean lap "
                  f"{m['lap_time_mean_s']} s, crash rate {m['crash_rate']}")  # fmt: skip


InitOpt = Annotated[
    Path | None, typer.Option("--init", help="Model folder to start from (e.g. `train bc`'s).")
]
TimestepsOpt = Annotated[int, typer.Option(min=1, help="Env steps in total.")]
NumEnvsOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Envs stepped together (default: PPO 16, SAC 1); for PPO the "
        "rollout is num-envs x n-steps.",
    ),  # fmt: skip
]
CheckpointOpt = Annotated[
    int, typer.Option(min=1, help="Env steps between checkpoints (atomic, newest 3 kept).")
]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Continue from OUTPUT's latest valid checkpoint.")
]


@app.command("ppo")
@handle_errors
def ppo_command(
    output: OutputOpt,
    init: InitOpt = None,
    timesteps: TimestepsOpt = 100_000,
    track: TrackOpt = "apex_park",
    seed: SeedOpt = 42,
    num_envs: NumEnvsOpt = None,
    n_steps: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Steps per env per rollout (default 128; 16 x 128 "
            "= the original rollout of 2048).",
        ),  # fmt: skip
    ] = None,
    checkpoint_every: CheckpointOpt = 10_240,
    resume: ResumeOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """PPO fine-tuning with amateur riders (original hyperparameters; lr 3e-4, 2048 per rollout,
    batch 64, 10 epochs, gamma 0.99, GAE 0.95, clip 0.2)."""
    _rl("ppo", output, init, timesteps, track, seed, num_envs, n_steps, checkpoint_every, resume,
        json_output)  # fmt: skip


@app.command("sac")
@handle_errors
def sac_command(
    output: OutputOpt,
    init: InitOpt = None,
    timesteps: TimestepsOpt = 100_000,
    track: TrackOpt = "apex_park",
    seed: SeedOpt = 42,
    num_envs: NumEnvsOpt = None,
    checkpoint_every: CheckpointOpt = 10_240,
    resume: ResumeOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """SAC fine-tuning with amateur riders (Stable-Baselines3's SAC defaults); --init takes a
    `train bc --algo sac` model."""
    _rl("sac", output, init, timesteps, track, seed, num_envs, None, checkpoint_every, resume,
        json_output)  # fmt: skip
