"""Synthetic draw histories with a planted generator, and the truth record evaluation reads."""

import numpy as np

from seedsift.prng.hypothesis import hypothesis_draws


def generate(prng, seed, skip, burn, n_draws, mod, noise, noise_seed, low=0):
    """A history of ``n_draws`` draws in [low, low + mod) from one hypothesis (``prng`` a runtime
    call or a raw family), a fraction ``noise`` replaced at random.

    Returns ``(draws, truth)``; ``truth`` lists the replaced positions so evaluation can tell
    which draws the generator really made.
    """
    clean = hypothesis_draws(prng, [seed], np.arange(n_draws), skip, burn, mod)[0]
    rng = np.random.default_rng(noise_seed)
    n_noisy = int(round(noise * n_draws))
    positions = np.sort(rng.choice(n_draws, size=n_noisy, replace=False)) if n_noisy else np.empty(0, np.int64)
    draws = clean.copy()
    if n_noisy:
        draws[positions] = rng.integers(0, mod, size=n_noisy)
    truth = {
        "synthetic": True,
        "prng": prng,
        "seed": int(seed),
        "skip": int(skip),
        "burn": int(burn),
        "mod": int(mod),
        "low": int(low),
        "noise": float(noise),
        "noise_positions": [int(p) for p in positions],
    }
    return [int(d) + low for d in draws], truth
