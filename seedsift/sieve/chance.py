"""How often draws unrelated to any generator pass the sieve: the expected-false-survivor figure.

Under the null the history is unrelated to the generator, so a hypothesis' draw at one call
matches a given history value with the collision chance ``q`` (``runtimes.match_probability``),
and the draws of different calls are independent. The skips of one seed are not independent
tries, though: history draw j of skip k is call ``burn + j * (k + 1)``, so skips share calls
(skip 0's draw 2 is skip 1's draw 1). A shared call that meets two equal history values matches
both at once; one that meets two different values can match only one of them. Treating the
skips as independent overstates the chance when the history repeats a value inside the windows
and understates it slightly otherwise.

``pass_chance`` counts this exactly. A *unit* (one skip) passes when each of its windows (the
forward window, and for the bidirectional figure the reverse one) has at least ``required``
matches. Calls met by one window only are summed in closed form (a binomial tail); the calls
several windows meet are walked in order, keeping the joint match counts of the units they
join. A unit leaves that state at its last shared call. The walk is exact; when it would take
more than ``WORK`` state transitions (many skips sharing many calls), the figure falls back to the
Bonferroni bounds: the sum of the units' chances (an upper bound, the figure used) and that sum
less the pairs' joint chances (a lower bound). Both are exact sums, and they meet when the
chance per skip is small, which is when so many skips can be afforded.
"""

import math
from collections import defaultdict
from dataclasses import dataclass

from seedsift.stats import binom_sf

WORK = 100_000  # state transitions one exact count may take (under a second)
_CLOSED = -1


@dataclass(frozen=True)
class PassChance:
    """P(some unit passes) lies in [low, high]; ``exact`` when the joint walk finished (low == high)."""

    low: float
    high: float
    exact: bool


def pass_chance(units, q, required, work=WORK):
    """Chance that at least one unit passes: a PassChance.

    ``units``: one list of windows per unit; a window is a list of (call number, history value),
    its calls distinct. ``q``: the chance that one call's draw equals one given value. ``work``
    bounds the exact count (0: go straight to the bounds); the pairs of the lower bound have
    ``WORK`` transitions of their own, past which it is the largest unit's chance.
    """
    p, _ = exact_chance(units, q, required, work)
    if p is not None:
        return PassChance(p, p, True)
    single = [unit_chance(u, q, required) for u in units]
    high = min(sum(single), 1.0)
    return PassChance(min(_pairs_lower(units, single, q, required, WORK), high), high, False)


def exact_chance(units, q, required, work=WORK):
    """(exact P(some unit passes), state transitions taken); None for P past ``work`` of them."""
    return _walk(units, q, required, work)


def union_bound(units, q, required):
    """The sum of the units' own chances: an upper bound on P(some unit passes)."""
    return min(sum(unit_chance(u, q, required) for u in units), 1.0)


def unit_chance(unit, q, required):
    """P(one unit passes): a product of binomial tails when its windows share no call."""
    calls = [c for window in unit for c, _ in window]
    if len(set(calls)) == len(calls):
        return math.prod(binom_sf(required, len(window), q) for window in unit)
    return _walk([unit], q, required, None)[0]


def _pairs_lower(units, single, q, required, work):
    """sum of the units' chances less every pair's joint chance, at least the largest unit's."""
    calls = [{c for window in u for c, _ in window} for u in units]
    s1 = sum(single)
    # Pairs that share no call are independent: their joint chance is the product.
    s2 = (s1 * s1 - sum(x * x for x in single)) / 2.0
    for i in range(len(units)):
        for j in range(i + 1, len(units)):
            if calls[i] & calls[j]:
                # Two units both pass when the one unit made of all their windows passes.
                both, used = _walk([units[i] + units[j]], q, required, work)
                if both is None:
                    return max(single, default=0.0)
                work -= used
                s2 += both - single[i] * single[j]
    return max(s1 - s2, max(single, default=0.0))


def _walk(units, q, required, work):
    """(exact P(some unit passes), transitions taken), or (None, work) past ``work`` transitions."""
    unit_of, windows = [], []
    for u, unit in enumerate(units):
        for window in unit:
            unit_of.append(u)
            windows.append(window)
    members = defaultdict(list)
    for w, u in enumerate(unit_of):
        members[u].append(w)
    slots = defaultdict(list)
    for w, window in enumerate(windows):
        for call, value in window:
            slots[call].append((w, value))
    shared = sorted(c for c, s in slots.items() if len(s) > 1)
    private = [sum(len(slots[c]) == 1 for c, _ in window) for window in windows]
    remaining = [0] * len(windows)
    last = {}
    for c in shared:
        for w, _ in slots[c]:
            remaining[w] += 1
            last[unit_of[w]] = c
    closing = defaultdict(list)
    for u, c in last.items():
        closing[c].append(u)
    tails = {}

    def passes(u, counts):
        # P(unit u passes | its windows' matches so far), the private calls still to come.
        f = 1.0
        for w in members[u]:
            key = (w, counts[w])
            if key not in tails:
                tails[key] = binom_sf(required - counts[w], private[w], q)
            f *= tails[key]
        return f

    passed = 0.0
    used = 0
    states = {(0,) * len(windows): 1.0}
    for c in shared:
        by_value = defaultdict(list)
        for w, value in slots[c]:
            remaining[w] -= 1
            by_value[value].append(w)
        touched = sorted({unit_of[w] for w, _ in slots[c]})
        outcomes = [(max(0.0, 1.0 - len(by_value) * q), ())]
        outcomes += [(q, tuple(ws)) for ws in by_value.values()]
        used += len(states) * len(outcomes)
        if work is not None and used > work:
            return None, work
        new = defaultdict(float)
        for state, mass in states.items():
            for chance, hit in outcomes:
                m = mass * chance
                if m == 0.0:
                    continue
                s = list(state)
                for w in hit:
                    if s[w] != _CLOSED:
                        s[w] = min(s[w] + 1, required)
                done = False
                for u in touched:
                    ws = members[u]
                    if s[ws[0]] == _CLOSED:
                        continue
                    if any(s[w] + remaining[w] + private[w] < required for w in ws):
                        for w in ws:
                            s[w] = _CLOSED  # this unit can no longer pass
                    elif all(s[w] >= required for w in ws):
                        passed += m  # it has passed, whatever the other units do
                        done = True
                        break
                if done:
                    continue
                for u in closing[c]:
                    ws = members[u]
                    if s[ws[0]] != _CLOSED:
                        f = passes(u, s)
                        passed += m * f
                        m *= 1.0 - f
                        for w in ws:
                            s[w] = _CLOSED
                new[tuple(s)] += m
        states = new
    zero = (0,) * len(windows)
    free = [passes(u, zero) for u in range(len(units)) if u not in last]
    any_free = -math.expm1(sum(math.log1p(-f) if f < 1.0 else -math.inf for f in free)) if free else 0.0
    return passed + sum(states.values()) * any_free, used
