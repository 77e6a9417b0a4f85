// What sieve.cu needs from CUDA/HIP, for g++: qualifiers as no-ops, the thread coordinates of the
// launcher's loop (cpu_launch.cpp), atomics and the 64-bit high product. Nothing else of CUDA.
#pragma once

#define __global__
#define __device__
#define __forceinline__ inline

struct sieve_dim3 {
    unsigned int x, y, z;
};

// Set by the launcher: each worker thread runs whole blocks, one CUDA thread after the other,
// which is exact for these kernels (no shared memory, no barriers, atomics only for stage 1's list).
static thread_local sieve_dim3 threadIdx, blockIdx;
static sieve_dim3 blockDim, gridDim;

inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long value) {
    return __atomic_fetch_add(address, value, __ATOMIC_RELAXED);
}

inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
