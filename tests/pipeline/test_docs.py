"""The documentation: a short README, pages under docs/ that the links reach, and a config
reference in docs/configuration.md that is generated from the manifests."""

import re

import pytest

from seedsift import manifests
from seedsift.errors import InputError
from seedsift.pipeline import docs

from conftest import REPO

CONFIGURATION = REPO / "docs" / "configuration.md"
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

# [text](target) and [text](target "title"); images are links too.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~)")


def prose(path):
    """The lines of a Markdown file outside fenced code blocks (code may contain brackets)."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def anchors(path):
    """GitHub's anchors of a Markdown file's headings: lowercased, punctuation dropped, spaces to '-'."""
    found = set()
    for line in prose(path):
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-")
            found.add(slug)
    return found


def relative_links(path):
    for line in prose(path):
        # Inline code may show link syntax without being a link.
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
                yield target


def test_configuration_reference_is_current():
    assert docs.block_of(CONFIGURATION.read_text(encoding="utf-8")) == docs.config_reference(), (
        "run: python -m seedsift.pipeline.docs --write")


def test_every_config_key_is_in_the_configuration_page():
    text = CONFIGURATION.read_text(encoding="utf-8")
    for key in manifests.config_bounds():
        assert f"`{key}`" in text, key


def test_update_block_rewrites_only_the_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"# Title\n\nbefore\n\n{docs.START}\nold table\n{docs.END}\n\nafter\n", encoding="utf-8")
    docs.update_block(page)
    text = page.read_text(encoding="utf-8")
    assert docs.block_of(text) == docs.config_reference()
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith("\n\nafter\n")


def test_update_block_refuses_a_page_without_a_block(tmp_path):
    # Rewriting nothing would leave the page stale while the command seemed to succeed.
    page = tmp_path / "page.md"
    page.write_text("# Title\n", encoding="utf-8")
    with pytest.raises(InputError, match="no <!-- config-reference:start -->"):
        docs.update_block(page)


def test_readme_shows_the_two_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text


def test_readme_is_short():
    # The README is the front page; the detail belongs in docs/.
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines"


def test_every_docs_page_is_linked_from_the_readme():
    targets = set(relative_links(REPO / "README.md"))
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in {t.split("#")[0] for t in targets}, page.name


def test_every_relative_link_points_to_an_existing_file():
    broken = []
    for page in PAGES:
        for target in relative_links(page):
            file_part, _, anchor = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            if not dest.exists():
                broken.append(f"{page.relative_to(REPO)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
