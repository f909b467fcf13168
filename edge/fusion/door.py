"""The door's rules: units read leaving by an exit portal, paid for or not, and carried in. Pure.

- An exit portal (RFID antennas on the door, `ExitRead`): every unit sold at the till is expected
  to leave paid; a unit read leaving that no sale of its SKU paid for (within `portal_grace`, as
  the till's line may arrive after the door's read) is `shrink` at once, taking the SKU's oldest
  pending pick, or none if nothing pending is left (a pick the scales missed). It is not
  retracted later. Picks whose units the portal did not see leave still become shrink by the
  window, as without a portal.
- Knowing which SKUs carry RFID tags (`tagged`), a pick of a tagged SKU the portal saw nothing of
  is not made shrink by time (the door reads nearly every tagged unit carried out: one it did not
  read is most likely still in the shop, put down where no sensor sees it until a tidy round brings
  it home, or a fall that was no hand at all — a camera lane's misread run, staff lifting another
  SKU's units): it waits for its sale (a till line may claim it for `TAGGED_WAIT` windows), its
  units coming home, or the count, which settles it (edge/fusion/counts.py); only `hold` without
  any of them makes it shrink. An untagged SKU's pick waits the portal's longer window only — but
  one that only a camera lane saw (no scale on its bin) waits as a tagged one does: a lane counts
  its front row, and a run of misread frames holds a wrong count until the next change, so a
  lane's fall that no sale claims is likelier a misread than a theft (and a theft from a lane's
  bin is seldom seen by it at all: the units behind the front row hide it).
- A unit read coming in by the door (`EntryRead`: two door antennas tell direction) is not shrink:
  a customer's return or a staff member's transfer, which the till or the back office books. It
  may leave again (sold, or stolen) and is then judged as any unit leaving.

How long a pick waits, tagged or not, is `ReconcilerState._wait` and `_claimable` (state.py).
"""

from __future__ import annotations

from datetime import datetime

from edge.fusion.domain import EntryRead, ExitRead
from edge.fusion.state import Misplacement, ReconcilerState
from shared.contract import Kind, Source, StockDelta, Zone


class DoorRules(ReconcilerState):
    """The door's part of `Reconciler`."""

    @property
    def door_reads_waiting(self) -> int:
        """Units read leaving by the door whose verdict is open: a till line may still pay for
        them until `portal_grace` has passed, when `tick` judges them (paid, or shrink)."""
        return len(self._exits)

    def _door_read(self, obs: EntryRead | ExitRead) -> None:
        """Note a unit read by the door; `tick` judges one leaving when `portal_grace` has passed."""
        if isinstance(obs, EntryRead):
            # Carried in (a return, a transfer): not leaving, and free to leave again later.
            if obs.epc in self._gone and self._gone[obs.epc] <= obs.at:
                del self._gone[obs.epc]
            return
        left = self._gone.get(obs.epc)
        if left is None or abs(obs.at - left) > self.hold:  # a portal reads a tag many times
            self._gone[obs.epc] = obs.at
            self._exits.append(obs)

    def _door_tick(self, now: datetime) -> list[StockDelta | Misplacement]:
        """Judge the units read leaving whose grace has passed; forget old sales and reads."""
        out: list[StockDelta | Misplacement] = []
        for x in [x for x in self._exits if now - x.at >= self.portal_grace]:
            self._exits.remove(x)
            out.extend(self._left(x, now))
        for sku, paid in self._paid.items():
            self._paid[sku] = [c for c in paid if now - c.at <= self.paid_for + self.portal_grace]
        self._gone = {e: t for e, t in self._gone.items() if now - t <= self.hold}
        return out

    def _left(self, x: ExitRead, now: datetime) -> list[StockDelta | Misplacement]:
        """A unit read leaving by the door: paid for by a sale of its SKU (shortly before, or
        reaching us just after), or shrink now."""
        for c in self._paid.get(x.sku, []):
            if c.qty and x.at - self.paid_for <= c.at <= x.at + self.portal_grace:
                c.qty -= 1
                return []
        evidence: dict[str, object] = {"exit_epc": x.epc, "exit_at": x.at.isoformat(),
                                       "detected_at": now.isoformat()}
        pick = min((p for p in self._picks if p.sku == x.sku and p.at <= x.at),
                   key=lambda p: p.at, default=None)
        if pick is not None:
            pick.qty -= 1
            # A hand's units leave together: units of it the portal missed do not come back to
            # a shelf (no put-back or misplacement claims them); the window books them.
            pick.walked = True
            pick.left = pick.left or x.at
            self._picks = [p for p in self._picks if p.qty]
            evidence.update(bin=pick.bin, pick_at=pick.at.isoformat())
            if pick.seen:
                evidence["seen"] = pick.seen
        else:
            # Nothing pending: if the window already booked this unit's pick as shrink, the door
            # only confirms it (it stays booked: no late sale or reappearing unit retracts it).
            booked = next((s for s in self._shrunk if s.sku == x.sku and s.qty and s.at <= x.at), None)
            if booked is not None:
                booked.qty -= 1
                self._shrunk = [s for s in self._shrunk if s.qty]
                return []
        return [self._delta(("exit", x.epc, x.at), sku=x.sku, kind=Kind.SHRINK, qty=-1, zone=Zone.FLOOR,
                            occurred_at=x.at, source=Source.FUSION, bin=pick.bin if pick else None,
                            confidence=0.97 if pick else 0.9, evidence=evidence)]
