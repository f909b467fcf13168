"""Staff alert rules: pure functions and a pure alert book (issue 7).

Nothing here does I/O or reads a clock: every call takes `now`. The book turns *conditions*
(a bin is low, a lot is near expiry, a device is offline, ...) into *notifications* so that
each condition is announced once while it holds, escalated to the manager when nobody
acknowledges it, held back during quiet hours, rate limited per role, and closed with one
"resolved" message. `edge/alerts.py` persists the book and delivers notifications.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum


class Kind(StrEnum):
    REFILL = "refill"
    REORDER = "reorder"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    SOLD_EXPIRED = "sold-expired"  # a till sold units of a lot after it expired
    SHRINK = "shrink"
    MISPLACED = "misplaced"
    OFFLINE = "offline"


class Status(StrEnum):
    OPEN = "open"
    ACKED = "acked"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Condition:
    """Something that is true now and that staff should act on. `key` names the condition:
    the same key raised twice is the same alert (dedupe, issue 7 §2)."""

    key: str
    kind: Kind
    aisle: str
    title_en: str
    title_zh: str
    urgent: bool = False  # urgent alerts ignore quiet hours (expired food, device offline)
    action_en: str = ""  # what to do, when the title does not say it: in the message, not the title
    action_zh: str = ""


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert's state; its JSON is the payload of the gateway's `alerts` topic."""

    key: str
    kind: Kind
    aisle: str
    title_en: str
    title_zh: str
    urgent: bool
    status: Status
    raised_at: datetime
    notified_at: datetime | None = None  # None while held back by quiet hours / rate limit
    acked_at: datetime | None = None
    escalated_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_notified: bool = False
    action_en: str = ""
    action_zh: str = ""

    def to_json(self) -> dict[str, object]:
        def ts(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "key": self.key,
            "kind": str(self.kind),
            "aisle": self.aisle,
            "title_en": self.title_en,
            "title_zh": self.title_zh,
            "urgent": self.urgent,
            "status": str(self.status),
            "raised_at": ts(self.raised_at),
            "notified_at": ts(self.notified_at),
            "acked_at": ts(self.acked_at),
            "escalated_at": ts(self.escalated_at),
            "resolved_at": ts(self.resolved_at),
            "action_en": self.action_en,
            "action_zh": self.action_zh,
        }

    @staticmethod
    def from_json(d: Mapping[str, object]) -> Alert:
        def ts(v: object) -> datetime | None:
            return datetime.fromisoformat(str(v)) if v else None

        raised = ts(d["raised_at"])
        assert raised is not None
        return Alert(
            key=str(d["key"]),
            kind=Kind(str(d["kind"])),
            aisle=str(d["aisle"]),
            title_en=str(d["title_en"]),
            title_zh=str(d["title_zh"]),
            urgent=bool(d["urgent"]),
            status=Status(str(d["status"])),
            raised_at=raised,
            notified_at=ts(d.get("notified_at")),
            acked_at=ts(d.get("acked_at")),
            escalated_at=ts(d.get("escalated_at")),
            resolved_at=ts(d.get("resolved_at")),
            resolved_notified=bool(d.get("resolved_notified", False)),
            action_en=str(d.get("action_en") or ""),
            action_zh=str(d.get("action_zh") or ""),
        )


class Role(StrEnum):
    STAFF = "staff"
    MANAGER = "manager"


@dataclass(frozen=True, slots=True)
class Notification:
    """A message to send: `role` picks the apprise URLs, `event` is raised/escalated/resolved."""

    key: str
    role: Role
    event: str
    title: str
    body: str
    urgent: bool


@dataclass(frozen=True, slots=True)
class Policy:
    escalate_after: timedelta = timedelta(minutes=15)
    quiet_start: time | None = None  # the store's wall time (`tz`); None = no quiet hours
    quiet_end: time | None = None
    tz: tzinfo = UTC  # the store's time zone: quiet hours and expiry days are local
    rate_per_hour: int = 30  # per role; the rest wait for the next window
    refill_clear_margin: int = 1  # hysteresis: resolve only at refill_at + margin + 1 units
    expiry_days: Mapping[str, int] = field(default_factory=dict)  # category -> days
    expiry_default_days: int = 90


def in_quiet_hours(policy: Policy, now: datetime) -> bool:
    if policy.quiet_start is None or policy.quiet_end is None:
        return False
    t = now.astimezone(policy.tz).time()  # 22:00 means 22:00 on the shop floor, not in UTC
    s, e = policy.quiet_start, policy.quiet_end
    return s <= t < e if s <= e else (t >= s or t < e)  # a window may wrap midnight


# --- conditions from facts ------------------------------------------------------------------


def refill_condition(
    *,
    bin_id: str,
    product: str,
    on_shelf: int,
    backroom: int | None,
    refill_at: int,
    is_open: bool,
    clear_margin: int = 1,
) -> Condition | bool | None:
    """The refill/reorder condition of one bin with hysteresis.

    Returns a Condition when the bin is low, None when it is clearly refilled, and True
    when it is in the dead band and an open alert should simply stay as it is, so a shelf
    flickering around its threshold does not storm (issue 7 §2). `backroom` is None when the
    gateway cannot count the backroom (no RFID there): the message says so rather than guess."""
    if on_shelf <= refill_at:
        aisle = bin_id.split("-")[0]
        if backroom is None:
            return Condition(
                f"refill:{bin_id}",
                Kind.REFILL,
                aisle,
                f"Refill {bin_id}: {product} — {on_shelf} left on shelf, backroom count unknown",
                f"补货 {bin_id}：{product} — 货架剩 {on_shelf} 件，仓库数量未知",
            )
        if backroom > 0:
            return Condition(
                f"refill:{bin_id}",
                Kind.REFILL,
                aisle,
                f"Refill {bin_id}: {product} — {on_shelf} left on shelf, {backroom} in backroom",
                f"补货 {bin_id}：{product} — 货架剩 {on_shelf} 件，仓库有 {backroom} 件",
            )
        return Condition(
            f"refill:{bin_id}",
            Kind.REORDER,
            aisle,
            f"Reorder {product} ({bin_id}): {on_shelf} left on shelf, none in backroom",
            f"需订货 {product}（{bin_id}）：货架剩 {on_shelf} 件，仓库无货",
        )
    if is_open and on_shelf <= refill_at + clear_margin:
        return True
    return None


def refilled_texts(bin_id: str, product: str, on_shelf: int | None) -> tuple[str, str]:
    """(English, Chinese) of a refill alert once resolved: what the shelf holds now, not the low
    count it was raised with; `on_shelf` None when staff closed it before the shelf saw the stock."""
    if on_shelf is None:
        return (f"Refill {bin_id}: {product} — marked done on the staff page",
                f"补货 {bin_id}：{product} — 店员已在员工页面标记完成")
    return (f"Refill {bin_id}: {product} — {on_shelf} on shelf now",
            f"补货 {bin_id}：{product} — 货架现有 {on_shelf} 件")


@dataclass(frozen=True, slots=True)
class Lot:
    gtin: str
    product: str
    category: str
    lot: str
    expiry: date
    qty: int
    aisle: str
    write_off: str = ""  # the staff movements body that writes this lot off, when it has expired


def write_off_action(body: str) -> tuple[str, str]:
    """(English, Chinese): how staff book an expiry write-off (edge/pos.py, `reason`)."""
    return (f"Book the expiry write-off at the store gateway: POST /v1/stock/movements\n{body}",
            f"在门店网关登记过期报损：POST /v1/stock/movements\n{body}")


def expiry_conditions(lots: Iterable[Lot], today: date, policy: Policy) -> list[Condition]:
    """Lots on hand that are expired or within their category's warning window."""
    out: list[Condition] = []
    for lot in lots:
        if lot.qty <= 0:
            continue
        days = policy.expiry_days.get(lot.category, policy.expiry_default_days)
        left = (lot.expiry - today).days
        if left < 0:
            action_en, action_zh = write_off_action(lot.write_off) if lot.write_off else ("", "")
            out.append(
                Condition(
                    f"expired:{lot.gtin}:{lot.lot}",
                    Kind.EXPIRED,
                    lot.aisle,
                    f"Expired: {lot.product} lot {lot.lot} ({lot.expiry}) — pull {lot.qty}",
                    f"已过期：{lot.product} 批次 {lot.lot}（{lot.expiry}）— 下架 {lot.qty} 件",
                    urgent=True,
                    action_en=action_en,
                    action_zh=action_zh,
                )
            )
        elif left <= days:
            out.append(
                Condition(
                    f"expiring:{lot.gtin}:{lot.lot}",
                    Kind.EXPIRING,
                    lot.aisle,
                    f"Expiring in {left} days: {lot.product} lot {lot.lot} — {lot.qty} on hand",
                    f"{left} 天后过期：{lot.product} 批次 {lot.lot} — 现有 {lot.qty} 件",
                )
            )
    return out


def sold_expired_condition(gtin: str, product: str, lot: str, expiry: date, sold: int) -> Condition:
    """A till sold units of a lot after its expiry date (the ledger booked them against that
    lot: they left). One alert per lot; its count grows while it is open."""
    return Condition(
        f"sold-expired:{gtin}:{lot}",
        Kind.SOLD_EXPIRED,
        "-",
        f"Sold after expiry at the till: {product} lot {lot} ({expiry}) — {sold} sold",
        f"收银台售出已过期商品：{product} 批次 {lot}（{expiry}）— 已售 {sold} 件",
        urgent=True,
        action_en=f"Pull lot {lot} from the shelf now, and write off what is left of it (the \"Expired\" "
                  "alert gives the request).",
        action_zh=f"请立即将批次 {lot} 下架，并为剩余数量登记过期报损（见“已过期”提醒中的请求）。",
    )


def shrink_condition(epc: str, product: str, zone: str) -> Condition:
    return Condition(
        f"shrink:{epc}",
        Kind.SHRINK,
        zone,
        f"Possible shrink: {product} (tag {epc[-8:]}) left {zone} without a sale",
        f"疑似损耗：{product}（标签 {epc[-8:]}）未经销售离开 {zone}",
    )


def misplaced_condition(bin_id: str, product: str) -> Condition:
    return Condition(
        f"misplaced:{bin_id}",
        Kind.MISPLACED,
        bin_id.split("-")[0],
        f"Misplaced item on {bin_id}: {product}",
        f"{bin_id} 有放错位置的商品：{product}",
    )


def offline_condition(device: str, reason: str) -> Condition:
    return Condition(
        f"offline:{device}",
        Kind.OFFLINE,
        "-",
        f"Device offline: {device} ({reason})",
        f"设备离线：{device}（{reason}）",
        urgent=True,
    )


# --- the book --------------------------------------------------------------------------------


def _message(a: Alert, event: str) -> tuple[str, str]:
    prefix = {
        "raised": ("", ""),
        "escalated": ("[Not acknowledged] ", "【未确认】"),
        "resolved": ("[Resolved] ", "【已解决】"),
    }[event]
    title = f"{prefix[0]}{a.title_en}"
    body = f"{prefix[1]}{a.title_zh}\n{prefix[0]}{a.title_en}"
    if a.action_en and event != "resolved":  # what to do, until it is done
        body += f"\n\n{a.action_zh}\n{a.action_en}"
    return title, body


@dataclass(frozen=True, slots=True)
class Book:
    """Every alert by key plus the send history for rate limits. Immutable: each operation
    returns a new Book and the notifications to deliver."""

    alerts: Mapping[str, Alert] = field(default_factory=dict)
    sent: tuple[tuple[Role, datetime], ...] = ()

    def open_alerts(self) -> list[Alert]:
        return sorted(
            (a for a in self.alerts.values() if a.status is not Status.RESOLVED),
            key=lambda a: (a.aisle, a.raised_at, a.key),
        )

    def is_open(self, key: str) -> bool:
        a = self.alerts.get(key)
        return a is not None and a.status is not Status.RESOLVED

    def raise_(self, c: Condition, now: datetime) -> Book:
        """Open an alert for `c` unless one is already open (dedupe); texts are refreshed."""
        cur = self.alerts.get(c.key)
        if cur is not None and cur.status is not Status.RESOLVED:
            if (cur.title_en, cur.kind) == (c.title_en, c.kind):
                return self
            upd = replace(cur, title_en=c.title_en, title_zh=c.title_zh, kind=c.kind,
                          action_en=c.action_en, action_zh=c.action_zh)
            return replace(self, alerts={**self.alerts, c.key: upd})
        a = Alert(c.key, c.kind, c.aisle, c.title_en, c.title_zh, c.urgent, Status.OPEN, now,
                  action_en=c.action_en, action_zh=c.action_zh)
        return replace(self, alerts={**self.alerts, c.key: a})

    def resolve(self, key: str, now: datetime, texts: tuple[str, str] | None = None) -> Book:
        """Close an open alert; `texts` (English, Chinese) replace its titles when the condition
        that raised it no longer describes the shelf (the "resolved" message says them)."""
        cur = self.alerts.get(key)
        if cur is None or cur.status is Status.RESOLVED:
            return self
        upd = replace(cur, status=Status.RESOLVED, resolved_at=now)
        if texts is not None:
            upd = replace(upd, title_en=texts[0], title_zh=texts[1])
        return replace(self, alerts={**self.alerts, key: upd})

    def ack(self, key: str, now: datetime) -> Book:
        cur = self.alerts.get(key)
        if cur is None or cur.status is not Status.OPEN:
            return self
        return replace(self, alerts={**self.alerts, key: replace(cur, status=Status.ACKED, acked_at=now)})

    def sync(self, conditions: Iterable[Condition], scope: str, now: datetime) -> Book:
        """Make the open alerts whose key starts with `scope` equal to `conditions`."""
        book = self
        keys = set()
        for c in conditions:
            keys.add(c.key)
            book = book.raise_(c, now)
        for k, a in self.alerts.items():
            if k.startswith(scope) and k not in keys and a.status is not Status.RESOLVED:
                book = book.resolve(k, now)
        return book

    def tick(self, policy: Policy, now: datetime) -> tuple[Book, list[Notification]]:
        """Decide what to send now: first notices, escalations, resolved messages."""
        window = now - timedelta(hours=1)
        sent = [s for s in self.sent if s[1] > window]
        quiet = in_quiet_hours(policy, now)
        alerts = dict(self.alerts)
        out: list[Notification] = []

        def budget(role: Role) -> bool:
            return sum(1 for r, _ in sent if r is role) < policy.rate_per_hour

        def emit(a: Alert, role: Role, event: str) -> None:
            title, body = _message(a, event)
            out.append(Notification(a.key, role, event, title, body, a.urgent))
            sent.append((role, now))

        for key in sorted(alerts, key=lambda k: (alerts[k].raised_at, k)):
            a = alerts[key]
            held = quiet and not a.urgent
            if a.status is Status.RESOLVED:
                # Only announce a resolution of something staff were told about.
                if a.notified_at is not None and not a.resolved_notified and not held:
                    if budget(Role.STAFF):
                        emit(a, Role.STAFF, "resolved")
                        a = replace(a, resolved_notified=True)
                elif a.notified_at is None:
                    a = replace(a, resolved_notified=True)
            elif a.notified_at is None:
                if not held and budget(Role.STAFF):
                    emit(a, Role.STAFF, "raised")
                    a = replace(a, notified_at=now)
            elif (
                a.status is Status.OPEN
                and a.escalated_at is None
                and now - a.notified_at >= policy.escalate_after
                and not held
                and budget(Role.MANAGER)
            ):
                emit(a, Role.MANAGER, "escalated")
                a = replace(a, escalated_at=now)
            alerts[key] = a
        return replace(self, alerts=alerts, sent=tuple(sent)), out
