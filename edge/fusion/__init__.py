"""Observations from tills, scales, cameras and RFID turned into stock deltas: the domain values,
the pure reconciler and the pipeline that feeds it in the gateway."""
