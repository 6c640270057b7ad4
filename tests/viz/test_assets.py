"""The page's stylesheet and script are package data files, declared so that a wheel ships them."""

from __future__ import annotations

from pathlib import Path

import tomllib

import archc
from archc.viz.html import asset, to_html

ROOT = Path(__file__).resolve().parents[2]


def test_every_asset_is_declared_as_package_data():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"]["archc.viz"]
    files = sorted(path.name for path in (ROOT / "archc" / "viz" / "assets").iterdir())
    assert files == ["page.css", "page.js"]
    shipped = {path.name for pattern in declared for path in (ROOT / "archc" / "viz").glob(pattern)}
    assert shipped == set(files)


def test_the_page_inlines_the_asset_files():
    page = to_html(archc.build_graph("resnet20"))
    assert asset("page.css") in page and asset("page.js") in page
    assert "#canvas" in asset("page.css") and '"use strict"' in asset("page.js")
