"""One job of the toy workflow: value = f(seed, index), written atomically; optionally logs where
it ran to the witness file named by TOY_WITNESS (the loopback nodes share the head's disk)."""

import argparse
import os
import time

from seedsift.jsonio import write_json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", required=True)
    ap.add_argument("--index", type=int, required=True)
    ap.add_argument("--sleep", type=float, default=0.0)
    ap.add_argument("--output", required=True)
    args = ap.parse_args()
    witness = os.environ.get("TOY_WITNESS")
    node = os.environ.get("SEEDSIFT_NODE", "")
    where = f"{node} {os.environ.get('SEEDSIFT_GPU', '')} {os.getpid()} {args.index}"
    if witness:
        with open(witness, "a") as fh:
            fh.write(f"start {time.time():.6f} {where}\n")
    seed = int(open(args.seed).read())
    time.sleep(args.sleep)
    value = (seed * 2654435761 + args.index * 40503) % 1000003
    write_json(args.output, {"index": args.index, "value": value, "node": node, "cwd": os.getcwd()})
    if witness:
        with open(witness, "a") as fh:
            fh.write(f"end {time.time():.6f} {where}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
