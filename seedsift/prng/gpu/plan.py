"""What the kernels of sieve.cu take for one call and one set of targets, as host arrays.

The CPU build and the CuPy backend share this: a :class:`Plan` holds the generator and mapping
ids (which kernel), ``prm`` (mod, a, b, rejects, the fastmod constant, the number of call
indices), the sorted call indices and the targets of each call index in CSR form.
"""

from dataclasses import dataclass

import numpy as np

from seedsift.prng import kernels

PRM_SIZE = 6  # PRM_* of sieve.cu
MASK64 = (1 << 64) - 1
# Every (generator, mapping) pair of SIEVE_CALLS in sieve.cu.
CALLS = (
    (0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0), (7, 0),
    (1, 1), (8, 2), (8, 3), (0, 4), (0, 5), (9, 6), (0, 7), (9, 7), (10, 0), (0, 8), (2, 9),
)
HEAVY = (kernels.MT19937, kernels.MT_CPYTHON, kernels.MT_PHP_LEGACY, kernels.GLIBC)


def fastmod_constant(mod):
    """ceil(2^64 / mod) modulo 2^64, as the int64 with the same bits (Lemire's direct remainder)."""
    m = (MASK64 // int(mod) + 1) & MASK64
    return m - (1 << 64) if m >= 1 << 63 else m


@dataclass(frozen=True)
class Plan:
    """One call's kernel arguments: ``kernel_args`` of seedsift.prng.runtimes plus its targets."""

    gen: int
    mapping: int
    prm: np.ndarray
    cidx: np.ndarray
    toff: np.ndarray
    tval: np.ndarray
    tslot: np.ndarray
    coef: np.ndarray
    base: np.ndarray
    nslots: int

    @property
    def name(self):
        return f"{self.gen}_{self.mapping}"


def make(args, tpos=None, tval=None, tslot=None, nslots=1):
    """A Plan from ``runtimes.kernel_args(...)`` and targets (tpos indexes cidx, as for the numba kernels)."""
    call, cidx, _uidx, coef, base = args
    gen, mapping, mod, a, b, rejects = (int(x) for x in call[:6])
    if (gen, mapping) not in CALLS:
        raise ValueError(f"no GPU kernel for generator {gen} with mapping {mapping}")
    cidx = np.ascontiguousarray(cidx, dtype=np.int64)
    tpos = np.zeros(0, np.int64) if tpos is None else np.asarray(tpos, dtype=np.int64)
    tval = np.zeros(0, np.int64) if tval is None else np.asarray(tval, dtype=np.int64)
    tslot = np.zeros(tpos.size, np.int64) if tslot is None else np.asarray(tslot, dtype=np.int64)
    order = np.argsort(tpos, kind="stable")
    toff = np.searchsorted(tpos[order], np.arange(cidx.size + 1)).astype(np.int64)
    prm = np.array([mod, a, b, rejects, fastmod_constant(mod), cidx.size], dtype=np.int64)
    return Plan(
        gen=gen, mapping=mapping, prm=prm, cidx=cidx, toff=np.ascontiguousarray(toff),
        tval=np.ascontiguousarray(tval[order]), tslot=np.ascontiguousarray(tslot[order]),
        coef=np.ascontiguousarray(coef, dtype=np.uint32).reshape(-1) if coef.size else np.zeros(1, np.uint32),
        base=np.ascontiguousarray(base, dtype=np.uint32), nslots=int(nslots),
    )


def chunk_seeds(gen, heavy_log2, light_log2):
    """Seeds per stage-1 launch: fewer for the generators whose seeds cost hundreds of steps."""
    return 1 << (heavy_log2 if gen in HEAVY else light_log2)
