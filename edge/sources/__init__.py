"""One module per input: each turns a device protocol into observation values."""
