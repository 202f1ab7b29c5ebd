"""Sim-trace CSV logs: format, writer guarantees, reading back, determinism (deepracer.simtrace)."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.deepracer.simtrace import (
    COLUMNS,
    SimTraceWriter,
    format_action,
    plot_simtrace,
    read_simtrace,
)
from apexrl.envs.deepracer import DeepRacerEnv, DeepRacerVectorEnv
from apexrl.tracks.library import load_track

HEADER = (
    "episode,steps,X,Y,yaw,steer,throttle,action,reward,done,all_wheels_on_track,progress,"
    "closest_waypoint,track_len,tstamp,episode_status,pause_duration"
)


def _rows(writer, n=2, **over):
    cols = {
        "episode": np.arange(n),
        "steps": np.full(n, 3),
        "x_m": np.full(n, 1.23456),
        "y_m": np.full(n, -2.0),
        "yaw_deg": np.full(n, 90.0),
        "steer_deg": np.full(n, -15.0),
        "throttle_mps": np.full(n, 1.5),
        "action": ["4"] * n,
        "reward": np.full(n, 0.5),
        "done": np.zeros(n, dtype=bool),
        "all_wheels_on_track": np.ones(n, dtype=bool),
        "progress": np.full(n, 12.5),
        "closest_waypoint": np.full(n, 7),
        "track_len_m": 18.3,
        "tstamp_s": np.full(n, 0.1333),
        "episode_status": ["in_progress"] * n,
    }
    cols.update(over)
    writer.write_rows(**cols)


def test_column_order_and_row_format(tmp_path):
    path = tmp_path / "trace.csv"
    with SimTraceWriter(path) as writer:
        _rows(writer, n=1)
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER and tuple(lines[0].split(",")) == COLUMNS
    assert lines[1] == (
        "0,3,1.2346,-2.0000,90.0000,-15.00,1.50,4,0.5000,False,True,12.5000,7,18.30,0.133,"
        "in_progress,0.0"
    )


def test_action_cell():
    assert format_action(3) == "3"
    assert format_action((-12.5, 1.75)) == "[-12.50 1.75]"


def test_writer_refuses_an_existing_file_and_flushes_every_call(tmp_path):
    path = tmp_path / "trace.csv"
    writer = SimTraceWriter(path)
    _rows(writer, n=3)
    # Unbuffered: the rows are in the file before close, each one complete.
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and all(len(line.split(",")) == len(COLUMNS) for line in lines)
    writer.close()
    with pytest.raises(FileExistsError, match="already exists"):
        SimTraceWriter(path)
    SimTraceWriter(path, overwrite=True).close()
    assert path.read_text() == HEADER + "\n"


def test_read_back(tmp_path):
    path = tmp_path / "trace.csv"
    with SimTraceWriter(path) as writer:
        _rows(writer, n=2, done=np.array([False, True]), action=["[1.00 2.00]", "[3.00 4.00]"])
    trace = read_simtrace(path)
    assert len(trace) == 2
    assert trace["episode"].tolist() == [0, 1] and trace["done"].tolist() == [False, True]
    assert trace["action"].tolist() == ["[1.00 2.00]", "[3.00 4.00]"]
    assert trace["X"][0] == pytest.approx(1.2346)
    assert trace["episode_status"].tolist() == ["in_progress"] * 2


def test_reader_accepts_the_newer_columns_and_rejects_others(tmp_path):
    newer = tmp_path / "newer.csv"
    newer.write_text(
        HEADER + ",obstacle_crash_counter,wall_clock\n"
        "1,2,0.1,0.2,3.0,0.0,1.0,0,1.0,False,True,0.5,3,17.70,0.067,in_progress,0.0,0,12.5\n"
    )
    assert read_simtrace(newer)["steps"].tolist() == [2]
    bad = tmp_path / "bad.csv"
    bad.write_text("episode,step,X\n1,2,3\n")
    with pytest.raises(ValueError, match="not a sim-trace CSV"):
        read_simtrace(bad)
    broken = tmp_path / "broken.csv"
    broken.write_text(HEADER + "\n1,2,x,0.2,3,0,1,0,1,False,True,0.5,3,17.7,0.06,prepare,0\n")
    with pytest.raises(ValueError, match="column 'X'"):
        read_simtrace(broken)


def _env_trace(path, seed, **kw):
    env = DeepRacerEnv(sensors=[], simtrace_path=path, **kw)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    for _ in range(150):
        *_, term, trunc, _ = env.step(int(rng.integers(0, 12)))
        if term or trunc:
            env.reset()
    env.close()
    return read_simtrace(path)


def test_env_writes_the_simulators_rows(tmp_path):
    trace = _env_trace(tmp_path / "a.csv", 1, race_type="OBJECT_AVOIDANCE")
    episodes = trace["episode"]
    first = episodes == episodes[0]
    assert trace["steps"][first].tolist() == list(range(1, first.sum() + 1))
    assert trace["episode_status"][0] == "prepare" and trace["reward"][0] == 0.0
    ends = np.flatnonzero(trace["done"])
    assert len(ends) >= 2
    assert set(trace["episode_status"][ends]) <= {"off_track", "crashed", "reversed"}
    assert (trace["episode_status"][~trace["done"]] != "off_track").all()
    assert np.all(np.diff(np.unique(episodes)) == 1)
    assert trace["tstamp"][1] == pytest.approx(1 / 15, abs=1e-3)
    assert trace["track_len"][0] == pytest.approx(18.3, abs=0.01)
    assert set(trace["action"]) <= {str(i) for i in range(12)}


def test_same_seed_identical_files(tmp_path):
    kw = {"race_type": "HEAD_TO_BOT", "race": {"is_lane_change": True}}
    _env_trace(tmp_path / "a.csv", 7, **kw)
    _env_trace(tmp_path / "b.csv", 7, **kw)
    _env_trace(tmp_path / "c.csv", 8, **kw)
    a, b, c = ((tmp_path / f"{n}.csv").read_bytes() for n in "abc")
    assert a == b and a != c


def test_vector_env_trace_and_continuous_actions(tmp_path):
    path = tmp_path / "v.csv"
    vec = DeepRacerVectorEnv(3, sensors=[], action_space="speed_optimization", simtrace_path=path)
    vec.reset(seed=0)
    for _ in range(5):
        vec.step(np.tile([0.5, 0.0], (3, 1)))
    vec.close()
    trace = read_simtrace(path)
    assert len(trace) == 15
    assert trace["episode"][:3].tolist() == [0, 1, 2]
    assert set(trace["action"]) == {"[15.00 2.50]"}
    assert set(trace["steer"]) == {15.0} and set(trace["throttle"]) == {2.5}


def test_plot(tmp_path):
    trace = _env_trace(tmp_path / "a.csv", 2)
    out = plot_simtrace(trace, load_track("dr_oval"), tmp_path / "a.png")
    assert out.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="no rows of episodes"):
        plot_simtrace(trace, load_track("dr_oval"), tmp_path / "b.png", episodes=[999])
