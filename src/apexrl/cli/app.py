"""The ``apexrl`` command. Thin: every command parses, calls the library, prints.

Command modules import only typer at import time; the library is imported inside each command so
``apexrl --help`` answers quickly.
"""

from __future__ import annotations

import typer

from apexrl.cli import (
    data,
    deepracer,
    deploy,
    evaluate,
    export,
    info,
    lapsim,
    pipeline,
    rewards,
    tracks,
    train,
)

app = typer.Typer(
    name="apexrl",
    help=(
        "apexrl: racing reinforcement learning from simulation to hardware.\n\n"
        "Tracks, racing lines and optimal laps, a batched vehicle simulator, motorcycle haptic "
        "coaching and AWS DeepRacer tooling. Every command that takes TRACK accepts a built-in "
        "name (see `apexrl tracks list`), a shape spec such as `circle:radius=50,width=10`, a "
        "file (.npy DeepRacer route, .csv x_m,y_m,w_right_m,w_left_m, .json apexrl track) or a "
        "downloaded DeepRacer world name."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(tracks.app, name="tracks")
app.add_typer(rewards.app, name="rewards")
app.add_typer(deploy.app, name="deploy")
app.add_typer(data.app, name="data")
app.add_typer(deepracer.app, name="deepracer")
app.add_typer(train.app, name="train")
app.command("evaluate")(evaluate.evaluate_command)
app.command("export")(export.export_command)
rewards.app.command("test")(deepracer.rewards_test_command)
app.command("lapsim")(lapsim.lapsim_command)
app.command("raceline")(lapsim.raceline_command)
app.command("pipeline")(pipeline.pipeline_command)
app.command("info")(info.info_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
