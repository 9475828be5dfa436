"""Profile: every difference between stills, video files and live streams, resolved once per engine."""

from __future__ import annotations

import dataclasses
from typing import Literal

from faceweave.settings import Occluders, Settings

Mode = Literal["still", "video", "live"]
"""still: one image at a time, nothing remembered; video: a file's frames in order, tracked; live: a camera or
stream, tracked, its detector run only to find new faces."""


@dataclasses.dataclass(frozen=True)
class Profile:
    """What a mode changes. `component_mode` is what the analyser and swapper are built for ("still": the dlib
    re-scan on `auto` and `face_shape`; "video": neither, and `video_face_shape`)."""

    mode: Mode
    component_mode: Literal["still", "video"]
    detect_every: int
    hands: bool
    glasses: bool

    @classmethod
    def resolve(cls, settings: Settings, mode: Mode) -> Profile:
        """The profile of `mode` under `settings`.

        Example:
            >>> Profile.resolve(Settings(), "live").detect_every
            30
        """
        hands, glasses = occluder_kinds(settings.occluders, mode)
        detect_every = settings.live_detect_every if mode == "live" else settings.detect_every
        return cls(mode, "still" if mode == "still" else "video", detect_every, hands, glasses)

    def settings_for(self, settings: Settings) -> Settings:
        """The settings the components run with (live: the detector every `live_detect_every` frames, since a live
        face is tracked and the periodic detection only finds new faces; its spike would count in the latency)."""
        if settings.detect_every == self.detect_every:
            return settings
        return settings.replace(detect_every=self.detect_every)


def occluder_kinds(occluders: Occluders, mode: Mode) -> tuple[bool, bool]:
    """(hands, glasses): which occluders are kept in front. "auto" looks for both on stills and for neither in video
    and live (hands cost ~15 ms a frame, and a per-frame glasses mask would flicker where it is unsure)."""
    auto = occluders == "auto" and mode == "still"
    hands = auto or occluders in ("hands", "all")
    glasses = auto or occluders in ("glasses", "all")
    return hands, glasses
