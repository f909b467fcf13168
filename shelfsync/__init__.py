"""The `shelfsync` command and what starts whole systems (the demo, the benchmarks' dispatcher).

This package may import every part; the parts import nothing from it. Simulators stay apart in
firmware_sim, which imports nothing from edge, cloud or shared.
"""
