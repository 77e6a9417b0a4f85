// The CPU build of sieve.cu: every kernel of SIEVE_CALLS with a C launcher that runs the grid
// (blocks shared out to one worker thread per core, the threads of a block in order). Loaded with
// ctypes by seedsift/prng/gpu/cpu_build.py; the tests compare it with the numba kernels. Plain
// threads, not OpenMP: numba's own OpenMP pool would share libgomp with it, and libgomp's idle
// threads spin for a while after each launch, slowing numba's next kernel on a small machine.
#include <atomic>
#include <thread>
#include <vector>

#include "cpu_prelude.h"
#include "sieve.cu"

template <class Body>
static void run_grid(unsigned long long blocks, unsigned int threads, Body body) {
    blockDim.x = threads;
    blockDim.y = blockDim.z = 1;
    gridDim.x = (unsigned int)blocks;
    gridDim.y = gridDim.z = 1;
    std::atomic<unsigned long long> next(0);
    auto worker = [&] {
        threadIdx.y = threadIdx.z = 0;
        blockIdx.y = blockIdx.z = 0;
        for (unsigned long long b; (b = next.fetch_add(1)) < blocks;) {
            blockIdx.x = (unsigned int)b;
            for (unsigned int t = 0; t < threads; ++t) {
                threadIdx.x = t;
                body();
            }
        }
    };
    unsigned long long cores = std::thread::hardware_concurrency();
    unsigned long long n = cores < blocks ? cores : blocks;
    std::vector<std::thread> pool;
    for (unsigned long long w = 1; w < n; ++w) pool.emplace_back(worker);
    worker();
    for (auto& th : pool) th.join();
}

#define SIEVE_LAUNCHERS(G, M)                                                                             \
    extern "C" void launch_stage1_##G##_##M(unsigned long long blocks, unsigned int threads, SIEVE_STAGE1_PARAMS) { \
        run_grid(blocks, threads, [&] { sieve_stage1_##G##_##M(SIEVE_STAGE1_ARGS); });                   \
    }                                                                                                     \
    extern "C" void launch_stage2_##G##_##M(unsigned long long blocks, unsigned int threads, SIEVE_STAGE2_PARAMS) { \
        run_grid(blocks, threads, [&] { sieve_stage2_##G##_##M(SIEVE_STAGE2_ARGS); });                   \
    }                                                                                                     \
    extern "C" void launch_values_##G##_##M(unsigned long long blocks, unsigned int threads, SIEVE_VALUES_PARAMS) { \
        run_grid(blocks, threads, [&] { sieve_values_##G##_##M(SIEVE_VALUES_ARGS); });                   \
    }

SIEVE_CALLS(SIEVE_LAUNCHERS)
