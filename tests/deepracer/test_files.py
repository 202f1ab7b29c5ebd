from __future__ import annotations

import json

import pytest

from apexrl.deepracer.actions import ContinuousActionSpace, discrete_action_space
from apexrl.deepracer.drfc_env import parse_env_file
from apexrl.deepracer.files import (
    HYPERPARAMETER_DEFAULTS,
    DeepRacerConfigError,
    HyperparametersFile,
    LidarConfig,
    ModelMetadataFile,
    hyperparameters,
    model_metadata,
    read_hyperparameters,
    read_model_metadata,
    validate_sensors,
    write_deepracer_files,
)
from apexrl.deepracer.reward_check import RewardCheckError
from tests.deepracer.conftest import FIXTURES

GOLDEN = FIXTURES / "golden"
REWARD = FIXTURES / "lookahead_wrap.py"


def _ppo_golden(out, **overrides):
    kwargs = dict(
        name="golden-model",
        reward_function_path=REWARD,
        algorithm="clipped_ppo",
        sensors=["FRONT_FACING_CAMERA", "SECTOR_LIDAR"],
        action_space=discrete_action_space(30.0, 3, 2, 1.0, 2.0),
        world_name="reInvent2019_track",
        worker_world_names=["Spain_track"],
        race_type="OBJECT_AVOIDANCE",
        workers=2,
        multi_config=True,
        hyperparameter_overrides={"lr": 0.0001, "batch_size": 128, "loss_type": "huber"},
        env_overrides={
            "DR_OA_OBJECT_POSITIONS": "0.25,-1;0.5,1;0.75,-1",
            "DR_SIMAPP_VERSION": "5.3.3-gpu",
        },
    )
    kwargs.update(overrides)
    return write_deepracer_files(out, **kwargs)


def test_golden_clipped_ppo_object_avoidance_multi_config(tmp_path):
    result = _ppo_golden(tmp_path / "model")
    names = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert names == sorted(p.name for p in result.paths)
    assert names == [
        "hyperparameters.json",
        "model_metadata.json",
        "reward_function.py",
        "run.env",
        "system.env",
        "worker-2.env",
    ]
    for name in (
        "model_metadata.json",
        "hyperparameters.json",
        "system.env",
        "run.env",
        "worker-2.env",
    ):
        assert (tmp_path / "model" / name).read_bytes() == (GOLDEN / "ppo" / name).read_bytes(), (
            name
        )
    assert (tmp_path / "model" / "reward_function.py").read_bytes() == REWARD.read_bytes()


def test_golden_sac_head_to_bot_with_lidar_config(tmp_path):
    write_deepracer_files(
        tmp_path / "sac",
        name="golden-sac",
        reward_function_path=REWARD,
        algorithm="sac",
        sensors=["STEREO_CAMERAS", "LIDAR"],
        lidar_config=LidarConfig(8, 2, 2.5),
        action_space=ContinuousActionSpace(-25.0, 25.0, 0.8, 3.5),
        race_type="HEAD_TO_BOT",
        hyperparameter_overrides={"sac_alpha": 0.1},
    )
    for name in ("model_metadata.json", "hyperparameters.json", "system.env", "run.env"):
        assert (tmp_path / "sac" / name).read_bytes() == (GOLDEN / "sac" / name).read_bytes(), name
    assert not list((tmp_path / "sac").glob("worker-*.env"))


def test_written_files_round_trip_through_the_readers(tmp_path):
    result = _ppo_golden(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model_metadata.json").read_text())
    assert (
        read_model_metadata(tmp_path / "m" / "model_metadata.json") == meta == result.model_metadata
    )
    assert ModelMetadataFile.model_validate(meta).training_algorithm == "clipped_ppo"
    hyper = json.loads((tmp_path / "m" / "hyperparameters.json").read_text())
    assert read_hyperparameters(tmp_path / "m" / "hyperparameters.json") == hyper
    assert HyperparametersFile.model_validate(hyper).lr == 0.0001
    run = parse_env_file(tmp_path / "m" / "run.env")
    assert run["DR_OA_OBJECT_POSITIONS"] == "0.25,-1;0.5,1;0.75,-1"
    assert run["DR_LOCAL_S3_REWARD_KEY"] == "custom_files/reward_function.py"
    assert parse_env_file(tmp_path / "m" / "worker-2.env")["DR_WORLD_NAME"] == "Spain_track"


def test_env_files_are_readable_by_drfc(tmp_path):
    _ppo_golden(tmp_path / "m")
    for path in (tmp_path / "m").glob("*.env"):
        for line in path.read_text().splitlines():
            assert line, f"{path.name}: blank line (DRfC's worker parser splits every line on '=')"
            if line.startswith("#"):
                continue
            key, value = line.split("=", 1)
            assert "=" not in value and " " not in line, line
            assert key.startswith("DR_")
    system = parse_env_file(tmp_path / "m" / "system.env")
    assert system["DR_SIMAPP_SOURCE"] and system["DR_SIMAPP_VERSION"] == "5.3.3-gpu"
    assert system["DR_WORKERS"] == "2"


def test_metadata_rules():
    space = discrete_action_space()
    meta = model_metadata(space)
    assert meta["version"] == "5" and meta["action_space_type"] == "discrete"
    cont = model_metadata(ContinuousActionSpace(), algorithm="sac")
    assert cont["version"] == "4" and cont["training_algorithm"] == "sac"
    with pytest.raises(DeepRacerConfigError, match="sac needs a continuous action space"):
        model_metadata(space, algorithm="sac")
    with pytest.raises(
        DeepRacerConfigError, match="unknown training algorithm 'ppo' \\(did you mean 'clipped_ppo'"
    ):
        model_metadata(space, algorithm="ppo")
    with pytest.raises(DeepRacerConfigError, match="lidar_config is set but the sensors"):
        model_metadata(space, lidar_config=LidarConfig(8, 1, 2.0))
    with pytest.raises(DeepRacerConfigError, match="unknown neural_network"):
        model_metadata(space, neural_network="RESNET")


@pytest.mark.parametrize(
    ("sensors", "fragment"),
    [
        (["LIDAR"], "have no camera"),
        (["FRONT_FACING_CAMERA", "LEFT_CAMERA"], "have 2 cameras"),
        (["FRONT_FACING_CAMERA", "LIDAR", "SECTOR_LIDAR"], "have 2 lidars"),
        (["FRONT_FACING_CAMERA", "LIDR"], "unknown sensor 'LIDR' (did you mean 'LIDAR'?)"),
        ([], "have no camera"),
    ],
)
def test_sensor_rules(sensors, fragment):
    with pytest.raises(DeepRacerConfigError) as info:
        validate_sensors(sensors)
    assert fragment in str(info.value)


def test_sensors_are_normalised_camera_first():
    assert validate_sensors(["SECTOR_LIDAR", " FRONT_FACING_CAMERA"]) == (
        "FRONT_FACING_CAMERA",
        "SECTOR_LIDAR",
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((7, 1, 2.0), "num_sectors must divide 64"),
        ((8, 0, 2.0), "num_values_per_sector must be an integer >= 1"),
        ((8, 1, 0.1), "clipping_dist must be 0.15-12 m"),
        ((8, 1, 12.5), "clipping_dist must be 0.15-12 m"),
    ],
)
def test_lidar_config_ranges(args, fragment):
    with pytest.raises(DeepRacerConfigError, match=fragment):
        LidarConfig(*args)


def test_hyperparameter_defaults_are_the_simulator_keys():
    ppo = hyperparameters("clipped_ppo")
    sac = hyperparameters("sac")
    assert set(ppo) == set(HYPERPARAMETER_DEFAULTS) - {"sac_alpha"}
    assert set(sac) == set(HYPERPARAMETER_DEFAULTS) - {"beta_entropy", "num_epochs"}
    assert ppo["loss_type"] == "mean squared error" and ppo["discount_factor"] == 0.999
    assert ppo["num_epochs"] == 10 and ppo["exploration_type"] == "categorical"
    assert sac["exploration_type"] == "additive_noise" and sac["sac_alpha"] == 0.2
    assert list(ppo) == sorted(ppo)


@pytest.mark.parametrize(
    ("algorithm", "overrides", "fragment"),
    [
        (
            "clipped_ppo",
            {"learning_rate": 1e-4},
            "unknown key 'learning_rate' (did you mean 'lr'?)",
        ),
        (
            "clipped_ppo",
            {"term_condition_max_episodes": 5},
            "did you mean 'term_cond_max_episodes'",
        ),
        ("clipped_ppo", {"batch_size": 100}, "batch_size: Value error, must be one of 32, 64"),
        ("clipped_ppo", {"batch_size": "64"}, "batch_size: Input should be a valid integer"),
        ("clipped_ppo", {"batch_size": 64.0}, "batch_size: Input should be a valid integer"),
        ("clipped_ppo", {"lr": 0.01}, "lr: Input should be less than or equal to 0.001"),
        (
            "clipped_ppo",
            {"lr": 1e-9},
            "lr: Input should be greater than or equal to 0.00000001 (got 1e-09)",
        ),
        (
            "clipped_ppo",
            {"num_epochs": 2},
            "num_epochs: Input should be greater than or equal to 3",
        ),
        ("clipped_ppo", {"num_epochs": 11}, "num_epochs: Input should be less than or equal to 10"),
        (
            "clipped_ppo",
            {"beta_entropy": 1.5},
            "beta_entropy: Input should be less than or equal to 1",
        ),
        ("clipped_ppo", {"discount_factor": -0.1}, "discount_factor: Input should be greater"),
        ("clipped_ppo", {"num_episodes_between_training": 101}, "less than or equal to 100"),
        ("clipped_ppo", {"num_episodes_between_training": 0}, "greater than or equal to 1"),
        ("clipped_ppo", {"sac_alpha": 0.1}, "'sac_alpha' applies only to sac"),
        ("sac", {"num_epochs": 5}, "'num_epochs' applies only to clipped_ppo"),
        ("clipped_ppo", {"exploration_type": "additive_noise"}, "stops clipped_ppo training"),
        ("clipped_ppo", {"loss_type": "mse"}, "loss_type: Input should be 'mean squared error'"),
        ("clipped_ppo", {"stack_size": True}, "stack_size: Input should be a valid integer"),
    ],
)
def test_hyperparameter_errors(algorithm, overrides, fragment):
    with pytest.raises(DeepRacerConfigError) as info:
        hyperparameters(algorithm, overrides)
    assert fragment in str(info.value)


def test_read_hyperparameters_rejects_json_constants(tmp_path):
    path = tmp_path / "hyperparameters.json"
    path.write_text('{"lr": NaN}')
    with pytest.raises(DeepRacerConfigError, match="NaN is not a JSON number"):
        read_hyperparameters(path)
    path.write_text('{"lr": 0.0001, "learning_rate": 0.1}')
    with pytest.raises(
        DeepRacerConfigError, match="hyperparameters.json: unknown key 'learning_rate'"
    ):
        read_hyperparameters(path)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"extra": 1}, "unknown key 'extra'"),
        ({"version": 5}, "version: Input should be a valid string"),
        (
            {"training_algorithm": "a3c"},
            "training_algorithm: Input should be 'clipped_ppo' or 'sac'",
        ),
        ({"sensor": ["LIDAR"]}, "have no camera"),
        ({"action_space_type": "continuous"}, "action_space_type is 'continuous' but"),
        ({"action_space": [{"steering_angle": 0, "speed": 4.5}]}, "speed 4.5 m/s is outside"),
    ],
)
def test_read_model_metadata_errors(tmp_path, change, fragment):
    data = model_metadata(discrete_action_space())
    data.update(change)
    path = tmp_path / "model_metadata.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DeepRacerConfigError) as info:
        read_model_metadata(path)
    assert fragment in str(info.value)


def test_worker_files_only_for_multi_config_with_workers(tmp_path):
    base = dict(name="m", reward_function_path=REWARD)
    write_deepracer_files(tmp_path / "a", workers=3, **base)
    assert not list((tmp_path / "a").glob("worker-*.env"))
    assert parse_env_file(tmp_path / "a" / "run.env")["DR_TRAIN_MULTI_CONFIG"] == "False"
    write_deepracer_files(tmp_path / "b", workers=1, multi_config=True, **base)
    assert not list((tmp_path / "b").glob("worker-*.env"))
    write_deepracer_files(tmp_path / "c", workers=3, multi_config=True, **base)
    workers = sorted(p.name for p in (tmp_path / "c").glob("worker-*.env"))
    assert workers == ["worker-2.env", "worker-3.env"]
    colours = {parse_env_file(tmp_path / "c" / w)["DR_CAR_COLOR"] for w in workers}
    assert len(colours) == 2 and "Red" not in colours  # worker 1 (run.env) is red
    with pytest.raises(DeepRacerConfigError, match="per-worker worlds need multi-config"):
        write_deepracer_files(tmp_path / "d", worker_world_names=["Spain_track"], **base)


def test_time_trial_run_env_has_no_object_keys(tmp_path):
    write_deepracer_files(tmp_path / "tt", name="m", reward_function_path=REWARD)
    run = parse_env_file(tmp_path / "tt" / "run.env")
    assert run["DR_RACE_TYPE"] == "TIME_TRIAL"
    assert not [k for k in run if k.startswith(("DR_OA_", "DR_H2B_"))]
    meta = read_model_metadata(tmp_path / "tt" / "model_metadata.json")
    assert meta["action_space_type"] == "discrete"  # the time_trial preset
    write_deepracer_files(tmp_path / "sac", name="m", reward_function_path=REWARD, algorithm="sac")
    sac = read_model_metadata(tmp_path / "sac" / "model_metadata.json")
    assert sac["action_space_type"] == "continuous"  # the speed_optimization preset


def test_refuses_a_non_empty_folder_unless_forced(tmp_path):
    out = tmp_path / "m"
    _ppo_golden(out, workers=3, worker_world_names=["Spain_track", "Austin"])
    assert (out / "worker-3.env").exists()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not empty; choose a new folder or pass force"):
        _ppo_golden(out)
    _ppo_golden(out, force=True)
    assert not (out / "worker-3.env").exists()  # stale worker file removed
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "worker-2.env").read_bytes() == (GOLDEN / "ppo" / "worker-2.env").read_bytes()


def test_invalid_inputs_write_nothing(tmp_path, fixture_path):
    out = tmp_path / "m"
    with pytest.raises(RewardCheckError, match="import of 'os'"):
        _ppo_golden(out, reward_function_path=fixture_path("banned_import"))
    with pytest.raises(DeepRacerConfigError, match="unknown DeepRacer world 'Spain'"):
        _ppo_golden(out, world_name="Spain")
    with pytest.raises(DeepRacerConfigError, match="model name 'my model'"):
        _ppo_golden(out, name="my model")
    with pytest.raises(DeepRacerConfigError, match="unknown race type 'TIME_TRAIL'"):
        _ppo_golden(out, race_type="TIME_TRAIL")
    with pytest.raises(DeepRacerConfigError, match="workers must be an integer 1-16"):
        _ppo_golden(out, workers=0)
    with pytest.raises(DeepRacerConfigError, match="DR_WORKERS is set from the arguments"):
        _ppo_golden(out, env_overrides={"DR_WORKERS": "4"})
    with pytest.raises(DeepRacerConfigError, match="unknown DRfC setting 'DR_LOCAL_S3_BUCKT'"):
        _ppo_golden(out, env_overrides={"DR_LOCAL_S3_BUCKT": "b"})
    with pytest.raises(DeepRacerConfigError, match="values may only hold"):
        _ppo_golden(out, env_overrides={"DR_CAR_COLOR": "Dark Blue"})
    with pytest.raises(DeepRacerConfigError, match="DR_OA_OBJECT_POSITIONS item '0.5,2'"):
        _ppo_golden(out, env_overrides={"DR_OA_OBJECT_POSITIONS": "0.25,-1;0.5,2"})
    with pytest.raises(DeepRacerConfigError, match="DR_CLOUD=remote needs DR_REMOTE_MINIO_URL"):
        _ppo_golden(out, env_overrides={"DR_CLOUD": "remote"})
    assert not out.exists()


def test_unknown_world_allowed_explicitly_and_remote_minio(tmp_path):
    _ppo_golden(
        tmp_path / "m",
        world_name="2026_new_track",
        allow_unknown_world=True,
        env_overrides={"DR_CLOUD": "remote", "DR_REMOTE_MINIO_URL": "http://nas:9000"},
    )
    system = parse_env_file(tmp_path / "m" / "system.env")
    assert system["DR_REMOTE_MINIO_URL"] == "http://nas:9000"
    assert parse_env_file(tmp_path / "m" / "run.env")["DR_WORLD_NAME"] == "2026_new_track"
