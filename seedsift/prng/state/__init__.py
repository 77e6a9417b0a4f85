"""State recovery: the generator state at the first draw of a history, from the draws alone.

A seed search only reaches seeds in a searchable range; a program seeded from the clock in
nanoseconds, ``os.urandom`` or a 64-bit value is out of its reach, but its generator's state is
not. The methods (:mod:`seedsift.prng.state.methods`): java.util.Random's 48-bit state by lifting
low bits and a bounded search (:mod:`~seedsift.prng.state.lcg`); MT19937 by untempering 624 raw
outputs, or by elimination over GF(2) from outputs of which the draw fixes some bits, and
xorshift128 / xorshift32 the same way (:mod:`~seedsift.prng.state.gf2`).
"""

from seedsift.prng.state.methods import (  # noqa: F401
    Method,
    Recovery,
    StateError,
    check_state,
    generator_of,
    method_check,
    method_for,
    recover,
    state_draws,
    untemper,
)
