"""The projection as one fold: how each kind of movement changes the figures of its
(product, location) balance. The posting path (ledger.posting), verify_ledger and
rebuild_balances (ledger.integrity) all apply this table, so a new kind of movement is
one more entry here.

A movement's quantity is signed; each figure changes by quantity times the kind's
coefficient for it: a hold of 3 adds 3 reserved, its commit (quantity -3) takes 3 off
the shelf and 3 off reserved, a transfer's arrival (quantity +3) puts 3 on the shelf
and takes 3 off incoming.
"""

from dataclasses import dataclass

from ledger.models import MovementKind

FIGURES = ("on_hand", "reserved", "incoming")


@dataclass(frozen=True, slots=True)
class Effect:
    on_hand: int = 0
    reserved: int = 0
    incoming: int = 0

    def deltas(self, quantity: int) -> tuple[int, int, int]:
        return (self.on_hand * quantity, self.reserved * quantity, self.incoming * quantity)


ON_SHELF = Effect(on_hand=1)

HELD = Effect(reserved=1)
EXPECTED = Effect(incoming=1)

EFFECTS: dict[str, Effect] = {
    MovementKind.RESTOCK: ON_SHELF,
    MovementKind.CONSUMPTION: ON_SHELF,
    MovementKind.ADJUSTMENT: ON_SHELF,
    MovementKind.REVERSAL: ON_SHELF,
    MovementKind.HOLD: HELD,
    MovementKind.COMMIT: Effect(on_hand=1, reserved=1),
    MovementKind.RELEASE: HELD,
    MovementKind.EXPIRY: HELD,
    MovementKind.TRANSFER_OUT: ON_SHELF,
    MovementKind.IN_TRANSIT: EXPECTED,
    MovementKind.TRANSFER_IN: Effect(on_hand=1, incoming=-1),
    MovementKind.TRANSIT_CANCEL: EXPECTED,
    MovementKind.TRANSFER_RETURN: ON_SHELF,
}


@dataclass(frozen=True, slots=True)
class Figures:
    on_hand: int = 0
    reserved: int = 0
    incoming: int = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def valid(self) -> bool:
        """What the balance's CHECK constraints allow."""
        return self.on_hand >= self.reserved >= 0 and self.incoming >= 0

    def apply(self, kind: str, quantity: int) -> "Figures":
        """The figures after a movement of ``kind`` and ``quantity``. Raises KeyError
        for an unknown kind."""
        d_on_hand, d_reserved, d_incoming = EFFECTS[kind].deltas(quantity)
        return Figures(
            self.on_hand + d_on_hand, self.reserved + d_reserved, self.incoming + d_incoming
        )


def sql_delta(figure: str, *, kind: str = "kind", quantity: str = "quantity") -> str:
    """A SQL expression for the change a movement row makes to ``figure`` (for SUM()
    over movements): the same coefficients as EFFECTS. The kinds are the model's
    choices, never user input."""
    cases = " ".join(
        f"WHEN '{kind_value}' THEN {getattr(effect, figure)}"
        for kind_value, effect in EFFECTS.items()
    )
    return f"(CASE {kind} {cases} END * {quantity})"
