"""UHF RFID over LLRP: the reader driver (sllurp on asyncio), the report codec, EPC decoding,
presence per zone, stocktakes, and the readers in the gateway's service."""
