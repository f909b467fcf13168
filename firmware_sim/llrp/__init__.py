"""A simulated fixed UHF RFID reader speaking LLRP 1.0.1 over TCP, observing the store world.

Any LLRP client can run an inventory against it (`shelfsync sim llrp --port 5084`). It follows the
reader's side of the LLRP 1.0.1 standard: the ConnectionAttemptEvent on accept and a refusal for a
second client while the first is still connected (§13.2.6.11), capabilities with a power and mode
table (§9), reader configuration with keepalives (§12), the ROSpec state machine Disabled →
Inactive → Active with ID 0 meaning "all" (§10.2.1), state-aware singulation (§15.2.1.2.1),
RO_ACCESS_REPORTs honouring the report trigger and the tag report content selector (§13.2.1),
CLOSE_CONNECTION (§14), and ERROR_MESSAGE for what it does not support.

Two makes (`SimSettings.vendor`, `--vendor`): `impinj` (the default) names Impinj in its
capabilities and takes Impinj's extensions (IMPINJ_ENABLE_EXTENSIONS, the inventory search mode
parameter); `generic` is a reader of another make (Zebra, ThingMagic, Alien, CAEN...) that speaks
standard LLRP only: it answers every CUSTOM_MESSAGE with ERROR_MESSAGE M_UnsupportedMessage
(§8.1) and refuses a message carrying a custom parameter (§8.2).

The tags are the store world's tagged units: SGTIN-96 EPCs of catalog GTINs, floor units seen by
the floor antennas (by bin), backroom units by the last antenna. The air model gives each tag an
RSSI and a per-attempt read probability, keeps Gen2 inventoried flags per session (S0 forgets at
once; S1 after ~2 s; S2/S3 hold while powered and a few seconds after), honours single/dual target,
and caps singulations at the configured air rate (tags/s). Left to choose its target, the Impinj
inventories single target, the generic reader dual target (A and B in turn).

Fault switches for tests and demos: `drop()` (abort the TCP connection), `go_silent()` (half-open:
the reader stops talking and listening but keeps the socket), `corrupt(kind)` (send a malformed
frame). The CLI reads the same switches from stdin lines:
drop | silent | corrupt [header|param|epc].

Simplifications, on purpose: ROSpecs and configuration live on the reader across connections, but
the RF only runs while a client is connected and reports are not held for a disconnected client
(EventsAndReports is accepted and echoed, not acted on); AccessSpecs (tag writes) are refused;
one ROSpec runs at a time; periodic and GPI triggers are refused with a status.

The package imports nothing from edge, cloud or shared (ARCHITECTURE §3; an import contract in
pyproject.toml): it speaks only LLRP. frames.py is its own LLRP codec, air.py the tags and the
radio, reader.py the reader a client connects to, session.py one client's session, cli.py the
command (`shelfsync sim llrp`).
"""
