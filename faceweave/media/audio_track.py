"""Carry the first audio stream of a source file into an output container: stream copy, or re-encode if refused."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av
import av.audio
import av.container
from av.packet import Packet

from faceweave.media.video_io import Span

log = logging.getLogger(__name__)

_REENCODERS = ("aac", "libopus")  # tried in order when the container refuses the source's codec
_ISO_AUDIO = frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"})  # FFmpeg lists more, some experimental
_OPUS_RATE = 48_000  # the only rate libopus encodes


class AudioTrack:
    """Audio packets of `source` muxed into `output`, on the same timeline shift as the video (see Span).

    Stream copy when the output container accepts the codec (bit-exact audio); otherwise decoded and
    re-encoded to AAC (MP4, MOV, MKV) or Opus (WebM). With a trim, copied audio is cut at packet
    boundaries (about 20 ms for AAC); re-encoded audio at decoded-frame boundaries.
    Construct before the container's header is written; then call `pump` as video advances, `finish` at the end.
    """

    def __init__(self, source: str, output: av.container.OutputContainer, span: Span) -> None:
        self._input = av.open(source, "r")
        self._source = self._input.streams.audio[0]
        self._span = span
        self._pending: Packet[Any] | None = None
        self._done = False
        codec = self._source.codec_context.name
        if can_copy(output, codec):
            self._output: av.audio.AudioStream = output.add_stream_from_template(self._source)
            self.copied = True
        else:
            self._output = _reencoding_stream(output, self._source)
            self.copied = False
            log.info("audio: %s cannot go in %s; re-encoding to %s", codec, output.format.name, self._output.name)
        if span.start is not None and self._source.time_base is not None:
            self._input.seek(int(span.start / self._source.time_base), stream=self._source)  # at or before start
        self._packets: Iterator[Packet[Any]] = self._input.demux(self._source)

    @property
    def codec(self) -> str:
        """The output audio codec's name."""
        return self._output.codec_context.name

    def pump(self, until: Fraction | None) -> list[Packet[Any]]:
        """Output packets for source audio before absolute time `until` (None: all that is left)."""
        packets: list[Packet[Any]] = []
        while not self._done:
            packet = self._pending if self._pending is not None else next(self._packets, None)
            self._pending = None
            if packet is None or (packet.pts is not None and self._past_end(packet)):
                self._done = True
                break
            if until is not None and packet.pts is not None and packet.pts * packet.time_base >= until:
                self._pending = packet
                break
            packets.extend(self._convert(packet))
        return packets

    def finish(self) -> list[Packet[Any]]:
        """All remaining output packets, encoder flushed; closes the source file."""
        packets = self.pump(None)
        if not self.copied:
            packets.extend(self._output.encode(None))
        self.close()
        return packets

    def close(self) -> None:
        """Close the source file (safe to call twice)."""
        self._input.close()

    def _past_end(self, packet: Packet[Any]) -> bool:
        assert packet.pts is not None
        return self._span.end is not None and packet.pts * packet.time_base >= self._span.end

    def _convert(self, packet: Packet[Any]) -> list[Packet[Any]]:
        if packet.pts is None or packet.size == 0:
            return []
        if not self._span.contains(packet.pts * packet.time_base):
            return []
        if self.copied:
            offset = round(self._span.shift / packet.time_base)
            packet.pts -= offset
            if packet.dts is not None:
                packet.dts -= offset
            packet.stream = self._output
            return [packet]
        out: list[Packet[Any]] = []
        for frame in self._source.codec_context.decode(packet):
            if frame.pts is not None and frame.time_base is not None:
                frame.pts -= round(self._span.shift / frame.time_base)
            out.extend(self._output.encode(frame))
        return out


def create_audio_track(source: str, output: av.container.OutputContainer, span: Span) -> AudioTrack | None:
    """An AudioTrack for the source's first audio stream; None (logged) when it has none or nothing fits."""
    with av.open(source, "r") as probe:
        if not probe.streams.audio:
            return None
        codec = probe.streams.audio[0].codec_context.name
    if not can_copy(output, codec) and _reencoder(output) is None:
        log.warning("audio dropped: %s accepts neither %s nor AAC/Opus", output.format.name, codec)
        return None
    return AudioTrack(source, output, span)


def can_copy(output: av.container.OutputContainer, codec: str) -> bool:
    """Whether audio in `codec` can be stream-copied into this container (MP4/MOV: the codecs players know)."""
    allowed = _ISO_AUDIO if output.format.name in ("mp4", "mov") else None
    return codec in output.supported_codecs and (allowed is None or codec in allowed)


def _reencoder(output: av.container.OutputContainer) -> str | None:
    supported = output.supported_codecs
    return next((codec for codec in _REENCODERS if codec in supported or codec.removeprefix("lib") in supported), None)


def _reencoding_stream(output: av.container.OutputContainer, source: av.audio.AudioStream) -> av.audio.AudioStream:
    name = _reencoder(output)
    assert name is not None, "create_audio_track checks this"
    rate = _OPUS_RATE if name == "libopus" else source.codec_context.sample_rate
    stream = output.add_stream(name, rate=rate)
    assert isinstance(stream, av.audio.AudioStream)
    stream.layout = source.codec_context.layout.name if source.codec_context.layout.nb_channels <= 2 else "stereo"
    return stream
