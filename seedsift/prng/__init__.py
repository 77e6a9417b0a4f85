"""The generators: reference implementations (families), numba kernels (kernels), one hypothesis' draws (hypothesis)."""
