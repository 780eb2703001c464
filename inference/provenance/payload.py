"""The watermark's payload: an asset id prefix protected by a checksum and an error-correcting code.

32 bits of the asset id (its first 8 hex digits) and a CRC-16 over them are encoded with the rate-1/2,
constraint-length-7 convolutional code (generators 133/171 octal, as in 802.11 and many space links) and read
back with a soft-decision Viterbi decoder. The soft input (one correlation value per coded bit) lets the
decoder weigh weak chips less than strong ones, which corrects several times more damaged bits than a
hard-decision block code of the same length. The CRC tells a real watermark from the noise a picture without
one decodes to: a random picture passes it once in 65536 tries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PREFIX_HEX = 8  # asset id digits carried: 32 bits, so two of one owner's assets share a prefix about never
DATA_BITS = PREFIX_HEX * 4
CRC_BITS = 16
CONSTRAINT = 7
TAIL_BITS = CONSTRAINT - 1  # zeros that bring the encoder back to state 0, so the decoder knows the end
GENERATORS = (0o133, 0o171)
CODED_BITS = (DATA_BITS + CRC_BITS + TAIL_BITS) * len(GENERATORS)  # 108
CRC_POLY = 0x1021  # CRC-16/CCITT
CRC_INIT = 0xFFFF
_STATES = 1 << (CONSTRAINT - 1)


def _parity(value: int) -> int:
    return bin(value).count("1") & 1


def _crc16(bits: np.ndarray) -> np.ndarray:
    crc = CRC_INIT
    for bit in bits:
        top = ((crc >> 15) & 1) ^ int(bit)
        crc = ((crc << 1) & 0xFFFF) ^ (CRC_POLY if top else 0)
    return np.array([(crc >> (15 - i)) & 1 for i in range(16)], dtype=np.uint8)


def prefix_of(asset_id: str) -> str:
    """The part of ``asset_id`` the watermark carries (lower-case hex); ``ValueError`` when it is not hex."""
    prefix = asset_id.strip().lower().lstrip("#")[:PREFIX_HEX]
    if len(prefix) != PREFIX_HEX or any(c not in "0123456789abcdef" for c in prefix):
        raise ValueError(f"asset_id must start with {PREFIX_HEX} hex digits, got {asset_id!r}")
    return prefix


def _data_bits(prefix: str) -> np.ndarray:
    value = int(prefix, 16)
    return np.array([(value >> (DATA_BITS - 1 - i)) & 1 for i in range(DATA_BITS)], dtype=np.uint8)


# Output bits for every (state, input): the state holds the last six inputs, newest in the top bit.
def _trellis() -> tuple[np.ndarray, np.ndarray]:
    outputs = np.zeros((_STATES, 2, len(GENERATORS)), dtype=np.uint8)
    next_state = np.zeros((_STATES, 2), dtype=np.int64)
    for state in range(_STATES):
        for bit in (0, 1):
            register = (bit << (CONSTRAINT - 1)) | state
            outputs[state, bit] = [_parity(register & g) for g in GENERATORS]
            next_state[state, bit] = register >> 1
    return outputs, next_state


_OUTPUTS, _NEXT = _trellis()
# Every state is reached from two states, by one input bit (the newest input is the state's top bit).
_INPUT = (np.arange(_STATES) >> (CONSTRAINT - 2)).astype(np.uint8)
_PREVIOUS = np.stack([2 * (np.arange(_STATES) & (_STATES // 2 - 1)) + k for k in (0, 1)], axis=1)


def encode(asset_id: str) -> np.ndarray:
    """The ``CODED_BITS`` bits (0/1) the watermark of ``asset_id`` carries."""
    data = _data_bits(prefix_of(asset_id))
    message = np.concatenate([data, _crc16(data), np.zeros(TAIL_BITS, dtype=np.uint8)])
    coded = np.empty((len(message), len(GENERATORS)), dtype=np.uint8)
    state = 0
    for i, bit in enumerate(message):
        coded[i] = _OUTPUTS[state, bit]
        state = int(_NEXT[state, bit])
    return coded.reshape(-1)


@dataclass(frozen=True)
class Decoded:
    """What the soft bits decode to: the asset id prefix when the checksum holds, else None."""

    prefix: str | None
    corrected: int  # coded bits whose sign the decoder overruled (how damaged the watermark was)
    raw: str = ""  # the data bits the decoder settled on, as hex, even when the checksum failed (diagnostics)


def decode(soft: np.ndarray) -> Decoded:
    """Viterbi-decode ``CODED_BITS`` soft values (positive = 1, negative = 0, magnitude = confidence)."""
    values = np.asarray(soft, dtype=np.float64).reshape(-1, len(GENERATORS))
    if values.shape[0] != DATA_BITS + CRC_BITS + TAIL_BITS:
        raise ValueError(f"soft must hold {CODED_BITS} values, got {np.asarray(soft).size}")
    scale = float(np.abs(values).mean()) or 1.0
    values = values / scale
    signs = 2.0 * _OUTPUTS.astype(np.float64) - 1.0  # (state, bit, generator) in ±1
    steps = values.shape[0]
    metric = np.full(_STATES, -np.inf)
    metric[0] = 0.0
    choice = np.zeros((steps, _STATES), dtype=np.int64)  # which of the two predecessors won
    for t in range(steps):
        gain = signs @ values[t]  # (state, bit): correlation of each branch with what was received
        if t >= steps - TAIL_BITS:
            gain[:, 1] = -np.inf  # the tail is all zeros
        candidates = metric[_PREVIOUS] + gain[_PREVIOUS, _INPUT[:, None]]  # (target, 2)
        choice[t] = np.argmax(candidates, axis=1)
        metric = candidates[np.arange(_STATES), choice[t]]
    bits = np.zeros(steps, dtype=np.uint8)
    state = 0
    for t in range(steps - 1, -1, -1):
        bits[t] = _INPUT[state]
        state = int(_PREVIOUS[state, choice[t, state]])
    data, crc = bits[:DATA_BITS], bits[DATA_BITS:DATA_BITS + CRC_BITS]
    recoded = encode_bits(bits[: DATA_BITS + CRC_BITS])
    corrected = int(((values.reshape(-1) > 0).astype(np.uint8) != recoded).sum())
    raw = f"{int(''.join(str(int(b)) for b in data), 2):0{PREFIX_HEX}x}"
    if not np.array_equal(_crc16(data), crc):
        return Decoded(prefix=None, corrected=corrected, raw=raw)
    return Decoded(prefix=raw, corrected=corrected, raw=raw)


def encode_bits(message: np.ndarray) -> np.ndarray:
    """The coded bits of ``message`` (data + checksum bits) with the zero tail appended."""
    full = np.concatenate([np.asarray(message, dtype=np.uint8), np.zeros(TAIL_BITS, dtype=np.uint8)])
    coded = np.empty((len(full), len(GENERATORS)), dtype=np.uint8)
    state = 0
    for i, bit in enumerate(full):
        coded[i] = _OUTPUTS[state, bit]
        state = int(_NEXT[state, bit])
    return coded.reshape(-1)
