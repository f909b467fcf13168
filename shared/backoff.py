"""One exponential backoff for every retry loop: broker links, RFID readers, cameras, alert
delivery and platform pushes.

The delay before try n+1 is ceiling × (1 − jitter × U), U uniform in [0, 1), where ceiling =
min(maximum, initial × factor^n). jitter 0 is no randomness (a device on the store's LAN, one
client); 0.5 is "equal jitter" (half the ceiling fixed, half random: many gateways reconnecting to
one broker after its restart spread out, yet none retries at once); 1 is "full jitter" (any delay up
to the ceiling), the AWS Architecture Blog's names in "Exponential Backoff And Jitter" (2015).
`reset()` after a success, so the next failure starts small again (the bug EdgeX fixed in
device-rfid-llrp-go#43: a reader that failed once waited the maximum for ever after).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

EQUAL_JITTER = 0.5
FULL_JITTER = 1.0


@dataclass
class Backoff:
    initial: float = 0.5
    maximum: float = 10.0
    factor: float = 2.0
    jitter: float = EQUAL_JITTER
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be within 0..1, got {self.jitter}")

    def delay(self, attempt: int) -> float:
        """The delay after `attempt` failures in a row (0: the first failure), without counting it."""
        ceiling = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return ceiling * (1.0 - self.jitter * self.rng.random())

    def next_delay(self) -> float:
        """The delay before the next try; counts this failure."""
        d = self.delay(self.attempt)
        self.attempt += 1
        return d

    def reset(self) -> None:
        self.attempt = 0
