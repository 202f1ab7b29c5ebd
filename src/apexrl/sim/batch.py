"""The batched simulator: B vehicles of one model on one track, stepped together in one numba call.

Example::

    sim = BatchSim(track, "car", batch_size=1024)
    sim.reset(s_m=rng.uniform(0, track.length_m, 1024))
    tel = sim.step(np.tile([0.1, 2.0], (1024, 1)))   # [steering_rad, speed_cmd_mps] per car
    tel.speed_mps, tel.off_track, tel.lap_completed    # (1024,) arrays, overwritten next step
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Literal

import numpy as np

from apexrl.sim import kernels as k
from apexrl.tracks.track import Track
from apexrl.vehicles import car as carm
from apexrl.vehicles import motorcycle as moto
from apexrl.vehicles.params import CarParams, MotorcycleParams

VehicleKind = Literal["motorcycle", "car"]

DEFAULT_DT_S = {"car": 1.0 / 15.0, "motorcycle": 0.05}
"""Control period: DeepRacer's 15 Hz camera frame for the car, 20 Hz for the motorcycle."""
DEFAULT_SUBSTEPS = {"car": 4, "motorcycle": 5}
"""Physics sub-steps per control step (car: 60 Hz, motorcycle: 100 Hz)."""
PARALLEL_MIN_BATCH = 8192
"""Batch size from which ``step`` uses the threaded kernel by default. A threaded step costs at
least one wake-up of the worker threads: microseconds on an idle machine, but on a busy one (a
trainer's threads, other jobs) about 8 ms, measured on the 2-core development machine, which is
what the serial kernel needs for ~13,000 cars. The default therefore stays serial below that;
small batches (one vector env per process) also never start a thread pool and stay fork-safe.
Pass ``parallel=True`` on an otherwise idle or many-core machine; measure with
``benchmarks/bench_sim.py --kernels``."""


class CrashCause(IntEnum):
    """Why a vehicle stopped (``Telemetry.crash_cause``); it then stays frozen until reset."""

    NONE = k.CRASH_NONE
    LOWSIDE = k.CRASH_LOWSIDE
    """Motorcycle: grip demand left the friction ellipse (friction usage > 1)."""
    OFF_TRACK = k.CRASH_OFF_TRACK
    """Motorcycle: excursion past a track edge. (A car off track is flagged, not stopped.)"""
    TRACK_END = k.CRASH_TRACK_END
    """Either vehicle ran past the start or the end of an OPEN track: the run is over. On the far
    end this coincides with completing the 'lap' (the whole track) in the same step."""


@dataclass(frozen=True, eq=False)
class Telemetry:
    """Per-vehicle telemetry after the last ``reset``/``step``: every field is a ``(B,)`` array.

    The arrays are read-only views of buffers that the simulator OVERWRITES on every step; call
    :meth:`copy` to keep a snapshot. Fields that do not apply to the vehicle model are ``None``.
    """

    t_s: np.ndarray
    """float64 s: simulated time since the vehicle's reset (frozen once crashed)."""
    speed_mps: np.ndarray
    """float64 m/s: measured speed (0 once crashed)."""
    roll_rad: np.ndarray
    """float64 rad: motorcycle lean, + left; 0 for the car."""
    lateral_g: np.ndarray
    """float64 g: lateral acceleration, + left (car: the achieved one, at most mu while sliding)."""
    longitudinal_g: np.ndarray
    """float64 g: net longitudinal acceleration (motorcycle: tyre force minus drag and rolling)."""
    friction_usage: np.ndarray
    """float64: motorcycle: sqrt((ax_tyre/(mu g))^2 + (ay/(mu g))^2), in [0, 1] unless crashed;
    car: lateral grip demand |v^2 tan(delta)/L| / (mu g), > 1 while sliding."""
    s_m: np.ndarray
    """float64 m: distance along the centre line, in [0, L) (clipped to [0, L] on open tracks)."""
    n_m: np.ndarray
    """float64 m: lateral offset from the centre line, + left (car: of its rear axle centre)."""
    heading_error_rad: np.ndarray
    """float64 rad: heading minus centre-line heading, in [-pi, pi)."""
    progress: np.ndarray
    """float64 laps driven since the reset (fractional; negative when driving backwards)."""
    lap_count: np.ndarray
    """int64: laps completed since the reset (progress crossing 1, 2, ...)."""
    last_lap_time_s: np.ndarray
    """float64 s: time of the last completed lap, NaN until the first one. Line crossings are
    interpolated within the step (linear in progress); the first lap is timed from the reset."""
    lap_completed: np.ndarray
    """bool: a lap was completed during the last step."""
    off_track: np.ndarray
    """bool: motorcycle: outside [-w_right, w_left]; car: ALL FOUR wheels off (DeepRacer rule)."""
    crashed: np.ndarray
    """bool: the vehicle is stopped and frozen until reset (see ``crash_cause``)."""
    crash_cause: np.ndarray
    """int64 :class:`CrashCause` code: 0 none, 1 lowside, 2 off track, 3 end of an open track."""
    x_m: np.ndarray | None
    """float64 m: car rear axle centre, world x (None for the motorcycle: see world_xy())."""
    y_m: np.ndarray | None
    """float64 m: car rear axle centre, world y (None for the motorcycle)."""
    yaw_rad: np.ndarray | None
    """float64 rad: car yaw in the world, counter-clockwise from +x (None for the motorcycle)."""
    steering_rad: np.ndarray | None
    """float64 rad: car front wheel angle, + left (None for the motorcycle)."""
    sliding: np.ndarray | None
    """bool: the car hit its lateral grip limit during the step (None for the motorcycle)."""
    throttle: np.ndarray | None
    """float64 in [0, 1]: motorcycle throttle applied in the last step (None for the car)."""
    brake: np.ndarray | None
    """float64 in [0, 1]: motorcycle brake applied in the last step (None for the car)."""

    def copy(self) -> Telemetry:
        """A snapshot whose arrays are not overwritten by later steps."""
        return Telemetry(
            **{
                f.name: None if (v := getattr(self, f.name)) is None else v.copy()
                for f in fields(self)
            }
        )


class BatchSim:
    """B vehicles of one model on one :class:`~apexrl.tracks.Track`, stepped together.

    Vehicles: ``"motorcycle"`` (:mod:`apexrl.vehicles.motorcycle`, Frenet point mass with roll)
    or ``"car"`` (:mod:`apexrl.vehicles.car`, DeepRacer kinematic bicycle). Their modules document
    the state row layout (``STATE_FIELDS``), the action layout and the model.

    Actions, ``(B, 3)`` float for the motorcycle ``[throttle 0..1, brake 0..1, lean_cmd_rad]``;
    ``(B, 2)`` for the car ``[steering_rad (+left), speed_cmd_mps (clamped to 0.1..4)]``. Out of
    range values are clipped; a wrong shape, a non-float dtype or a non-finite value is a
    ``ValueError`` and leaves the simulation untouched.

    Episode semantics: ``reset`` starts a run for the selected vehicles (time, progress and laps
    from zero). A crash (:class:`CrashCause`) freezes the vehicle at speed 0 until it is reset; a
    car off track is only flagged (DeepRacer ends the episode; that is the environment's call).

    Args:
        track: the track all vehicles drive.
        vehicle: ``"motorcycle"`` or ``"car"``.
        params: :class:`MotorcycleParams` / :class:`CarParams`; defaults when None.
        batch_size: number of vehicles B.
        dt_s: control period; default :data:`DEFAULT_DT_S` (car 1/15 s, motorcycle 0.05 s).
        substeps: physics sub-steps per control step; default :data:`DEFAULT_SUBSTEPS`.
        parallel: use the multi-threaded kernel; default: when ``batch_size >=``
            :data:`PARALLEL_MIN_BATCH`. Results are bit-identical either way.
    """

    def __init__(
        self,
        track: Track,
        vehicle: VehicleKind,
        *,
        params: MotorcycleParams | CarParams | None = None,
        batch_size: int = 1,
        dt_s: float | None = None,
        substeps: int | None = None,
        parallel: bool | None = None,
    ) -> None:
        if not isinstance(track, Track):
            raise TypeError(f"track must be an apexrl Track, got {type(track).__name__}")
        if vehicle not in ("motorcycle", "car"):
            raise ValueError(f"vehicle must be 'motorcycle' or 'car', got {vehicle!r}")
        params_type = MotorcycleParams if vehicle == "motorcycle" else CarParams
        params = params_type() if params is None else params
        if not isinstance(params, params_type):
            raise TypeError(
                f"a {vehicle} needs {params_type.__name__}, got {type(params).__name__}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise ValueError(f"batch_size must be an integer, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        dt_s = DEFAULT_DT_S[vehicle] if dt_s is None else dt_s
        if not (isinstance(dt_s, int | float) and math.isfinite(dt_s) and dt_s > 0):
            raise ValueError(f"dt_s must be a positive number of seconds, got {dt_s!r}")
        substeps = DEFAULT_SUBSTEPS[vehicle] if substeps is None else substeps
        if isinstance(substeps, bool) or not isinstance(substeps, int | np.integer) or substeps < 1:
            raise ValueError(f"substeps must be a positive integer, got {substeps!r}")

        self._track = track
        self._vehicle: VehicleKind = vehicle
        self._params = params
        self._batch_size = int(batch_size)
        self._dt_s = float(dt_s)
        self._substeps = int(substeps)
        self.parallel = self._batch_size >= PARALLEL_MIN_BATCH if parallel is None else parallel
        """Whether step uses the multi-threaded kernel (may be changed at any time)."""
        self._mod = moto if vehicle == "motorcycle" else carm
        self._p = self._mod.params_array(params)
        xy, heading, curvature, w_left, w_right = (
            np.ascontiguousarray(a, dtype=np.float64) for a in track.kernel_arrays()
        )
        geo = (track.ds_m, track.length_m, track.closed)
        # Kernel argument tails, built once: each step call costs about a microsecond.
        self._moto_track = (curvature, w_left, w_right, *geo)
        self._moto_reset_track = (w_left, w_right, *geo)
        self._car_track = (xy, heading, w_left, w_right, *geo)

        b = self._batch_size
        self._state = np.zeros((b, self._mod.STATE_SIZE))
        self._telf = np.zeros((k.N_FLOAT, b))
        self._teli = np.zeros((k.N_INT, b), dtype=np.int64)
        self._telb = np.zeros((k.N_BOOL, b), dtype=np.bool_)
        self._lap = np.zeros((k.N_LAP, b))
        self._buffers = (self._telf, self._teli, self._telb, self._lap)
        self._tail = (self._dt_s, self._substeps, *self._buffers)
        self._telemetry = self._make_telemetry()
        self.reset()

    # ------------------------------------------------------------------ public API
    @property
    def track(self) -> Track:
        return self._track

    @property
    def vehicle(self) -> VehicleKind:
        return self._vehicle

    @property
    def params(self) -> MotorcycleParams | CarParams:
        return self._params

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def dt_s(self) -> float:
        """Control period, seconds per :meth:`step`."""
        return self._dt_s

    @property
    def substeps(self) -> int:
        """Physics sub-steps per control step."""
        return self._substeps

    @property
    def state(self) -> np.ndarray:
        """The live ``(B, STATE_SIZE)`` float64 state (layout: the vehicle module's STATE_FIELDS).

        Writing to it changes the simulation (scenario set-up, tests); keep it physically
        consistent (e.g. a car's Frenet columns follow from its pose).
        """
        return self._state

    @property
    def state_fields(self) -> tuple[str, ...]:
        return self._mod.STATE_FIELDS

    @property
    def action_fields(self) -> tuple[str, ...]:
        return self._mod.ACTION_FIELDS

    @property
    def telemetry(self) -> Telemetry:
        """The telemetry of the last reset or step (the same object every step returns)."""
        return self._telemetry

    def reset(
        self,
        indices: np.ndarray | None = None,
        *,
        s_m: float | np.ndarray = 0.0,
        n_m: float | np.ndarray = 0.0,
        speed_mps: float | np.ndarray = 0.0,
        heading_error_rad: float | np.ndarray = 0.0,
    ) -> Telemetry:
        """Start new runs for some vehicles; the others are untouched.

        Args:
            indices: ``(K,)`` integer vehicle indices or a ``(B,)`` boolean mask; None = all.
            s_m, n_m: Frenet position (car: of the rear axle centre), scalars or ``(K,)``.
            speed_mps: initial speed (>= 0), scalar or ``(K,)``.
            heading_error_rad: heading relative to the centre line, scalar or ``(K,)``.

        The motorcycle starts upright with zero roll, the car with straight wheels. Time, progress,
        laps and crash state of the selected vehicles restart from zero.
        """
        idx = self._indices(indices)
        count = idx.shape[0]
        s = self._per_vehicle("s_m", s_m, count)
        n = self._per_vehicle("n_m", n_m, count)
        v = self._per_vehicle("speed_mps", speed_mps, count)
        he = self._per_vehicle("heading_error_rad", heading_error_rad, count)
        if (v < 0).any():
            raise ValueError(f"speed_mps must be >= 0, got {float(v.min())}")
        length = self.track.length_m
        if not self.track.closed and ((s < 0) | (s > length)).any():
            raise ValueError(
                f"s_m must lie in [0, {length:.6g}] on the open track {self.track.name!r}"
            )
        args = (idx, s, n, he, v, self._state, self._p)
        if self.vehicle == "motorcycle":
            k.reset_motorcycle_rows(*args, *self._moto_reset_track, *self._buffers)
        else:
            k.reset_car_rows(*args, *self._car_track, *self._buffers)
        return self._telemetry

    def step(self, actions: np.ndarray) -> Telemetry:
        """Advance every vehicle by ``dt_s``; returns the (overwritten) :class:`Telemetry`."""
        a = np.asarray(actions)
        n_act = self._mod.ACTION_SIZE
        if a.dtype.kind != "f":
            raise ValueError(f"actions must be a floating-point array, got dtype {a.dtype}")
        if a.shape != (self.batch_size, n_act):
            names = ", ".join(self._mod.ACTION_FIELDS)
            raise ValueError(
                f"actions must have shape ({self.batch_size}, {n_act}) = [{names}] per "
                f"{self.vehicle}, got {a.shape}"
            )
        if a.dtype != np.float64 or not a.flags.c_contiguous:
            a = np.ascontiguousarray(a, dtype=np.float64)
        if self.vehicle == "motorcycle":
            kernel = k.step_motorcycle_parallel if self.parallel else k.step_motorcycle_serial
            bad = kernel(self._state, a, self._p, *self._moto_track, *self._tail)
        else:
            kernel = k.step_car_parallel if self.parallel else k.step_car_serial
            bad = kernel(self._state, a, self._p, *self._car_track, *self._tail)
        if bad >= 0:
            row, col = divmod(int(bad), n_act)
            raise ValueError(
                f"actions[{row}, {col}] ({self._mod.ACTION_FIELDS[col]}) is {a[row, col]}; "
                "every action must be finite"
            )
        return self._telemetry

    def world_xy(self) -> np.ndarray:
        """World positions ``(B, 2)`` metres (motorcycle via Track.to_world, car: rear axle)."""
        if self.vehicle == "motorcycle":
            return self.track.to_world(self._state[:, moto.S_M], self._state[:, moto.N_M])
        return self._state[:, [carm.X_M, carm.Y_M]].copy()

    # ------------------------------------------------------------------ helpers
    def _make_telemetry(self) -> Telemetry:
        def view(buf: np.ndarray, row: int) -> np.ndarray:
            v = buf[row]
            v.flags.writeable = False
            return v

        f, i, b = self._telf, self._teli, self._telb
        car = self.vehicle == "car"
        return Telemetry(
            t_s=view(f, k.F_T_S),
            speed_mps=view(f, k.F_SPEED_MPS),
            roll_rad=view(f, k.F_ROLL_RAD),
            lateral_g=view(f, k.F_LATERAL_G),
            longitudinal_g=view(f, k.F_LONGITUDINAL_G),
            friction_usage=view(f, k.F_FRICTION_USAGE),
            s_m=view(f, k.F_S_M),
            n_m=view(f, k.F_N_M),
            heading_error_rad=view(f, k.F_HEADING_ERROR_RAD),
            progress=view(f, k.F_PROGRESS),
            lap_count=view(i, k.I_LAP_COUNT),
            last_lap_time_s=view(f, k.F_LAST_LAP_TIME_S),
            lap_completed=view(b, k.B_LAP_COMPLETED),
            off_track=view(b, k.B_OFF_TRACK),
            crashed=view(b, k.B_CRASHED),
            crash_cause=view(i, k.I_CRASH_CAUSE),
            x_m=view(f, k.F_X_M) if car else None,
            y_m=view(f, k.F_Y_M) if car else None,
            yaw_rad=view(f, k.F_YAW_RAD) if car else None,
            steering_rad=view(f, k.F_STEERING_RAD) if car else None,
            sliding=view(b, k.B_SLIDING) if car else None,
            throttle=None if car else view(f, k.F_THROTTLE),
            brake=None if car else view(f, k.F_BRAKE),
        )

    def _indices(self, indices: np.ndarray | None) -> np.ndarray:
        b = self.batch_size
        if indices is None:
            return np.arange(b, dtype=np.int64)
        arr = np.asarray(indices)
        if arr.dtype == np.bool_:
            if arr.shape != (b,):
                raise ValueError(f"a boolean reset mask must have shape ({b},), got {arr.shape}")
            return np.flatnonzero(arr).astype(np.int64)
        if arr.dtype.kind not in "iu" or arr.ndim > 1:
            raise ValueError(
                "indices must be a 1-D array of vehicle indices or a boolean mask, "
                f"got dtype {arr.dtype} with shape {arr.shape}"
            )
        arr = np.atleast_1d(arr).astype(np.int64)
        bad = arr[(arr < 0) | (arr >= b)]
        if bad.size:
            raise ValueError(f"vehicle index {int(bad[0])} is out of range for batch_size {b}")
        if np.unique(arr).size != arr.size:
            raise ValueError("indices must not repeat a vehicle")
        return arr

    @staticmethod
    def _per_vehicle(name: str, value: float | np.ndarray, count: int) -> np.ndarray:
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(count, float(arr))
        elif arr.shape != (count,):
            raise ValueError(
                f"{name} must be a scalar or have shape ({count},) to match the selected "
                f"vehicles, got shape {arr.shape}"
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite")
        return np.ascontiguousarray(arr)
