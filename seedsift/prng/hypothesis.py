"""A hypothesis' draws: what (family, seed, skip, burn) predicts at given history positions."""

import numpy as np

from seedsift.prng import kernels
from seedsift.prng.families import family_id, output_index


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
