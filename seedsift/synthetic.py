"""Synthetic draw histories with a planted generator, and the truth record evaluation reads."""

import numpy as np

from seedsift import kernels
from seedsift.prng import family_id, output_index


def hypothesis_draws(prng, seeds, positions, skip, burn, mod):
    """Draws (output % mod) of each seed's hypothesis at history ``positions``: (n_seeds, n_pos).

    ``skip`` and ``burn`` are scalars or arrays with one value per seed.
    """
    seeds = np.asarray(seeds, dtype=np.uint32).reshape(-1)
    positions = np.asarray(positions, dtype=np.int64)
    skip = np.broadcast_to(np.asarray(skip, dtype=np.int64), seeds.shape)
    burn = np.broadcast_to(np.asarray(burn, dtype=np.int64), seeds.shape)
    result = np.empty((seeds.size, positions.size), dtype=np.int64)
    fam = family_id(prng)
    groups = {}
    for row, key in enumerate(zip(skip.tolist(), burn.tolist())):
        groups.setdefault(key, []).append(row)
    for (k, b), rows in groups.items():
        rows = np.asarray(rows)
        idx = output_index(positions, k, b)
        uidx, inverse = np.unique(idx, return_inverse=True)
        draws = kernels.outputs_at(fam, seeds[rows], uidx.astype(np.int64), np.uint64(mod))
        if uidx.size == idx.size and np.array_equal(uidx, idx):
            result[rows] = draws
        else:
            result[rows] = draws[:, inverse]
    return result


def generate(prng, seed, skip, burn, n_draws, mod, noise, noise_seed):
    """A history of ``n_draws`` draws from one hypothesis, a fraction ``noise`` replaced at random.

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
        "noise": float(noise),
        "noise_positions": [int(p) for p in positions],
    }
    return [int(d) for d in draws], truth
