"""The README documents every config key (its table is generated from the manifests)."""

from seedsift import docs, manifests

from conftest import REPO


def test_readme_config_reference_is_current():
    text = (REPO / "README.md").read_text()
    assert docs.readme_block(text) == docs.config_reference(), "run: python -m seedsift.docs README.md"


def test_every_config_key_is_in_the_readme():
    text = (REPO / "README.md").read_text()
    for key in manifests.config_bounds():
        assert f"`{key}`" in text, key


def test_readme_shows_the_two_commands():
    text = (REPO / "README.md").read_text()
    assert "make run" in text and "make test" in text
