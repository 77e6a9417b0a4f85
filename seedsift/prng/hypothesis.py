"""A hypothesis' draws: what (runtime call, seed, skip, burn) predicts at given history positions."""

import numpy as np

from seedsift.prng import kernels, runtimes
from seedsift.prng.families import output_index


def hypothesis_draws(prng, seeds, positions, skip, burn, mod):
    """Draws in [0, mod) of each seed's hypothesis at history ``positions``: (n_seeds, n_pos).

    ``prng`` is a runtime call or a raw family (seedsift.prng.runtimes); a draw is the value the
    call returns minus ``low``. ``skip`` and ``burn`` are scalars or arrays with one value per seed.
    """
    seeds = np.asarray(seeds, dtype=np.uint64).reshape(-1)
    positions = np.asarray(positions, dtype=np.int64)
    skip = np.broadcast_to(np.asarray(skip, dtype=np.int64), seeds.shape)
    burn = np.broadcast_to(np.asarray(burn, dtype=np.int64), seeds.shape)
    result = np.empty((seeds.size, positions.size), dtype=np.int64)
    groups = {}
    for row, key in enumerate(zip(skip.tolist(), burn.tolist())):
        groups.setdefault(key, []).append(row)
    for (k, b), rows in groups.items():
        rows = np.asarray(rows)
        idx = output_index(positions, k, b)
        cidx, inverse = np.unique(idx, return_inverse=True)
        draws = kernels.calls_at(*_with_seeds(runtimes.kernel_args(prng, mod, cidx), seeds[rows]))
        if cidx.size == idx.size and np.array_equal(cidx, idx):
            result[rows] = draws
        else:
            result[rows] = draws[:, inverse]
    return result


def _with_seeds(args, seeds):
    call, cidx, uidx, coef, base = args
    return call, seeds, cidx, uidx, coef, base
