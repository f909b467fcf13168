"""Pure decoders of what devices send: EPCs, register maps, GS1 data."""
