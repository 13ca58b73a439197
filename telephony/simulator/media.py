"""A recording's media, as the Recording resource serves it: WAV, or MP3 with ``.mp3``.

Twilio: "Appending .mp3 to the URI returns a binary MP3 audio file with mime-type
audio/mpeg"; without an extension, or with ``.wav``, a WAV file (audio/x-wav). The audio
itself is not simulated, so both are silence of the recording's length: 8 kHz, 16-bit PCM
for WAV; for MP3, that PCM through the LAME encoder (``lameenc``) at 32 kbit/s a channel.
Either has one channel per recorded track (two for a dual-channel recording).
"""

from __future__ import annotations

import io
import wave

import lameenc

from telephony.simulator.model import Recording

SAMPLE_RATE = 8000
MP3_KBPS_PER_CHANNEL = 32
MEDIA_TYPES = {"wav": "audio/x-wav", "mp3": "audio/mpeg"}


def _silence(recording: Recording) -> bytes:
    return bytes(SAMPLE_RATE * recording.duration * 2 * recording.channels)


def wav_bytes(recording: Recording) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(recording.channels)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(_silence(recording))
    return buffer.getvalue()


def mp3_bytes(recording: Recording) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_in_sample_rate(SAMPLE_RATE)
    encoder.set_channels(recording.channels)
    encoder.set_bit_rate(MP3_KBPS_PER_CHANNEL * recording.channels)
    encoder.set_quality(7)  # LAME's "fast" preset: the input is silence
    return bytes(encoder.encode(_silence(recording)) + encoder.flush())


ENCODERS = {"wav": wav_bytes, "mp3": mp3_bytes}
