"""Suppression of a counted table (`core.counts.suppressed_counts`, without a record-key
secret): small counts suppressed so that none can be worked out from what is published.

The table. Counts per period, kommun and *cell* (the dataset's dimensions); only non-zero
counts are listed (an absent row means 0). Each period is a tree of published equations:

    region total (level 'region') = Σ the period's kommun totals
    kommun total (level 'kommun') = Σ the kommun's cells (level 'cell')

A total row has 'total' in every column it adds up over (see `schemas.statistics`).

Suppression. A suppressed count is published empty, with `suppressed` true, and nothing
says why it was suppressed.
- Primary: every listed count below the threshold, totals included (a small total
  is as telling as a small cell).
- Secondary, repeated until nothing changes, on the rows' true counts:
  (A) no equation (a total and its members) holds exactly one suppressed count;
  (B) every suppressed count can move by one while everything published stays true:
      it *can go down* if it is a cell of 2 or more, or a total with a suppressed member
      that can go down; it *can go up* if it is a region total (the top of a tree), or if
      another suppressed member of its equation can go down, or that equation's total is
      suppressed and can go up.
  Each round gives every equation that breaks (A) one more suppression: its smallest
  published member (ties: the first in row order) or, with none left, its total, which
  then counts in the equation above. Only when (A) holds everywhere do the equations
  holding a count that breaks (B) get the same, those at the lowest level first (helping
  a cell's equation often frees its total too). A count that breaks (B) in an equation
  with nothing left to suppress makes that equation's total break (B) as well, so an
  equation higher up can act (the top can always go up): every round suppresses at
  least one more count, and the rounds end.

Why it is safe. The attacker knows every published count, every equation, and that a
listed count is at least 1 (an absent one 0). Take any suppressed count u. If u can go
down, lower it by one and pass the −1 down through members that can go down to a cell of
2 or more; balance the equation above u by +1 on another of its suppressed counts, which
(A) guarantees: a member (pass the +1 down through suppressed members, which (A) also
guarantees) or the total (balance the equation above it the same way, up to the top). If
u can only go up, raise it by one and balance upwards the way (B) says. Each equation is
touched once (the changes follow one path up and branch down into separate subtrees),
every cell lowered was at least 2, and only suppressed counts change: this is a second
table, consistent with everything published, in which u differs. So no suppressed count
can be determined: not by subtraction, not by linear algebra over all the equations, and
not with the "at least 1" bounds (a kommun total of 12 with a published 10 and two
suppressed cells passes (A), yet both cells must be 1: (B) is what catches that).

Not promised: a minimum width of the range an attacker can narrow a suppressed count down
to (from a total of 12 and a published 5 one learns that two suppressed cells add up to 7),
nor that the range stays ambiguous to one who wrongly takes every suppressed count to be
below the threshold (the secondary ones need not be, and nothing says which they are).
"""

from __future__ import annotations

import numpy as np

# The parent of a row at the top of its tree (a region row).
_TOP = -1


# --- suppression -------------------------------------------------------------------------


def suppression_pattern(counts: np.ndarray, parents: np.ndarray, depth: np.ndarray, threshold: int) -> np.ndarray:
    """Which counts to suppress in a forest of equations (each row with members equals
    their sum): the counts below `threshold`, then more until every equation satisfies (A)
    and every suppressed count (B) of the module docstring. `counts` are ≥ 1; `parents`
    gives each row's total (_TOP at the top); `depth` its distance from the top."""
    suppressed = counts < threshold
    equations = _Equations(parents, depth)
    while True:
        # (A) first: every equation it flags needs another suppression whatever else is
        # done, and that suppression may already settle (B).
        to_protect = equations.with_one_unknown(suppressed)
        if not to_protect.any():
            to_protect = equations.holding_stuck_counts(counts, suppressed)
        if not to_protect.any():
            return suppressed
        more = equations.one_more_suppression(to_protect, counts, suppressed)
        if not (more & ~suppressed).any():
            # Cannot happen (see the module docstring); without this check it would loop forever.
            raise AssertionError("suppression made no progress")
        suppressed = suppressed | more


class _Equations:
    """The equations of a forest of totals, by the row of each total; per-row arrays in,
    per-row arrays out, one numpy pass per level of the forest."""

    def __init__(self, parents: np.ndarray, depth: np.ndarray) -> None:
        self.parents = parents
        self.depth = depth
        self.is_member = parents != _TOP
        self.parent_or_0 = np.maximum(parents, 0)  # safe to index with; masked wherever it matters
        self.has_members = self.members_where(np.ones(len(parents), dtype=bool)) > 0
        self.levels = range(depth.max(initial=-1) + 1)

    def members_where(self, mask: np.ndarray) -> np.ndarray:
        """By total's row: how many of its members `mask` holds."""
        return np.bincount(self.parents[self.is_member & mask], minlength=len(self.parents))

    def with_one_unknown(self, suppressed: np.ndarray) -> np.ndarray:
        """By total's row: its equation holds exactly one suppressed count (breaks (A))."""
        return self.has_members & (suppressed + self.members_where(suppressed) == 1)

    def holding_stuck_counts(self, counts: np.ndarray, suppressed: np.ndarray) -> np.ndarray:
        """By total's row: its equation holds a member that breaks (B) and can be helped
        there (it has a published count left), at the lowest level with such members only:
        protecting a cell's equation often frees its total as well."""
        can_go_down = np.zeros_like(suppressed)
        for level in reversed(self.levels):  # from the cells up: the level below is settled
            here = self.depth == level
            members_going_down = self.members_where(can_go_down)[here] > 0
            can_go_down[here] = suppressed[here] & np.where(
                self.has_members[here], members_going_down, counts[here] >= 2
            )
        members_going_down = self.members_where(can_go_down)
        can_go_up = np.zeros_like(suppressed)
        for level in self.levels:  # from the top down: the level above is settled
            here = self.depth == level
            total = self.parent_or_0[here]
            other_member_goes_down = members_going_down[total] - can_go_down[here] > 0
            total_goes_up = can_go_up[total] & self.is_member[here]
            can_go_up[here] = suppressed[here] & (~self.is_member[here] | other_member_goes_down | total_goes_up)

        stuck = suppressed & ~can_go_down & ~can_go_up  # never at the top, which can go up
        total = self.parent_or_0[stuck]
        # With every count of the equation suppressed, its total is stuck as well and is
        # helped one level up.
        helpable = ~suppressed[total] | (self.members_where(~suppressed)[total] > 0)
        to_protect = np.zeros_like(suppressed)
        if helpable.any():
            lowest = self.depth[stuck][helpable].max()
            to_protect[total[helpable & (self.depth[stuck] == lowest)]] = True
        return to_protect

    def one_more_suppression(self, to_protect: np.ndarray, counts: np.ndarray, suppressed: np.ndarray) -> np.ndarray:
        """One more suppression per equation in `to_protect`: its smallest published member
        (ties: the first row), or its total where every member is suppressed."""
        candidates = np.flatnonzero(self.is_member & ~suppressed & to_protect[self.parent_or_0])
        by_equation_smallest_first = candidates[np.lexsort((candidates, counts[candidates], self.parents[candidates]))]
        equations, first = np.unique(self.parents[by_equation_smallest_first], return_index=True)
        more = np.zeros_like(suppressed)
        more[by_equation_smallest_first[first]] = True
        nothing_left = to_protect.copy()
        nothing_left[equations] = False
        more[nothing_left] = True
        return more
