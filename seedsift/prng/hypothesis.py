"""A hypothesis' draws: what (runtime call, seed, skip, burn) predicts at given history positions."""

import numpy as np

from seedsift.prng import kernels, runtimes
from seedsift.prng.families import output_index


def hypothesis_draws(prng, seeds, positions, skip, burn, mod, states=None):
    """Draws in [0, mod) of each seed's hypothesis at history ``positions``: (n_seeds, n_pos).

    ``prng`` is a runtime call or a raw family (seedsift.prng.runtimes); a draw is the value the
    call returns minus ``low``. ``skip`` and ``burn`` are scalars or arrays with one value per seed.
    ``states`` (one per seed, or None) holds recovered generator states (seedsift.prng.state):
    a row with a state continues that state (call 0 = history draw ``burn``) instead of seeding.
    """
    if states is not None and any(st is not None for st in states):
        return _with_states(prng, seeds, positions, skip, burn, mod, states)
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


def _with_states(prng, seeds, positions, skip, burn, mod, states):
    from seedsift.prng import state as prng_state

    seeds = np.asarray(seeds, dtype=np.uint64).reshape(-1)
    positions = np.asarray(positions, dtype=np.int64)
    skip = np.broadcast_to(np.asarray(skip, dtype=np.int64), seeds.shape)
    burn = np.broadcast_to(np.asarray(burn, dtype=np.int64), seeds.shape)
    result = np.empty((seeds.size, positions.size), dtype=np.int64)
    plain = [i for i, st in enumerate(states) if st is None]
    if plain:
        result[plain] = hypothesis_draws(prng, seeds[plain], positions, skip[plain], burn[plain], mod)
    for i, st in enumerate(states):
        if st is not None:
            idx = output_index(positions, int(skip[i]), int(burn[i]))
            calls, inverse = np.unique(idx, return_inverse=True)
            result[i] = np.asarray(prng_state.state_draws(prng, st, mod, calls.tolist()), dtype=np.int64)[inverse]
    return result


def _with_seeds(args, seeds):
    call, cidx, uidx, coef, base = args
    return call, seeds, cidx, uidx, coef, base


def is_planted(record, truth, n_positions, mod):
    """Whether survivor ``record`` is the planted hypothesis of ``truth``: the same (call, seed, skip,
    burn), or, for a recovered state, the same call making the same draws at every history position
    below ``n_positions``."""
    if record["prng_type"] != truth["prng"]:
        return False
    if "state" not in record:
        return (record["seed"], record["skip"], record["burn"]) == (truth["seed"], truth["skip"], truth["burn"])
    positions = np.arange(n_positions)
    mine = hypothesis_draws(record["prng_type"], [record["seed"]], positions, record["skip"], record["burn"], mod,
                            states=[record["state"]])
    planted = hypothesis_draws(truth["prng"], [truth["seed"]], positions, truth["skip"], truth["burn"], mod)
    return bool(np.array_equal(mine, planted))
