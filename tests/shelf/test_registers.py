"""Golden frames and vectors for the weighing-module register codecs (edge/shelf/registers.py)."""

from __future__ import annotations

import pytest
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU

from edge.shelf.registers import (
    BUILTIN_MAPS,
    DataType,
    Field,
    RegisterMapError,
    WordOrder,
    builtin_map,
    decode_field,
    encode_field,
    map_from_config,
)

# (field, registers as a device sends them, grams). IEEE 754: 1.5 = 0x3FC00000,
# -0.085 = 0xBDAE147B; two's complement: -1234 = 0xFFFFFB2E.
VECTORS = [
    (Field(0, DataType.FLOAT32, WordOrder.BIG, 1000.0), [0x3FC0, 0x0000], 1500.0),
    (Field(0, DataType.FLOAT32, WordOrder.LITTLE, 1000.0), [0x0000, 0x3FC0], 1500.0),
    (Field(0, DataType.FLOAT32, WordOrder.BIG_BYTESWAP, 1000.0), [0xC03F, 0x0000], 1500.0),
    (Field(0, DataType.FLOAT32, WordOrder.LITTLE_BYTESWAP, 1000.0), [0x0000, 0xC03F], 1500.0),
    (Field(0, DataType.INT32, WordOrder.BIG), [0xFFFF, 0xFB2E], -1234.0),
    (Field(0, DataType.INT32, WordOrder.LITTLE), [0xFB2E, 0xFFFF], -1234.0),
    (Field(0, DataType.INT32, WordOrder.BIG, 0.1), [0x0000, 0x3039], 1234.5),
    (Field(0, DataType.UINT32, WordOrder.BIG), [0x0001, 0x0000], 65536.0),
    (Field(0, DataType.INT16), [0xFF85], -123.0),
    (Field(0, DataType.UINT16), [0xFF85], 65413.0),
]


@pytest.mark.parametrize(("field", "words", "grams"), VECTORS)
def test_field_decodes_golden_registers(field: Field, words: list[int], grams: float) -> None:
    assert decode_field(field, words) == pytest.approx(grams)


@pytest.mark.parametrize(("field", "words", "grams"), VECTORS)
def test_field_encodes_to_the_same_golden_registers(
    field: Field, words: list[int], grams: float
) -> None:
    assert encode_field(field, grams) == words


def crc16_modbus(frame: bytes) -> int:
    """Modbus over serial line V1.02 §6.2.2, bit by bit (independent of pymodbus)."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


# A Flintec DAD 141.1 reply to "read 5 holding registers at 0x3500" from unit 7:
# net 1.5 kg, gross -0.085 kg, qualifier 0x0001 (stable), CRC low byte first.
FLINTEC_REPLY = bytes.fromhex("07030a3fc00000bdae147b00010b66")


def test_golden_rtu_frame_has_a_valid_crc() -> None:
    body, crc = FLINTEC_REPLY[:-2], FLINTEC_REPLY[-2:]
    assert crc16_modbus(body) == int.from_bytes(crc, "little")


def test_flintec_golden_rtu_reply_decodes_to_grams_and_stable() -> None:
    framer = FramerRTU(DecodePDU(False))
    used, pdu = framer.handleFrame(FLINTEC_REPLY, 7, 0)
    assert used == len(FLINTEC_REPLY) and pdu is not None
    reading = builtin_map("flintec-dad141").decode(pdu.registers)
    assert reading.net_g == pytest.approx(1500.0)
    assert reading.gross_g == pytest.approx(-85.0, abs=1e-3)
    assert reading.stable


def test_dini_block_reads_status_gross_and_net_in_one_request() -> None:
    m = builtin_map("dini-dgt4x")
    start, count = m.block
    assert (start, count) == (40202 - 40001, 14)  # status 40202 .. net 40215
    regs = [0] * count
    regs[0] = 0b10 | 0b1  # stable, gross negative (sign also in the INT32 itself)
    regs[1:3] = [0xFFFF, 0xFB2E]  # gross -1234 g
    regs[12:14] = [0x0000, 0x0055]  # net 85 g
    r = m.decode(regs)
    assert (r.gross_g, r.net_g, r.stable) == (-1234.0, 85.0, True)


def test_laumas_net_sign_comes_from_the_status_word() -> None:
    m = builtin_map("laumas-tlu")
    # status 40007: bit8 net negative, bit11 stable clear; gross 500, net |-85|
    r = m.decode([1 << 8, 0, 500, 0, 85])
    assert (r.gross_g, r.net_g, r.stable) == (500.0, -85.0, False)


def test_unstable_status_bit_is_reported() -> None:
    m = builtin_map("flintec-dad141")
    assert not m.decode([0x3FC0, 0, 0x3FC0, 0, 0]).stable


def test_every_builtin_map_fits_one_read() -> None:
    for m in BUILTIN_MAPS.values():
        assert m.block[1] <= m.max_registers


def test_custom_map_from_config_table() -> None:
    m = map_from_config(
        "acme-100",
        {
            "gross": {"address": 8, "type": "int32", "word_order": "little", "scale": 0.1},
            "net": {"address": 10, "type": "INT32", "scale": 0.1},
            "status": {"address": 6, "stable_bit": 11, "net_negative_bit": 8},
            "command": {"address": 5, "zero": 1, "tare": 2},
        },
    )
    assert m.block == (6, 6)
    assert m.command is not None and m.command.tare == 2
    r = m.decode([1 << 11, 0, 0x3039, 0x0000, 0x0000, 0x0055])
    assert (r.gross_g, r.net_g, r.stable) == (pytest.approx(1234.5), pytest.approx(8.5), True)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"net": {"address": 0, "type": "int32"}, "status": {"address": 2, "stable_bit": 0}},
            "gross",
        ),
        (
            {
                "gross": {"address": 0, "type": "int64"},
                "net": {"address": 2, "type": "int32"},
                "status": {"address": 4, "stable_bit": 0},
            },
            "int64",
        ),
        (
            {
                "gross": {"address": 0, "type": "int32"},
                "net": {"address": 2, "type": "int32"},
                "status": {"address": 4, "stable_bit": 16},
            },
            "bit 16",
        ),
        (
            {
                "gross": {"address": 0, "type": "int32"},
                "net": {"address": 200, "type": "int32"},
                "status": {"address": 4, "stable_bit": 1},
            },
            "more than one read",
        ),
        (
            {
                "gross": {"address": 0, "type": "int32", "scale": "x"},
                "net": {"address": 2, "type": "int32"},
                "status": {"address": 4, "stable_bit": 1},
            },
            "scale",
        ),
    ],
)
def test_malformed_custom_map_is_a_clear_error(table: dict[str, object], message: str) -> None:
    with pytest.raises(RegisterMapError, match=message):
        map_from_config("bad", table)


def test_unknown_builtin_name_lists_the_known_ones() -> None:
    with pytest.raises(RegisterMapError, match="dini-dgt4x"):
        builtin_map("mettler-x")


def test_wrong_register_count_is_an_error_not_a_crash() -> None:
    with pytest.raises(RegisterMapError, match="needs 14"):
        builtin_map("dini-dgt4x").decode([0, 0, 0])
