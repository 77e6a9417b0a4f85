"""Exact binomial tails and chance baselines, with no dependency beyond the standard library."""

import math


def binom_sf(k, n, p):
    """P[X >= k] for X ~ Binomial(n, p), computed in log space so tiny tails stay exact."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
        for i in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def binom_logsf(k, n, p):
    """log P[X >= k] for X ~ Binomial(n, p): the tail's logarithm, which stays finite where the tail
    itself is below the smallest float (-inf when the tail is 0)."""
    if k <= 0 or p >= 1.0:
        return 0.0
    if k > n or p <= 0.0:
        return -math.inf
    lp, lq = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
        for i in range(k, n + 1)
    ]
    top = max(terms)
    return min(0.0, top + math.log(math.fsum(math.exp(t - top) for t in terms)))


def binom_interval(trials, p, level=0.99):
    """Central interval [lo, hi] of Binomial(trials, p) holding at least ``level`` of its mass."""
    alpha = (1.0 - level) / 2.0
    lo = 0
    while lo < trials and 1.0 - binom_sf(lo + 1, trials, p) <= alpha:
        lo += 1
    hi = trials
    while hi > 0 and binom_sf(hi, trials, p) <= alpha:
        hi -= 1
    return lo, hi


def poisson_interval(mean, level=0.999):
    """Central interval [lo, hi] of Poisson(mean) holding at least ``level`` of its mass."""
    if mean <= 0:
        return 0, 0
    alpha = (1.0 - level) / 2.0
    log_mean = math.log(mean)
    start = max(0, int(mean - 12.0 * math.sqrt(mean) - 12))

    def pmf(i):
        return math.exp(i * log_mean - mean - math.lgamma(i + 1))

    lo, below = start, 0.0
    while below + pmf(lo) <= alpha:
        below += pmf(lo)
        lo += 1
    hi, cdf = lo, below + pmf(lo)
    while 1.0 - cdf > alpha:
        hi += 1
        cdf += pmf(hi)
    return lo, hi


def poisson_sf(k, mean):
    """P[X >= k] for X ~ Poisson(mean)."""
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    log_mean = math.log(mean)
    below = math.fsum(math.exp(i * log_mean - mean - math.lgamma(i + 1)) for i in range(int(k)))
    return max(0.0, 1.0 - below) if below < 0.5 else _poisson_upper(k, mean, log_mean)


def _poisson_upper(k, mean, log_mean):
    # Sum the upper tail directly when it is small, so tiny p-values keep their precision.
    total, i = 0.0, int(k)
    term = math.exp(i * log_mean - mean - math.lgamma(i + 1))
    while term > 1e-300 and (total == 0.0 or term > total * 1e-17):
        total += term
        i += 1
        term = math.exp(i * log_mean - mean - math.lgamma(i + 1))
    return min(1.0, total)
