"""Draws written by the real runtimes, at test time: a JVM, CPython, numpy, php-cli and g++ (libstdc++, glibc).

Each function takes requests ``(seed, low, mod, n)`` and returns, per request, the ``n`` draws
the runtime's own call makes after seeding with ``seed``. The programs are compiled once per
test session into a temporary folder. A missing toolchain skips the test that needs it, naming
what is missing (``make test`` installs them; see .ci/system-deps.sh).
"""

import functools
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

JAVA = r"""
import java.io.*;
import java.util.*;

public class Draws {
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        StringBuilder out = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.trim().split(" ");
            long seed = Long.parseUnsignedLong(f[0]);
            int low = Integer.parseInt(f[1]);
            int mod = Integer.parseInt(f[2]);
            int n = Integer.parseInt(f[3]);
            Random r = new Random(seed);
            for (int i = 0; i < n; i++) {
                out.append(low + r.nextInt(mod)).append(i + 1 < n ? " " : "\n");
            }
        }
        System.out.print(out);
    }
}
"""

CPP = r"""
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

int main() {
    char mode[64];
    unsigned long long seed;
    long long low, mod;
    long n;
    while (std::scanf("%63s %llu %lld %lld %ld", mode, &seed, &low, &mod, &n) == 5) {
        std::string m(mode);
        std::string line;
        auto put = [&](long long v, long i) { line += std::to_string(v) + (i + 1 < n ? " " : ""); };
        if (m == "glibc") {
            srand((unsigned) seed);
            for (long i = 0; i < n; i++) put(low + rand() % mod, i);
        } else if (m == "mt19937_dist") {
            std::mt19937 g((std::mt19937::result_type) seed);
            std::uniform_int_distribution<long long> d(low, low + mod - 1);
            for (long i = 0; i < n; i++) put(d(g), i);
        } else if (m == "minstd_dist") {
            std::minstd_rand g((std::minstd_rand::result_type) seed);
            std::uniform_int_distribution<long long> d(low, low + mod - 1);
            for (long i = 0; i < n; i++) put(d(g), i);
        } else if (m == "mt19937_raw") {
            std::mt19937 g((std::mt19937::result_type) seed);
            for (long i = 0; i < n; i++) put(low + (long long) (g() % (unsigned long long) mod), i);
        } else if (m == "minstd_raw") {
            std::minstd_rand g((std::minstd_rand::result_type) seed);
            for (long i = 0; i < n; i++) put(low + (long long) (g() % (unsigned long long) mod), i);
        } else {
            return 2;
        }
        std::printf("%s\n", line.c_str());
    }
    return 0;
}
"""

# mt_rand(min, max) with PHP's own bounds; "legacy" seeds with MT_RAND_PHP (PHP 5.2.1-7.0's twist and
# scaling, kept by PHP 8 for compatibility); "unbounded" calls mt_rand() without arguments.
PHP = r"""
$out = '';
while (($line = fgets(STDIN)) !== false) {
    [$mode, $seed, $low, $mod, $n] = explode(' ', trim($line));
    $seed = (int) $seed; $low = (int) $low; $mod = (int) $mod; $n = (int) $n;
    if ($seed > 2147483647) { $seed -= 4294967296; }
    $legacy = str_ends_with($mode, 'legacy');
    @mt_srand($seed, $legacy ? MT_RAND_PHP : MT_RAND_MT19937);
    $row = [];
    for ($i = 0; $i < $n; $i++) {
        $row[] = str_starts_with($mode, 'unbounded') ? $low + (mt_rand() % $mod) : mt_rand($low, $low + $mod - 1);
    }
    $out .= implode(' ', $row) . "\n";
}
echo $out;
"""


def _need(tool, package):
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (Debian package {package}; make test installs it)")
    return path


@functools.lru_cache(maxsize=None)
def _workdir():
    return Path(tempfile.mkdtemp(prefix="seedsift-runtimes-"))


@functools.lru_cache(maxsize=None)
def _java_class():
    javac = _need("javac", "default-jdk-headless")
    _need("java", "default-jdk-headless")
    src = _workdir() / "Draws.java"
    src.write_text(JAVA)
    subprocess.run([javac, "-d", str(_workdir()), str(src)], check=True, capture_output=True, timeout=300)
    return _workdir()


@functools.lru_cache(maxsize=None)
def _cpp_binary():
    gxx = _need("g++", "g++")
    src = _workdir() / "draws.cpp"
    src.write_text(CPP)
    binary = _workdir() / "draws"
    subprocess.run([gxx, "-O1", "-std=c++17", "-o", str(binary), str(src)], check=True, capture_output=True,
                   timeout=300)
    return binary


def _rows(text, requests):
    rows = [[int(v) for v in line.split()] for line in text.strip("\n").split("\n")]
    assert len(rows) == len(requests), (len(rows), len(requests))
    return rows


def java_next_int(requests):
    """``low + new Random(seed).nextInt(mod)``, n times."""
    classes = _java_class()
    text = "".join(f"{s & ((1 << 64) - 1)} {low} {mod} {n}\n" for s, low, mod, n in requests)
    done = subprocess.run(["java", "-cp", str(classes), "Draws"], input=text, capture_output=True, text=True,
                          check=True, timeout=300)
    return _rows(done.stdout, requests)


def _cpp(mode, requests):
    text = "".join(f"{mode} {s} {low} {mod} {n}\n" for s, low, mod, n in requests)
    done = subprocess.run([str(_cpp_binary())], input=text, capture_output=True, text=True, check=True, timeout=300)
    return _rows(done.stdout, requests)


def glibc_rand(requests):
    """``srand(seed); low + rand() % mod``, n times (the C library g++ links)."""
    return _cpp("glibc", requests)


def cpp_uniform_int(engine, requests):
    """``std::uniform_int_distribution(low, low + mod - 1)`` over std::mt19937 or std::minstd_rand."""
    return _cpp(f"{engine}_dist", requests)


def cpp_raw_mod(engine, requests):
    """``low + engine() % mod`` for std::mt19937 or std::minstd_rand."""
    return _cpp(f"{engine}_raw", requests)


def php_mt_rand(mode, requests):
    """mode: range, legacy (MT_RAND_PHP), unbounded (mt_rand() % mod), unbounded-legacy."""
    php = _need("php", "php-cli")
    text = "".join(f"{mode} {s} {low} {mod} {n}\n" for s, low, mod, n in requests)
    done = subprocess.run([php, "-r", PHP], input=text, capture_output=True, text=True, check=True, timeout=300)
    return _rows(done.stdout, requests)


def python_randrange(requests):
    """CPython: ``random.seed(seed); random.randrange(low, low + mod)``."""
    out = []
    for s, low, mod, n in requests:
        r = random.Random(s)
        out.append([r.randrange(low, low + mod) for _ in range(n)])
    return out


def python_getrandbits(requests):
    """CPython: ``random.seed(seed); low + random.getrandbits(k)`` with mod = 2^k."""
    out = []
    for s, low, mod, n in requests:
        r = random.Random(s)
        k = mod.bit_length() - 1
        out.append([low + r.getrandbits(k) for _ in range(n)])
    return out


def numpy_randint(requests):
    """numpy: ``RandomState(seed).randint(low, low + mod)``, one call per draw."""
    out = []
    for s, low, mod, n in requests:
        r = np.random.RandomState(s)
        out.append([int(r.randint(low, low + mod)) for _ in range(n)])
    return out


WRITERS = {
    "java.util.Random.nextInt": java_next_int,
    "python.random.getrandbits": python_getrandbits,
    "python.random.randrange": python_randrange,
    "numpy.random.RandomState.randint": numpy_randint,
    "php.mt_rand": lambda rq: php_mt_rand("range", rq),
    "php.mt_rand.legacy": lambda rq: php_mt_rand("legacy", rq),
    "php.mt_rand.unbounded": lambda rq: php_mt_rand("unbounded", rq),
    "php.mt_rand.unbounded.legacy": lambda rq: php_mt_rand("unbounded-legacy", rq),
    "glibc.rand": glibc_rand,
    "cpp.mt19937.uniform_int_distribution": lambda rq: cpp_uniform_int("mt19937", rq),
    "cpp.minstd_rand.uniform_int_distribution": lambda rq: cpp_uniform_int("minstd", rq),
    "mt19937": lambda rq: cpp_raw_mod("mt19937", rq),
    "minstd_rand": lambda rq: cpp_raw_mod("minstd", rq),
}
"""Runtime call name -> the function that makes its draws with the real runtime."""
