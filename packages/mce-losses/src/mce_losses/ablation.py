"""The switches of the paper's ablation (Table 2): :class:`Switches` says which factors and terms of the MCE
objective are on, and :data:`ABLATION_ROWS` holds Table 2's rows ``'a'`` to ``'m'`` as such switches.

Table 2 as :data:`ABLATION_ROWS`, with one reading to settle. In the paper text we have, rows
j and m carry identical check marks (A, B, L_single, L_sub, L_aux), yet m scores higher. The
text explains the rows: "When both the global factor A (i) and the batch-level factor B (j) are
incorporated on top of the complete RCE foundation (h) ... The fully integrated MCE framework
(m), combining both LCE and RCE, achieves the highest performance." We read that as a factorial
design: i = h + A, **j = h + B** (A off), m = h + A + B, and take j's check mark under A as a
typo. The reference code supports it: its switches ``--use_a`` and ``--use_b`` are independent
flags. Another reading (j = m without the transformer completion module of Sec. 3.5) finds no
support in the text or the code: Fig. 8's baseline is already "backbone w f_rec", and the
reference models always run the completion transformer, as every row here does (the module is
part of the network, not of the loss). To reproduce j exactly as printed, use row m.

>>> ABLATION_ROWS["a"]
Switches(a=False, b=False, single=False, sub=False, aux=False)
>>> ABLATION_ROWS["j"]
Switches(a=False, b=True, single=True, sub=True, aux=True)
>>> ABLATION_ROWS["m"] == Switches()
True
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Switches:
    """Which factors and terms of the MCE objective are on (Table 2's columns). All on by default."""

    a: bool = True
    """Factor A (Eq. 3) weights L_single and L_aux; off: ones."""
    b: bool = True
    """Factor B (Eq. 8) weights L_single and L_aux; off: ones."""
    single: bool = True
    """L_single (Eq. 9)."""
    sub: bool = True
    """L_sub (Eq. 11)."""
    aux: bool = True
    """L_aux (Eq. 13)."""

    def __post_init__(self) -> None:
        for name in ("a", "b", "single", "sub", "aux"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(f"Switches.{name} must be a bool; got {type(value).__name__} {value!r}")


def _row(marks: str) -> Switches:
    """A Table 2 row from its check marks: letters among ``A B s u x`` (single, sub, aux)."""
    return Switches(a="A" in marks, b="B" in marks, single="s" in marks, sub="u" in marks, aux="x" in marks)


ABLATION_ROWS: dict[str, Switches] = {
    "a": _row(""),
    "b": _row("s"),
    "c": _row("u"),
    "d": _row("x"),
    "e": _row("su"),
    "f": _row("sx"),
    "g": _row("ux"),
    "h": _row("sux"),
    "i": _row("Asux"),
    "j": _row("Bsux"),  # printed with A and B; read as h + B (see the module docstring)
    "k": _row("ABs"),
    "l": _row("ABx"),
    "m": _row("ABsux"),
}
"""Table 2's rows ``'a'`` to ``'m'`` as :class:`Switches` (row m is full MCE)."""
