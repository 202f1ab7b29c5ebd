"""Track geometry, I/O, the built-in library, racing lines and QSS lap times."""

from apexrl.tracks.track import FrenetPoints, Track, TrackError

__all__ = ["FrenetPoints", "Track", "TrackError"]
