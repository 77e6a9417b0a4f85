"""``make setup``: let ``snakemake --profile cluster`` (and ``--profile slurm``) work by name.

Snakemake looks a bare profile name up in the current directory, then in the user's profile
folder (``$XDG_CONFIG_HOME/snakemake``, by default ``~/.config/snakemake``), then the site's;
never under ``profiles/``. This links the checkout's ``profiles/cluster`` and ``profiles/slurm``
into the user's folder, so that the design card's command runs from the repository root as it
is written. A link that points elsewhere (another checkout) is replaced and said so; a real
folder of that name is the user's own profile and is left alone, with a warning.

    python -m seedsift.cluster.profile_links [--target DIR]
"""

import argparse
import os
import sys
from pathlib import Path

from seedsift.manifests import REPO_ROOT

LINKED = ("cluster", "slurm")


def user_profile_dir(environ=None):
    """Snakemake's user profile folder (what platformdirs' user_config_dir gives on Linux)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "snakemake"


def link_profiles(target=None, repo=REPO_ROOT, names=LINKED):
    """Link each profile into ``target``; returns one line per profile saying what was done."""
    target = Path(target) if target is not None else user_profile_dir()
    target.mkdir(parents=True, exist_ok=True)
    lines = []
    for name in names:
        source = Path(repo) / "profiles" / name
        link = target / name
        if link.is_symlink():
            if os.path.realpath(link) == os.path.realpath(source):
                lines.append(f"profile {name}: {link} -> {source} (already)")
                continue
            previous = os.readlink(link)
            link.unlink()
            link.symlink_to(source, target_is_directory=True)
            lines.append(f"profile {name}: {link} -> {source} (was -> {previous})")
        elif link.exists():
            lines.append(f"profile {name}: {link} is a folder of your own; left alone "
                         f"(use --profile {source} for this checkout's)")
        else:
            link.symlink_to(source, target_is_directory=True)
            lines.append(f"profile {name}: {link} -> {source}")
    return lines


def main(argv=None):
    """Link the profiles and print what changed (nothing when the links were already there)."""
    ap = argparse.ArgumentParser(prog="python -m seedsift.cluster.profile_links", description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", type=Path, help="the profile folder (default: Snakemake's user profile folder)")
    args = ap.parse_args(argv)
    for line in link_profiles(args.target):
        if not line.endswith("(already)"):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
