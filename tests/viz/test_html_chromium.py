"""The ``archc draw -o net.html`` page opened in headless Chromium: it renders the graph and logs no console error."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import archc
from archc.cli import main

SPECS = Path(__file__).parent / "specs"
CHROMIUM = next((found for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
                 if (found := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium), so "
                                "the interactive page cannot be opened headless")


def open_page(page: Path, profile: Path, fragment: str = "", screenshot: Path | None = None) -> tuple[str, list[str]]:
    """(the DOM after the scripts ran, or "" for a screenshot; the console messages the page logged)."""
    arguments = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--enable-logging=stderr", "--v=1", "--window-size=1200,900"]
    arguments.append(f"--screenshot={screenshot}" if screenshot else "--dump-dom")
    arguments.append(page.resolve().as_uri() + fragment)
    result = subprocess.run(arguments, capture_output=True, text=True, timeout=180, check=False)
    console = re.findall(r":CONSOLE[:(]\d+\)?\] (.*)", result.stderr)  # the format of Chromium 120-150
    return result.stdout, console


def body(dom: str) -> str:
    """The attributes of <body>: data-rendered (boxes drawn), data-errors (script errors the page caught)."""
    return re.search(r"<body([^>]*)>", dom).group(1)


def units(dom: str) -> list[tuple[str, str]]:
    """(class, data-id) of every box the page drew."""
    return re.findall(r'<g class="(unit [^"]*)" data-id="([^"]*)"', dom)


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pages")
    made = {}
    for key, spec, depth in (("highway", str(SPECS / "highway_small.yaml"), "0"), ("resnet50", "resnet50", "2"),
                             ("broken", str(SPECS / "broken.yaml"), "0")):
        made[key] = folder / f"{key}.html"
        main(["draw", spec, "-o", str(made[key]), "--depth", depth])
    return made


def test_the_console_check_catches_an_error(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><script>notDefinedAnywhere();</script></body></html>")
    _, console = open_page(page, tmp_path / "profile")
    assert any("notDefinedAnywhere" in line for line in console), console


def test_every_node_and_edge_kind_is_drawn(pages, tmp_path):
    dom, console = open_page(pages["highway"], tmp_path / "profile")
    assert console == []
    assert 'data-rendered="33"' in body(dom) and "data-errors" not in body(dom)
    drawn = {node_id for _, node_id in units(dom)}
    assert drawn == set(archc.build_graph(SPECS / "highway_small.yaml").nodes)
    kinds = set(re.findall(r'class="edge edge-(\w+)"', dom))
    assert kinds == {"data", "gate", "se"}
    assert re.search(r'class="unit node op-mul merge-gate" data-id="hw1.mul"', dom)
    assert "highway gate (sub, mul, add)" in dom  # the legend
    assert dom.count('class="cluster"') >= 4  # hw0, hw1, hw2, se


def test_depth_collapses_and_the_address_expands(pages, tmp_path):
    dom, console = open_page(pages["resnet50"], tmp_path / "profile")
    assert console == []
    boxes = units(dom)
    assert len(boxes) == 24 and ("unit group", "layer3.4") in boxes
    dom, console = open_page(pages["resnet50"], tmp_path / "profile", "#depth=2&expand=layer2.1")
    assert console == [] and ("unit node op-conv", "layer2.1.conv2") in units(dom)
    assert ("unit group", "layer2.0") in units(dom)
    dom, console = open_page(pages["resnet50"], tmp_path / "profile", "#depth=0")
    assert console == []
    assert len(units(dom)) == len(archc.build_graph("resnet50"))


def test_hover_card_gives_attributes_shapes_and_cost(pages, tmp_path):
    dom, console = open_page(pages["resnet50"], tmp_path / "profile", "#depth=3&tip=layer2.0.conv2")
    assert console == []
    card = re.search(r'<div id="tooltip"[^>]*>(.*?)</div>\s*<script', dom, re.S)
    assert card and "hidden" not in re.search(r'<div id="tooltip"[^>]*>', dom).group(0)
    text = re.sub(r"<[^>]+>", " ", card.group(1))
    conv2 = archc.build_graph("resnet50").nodes["layer2.0.conv2"]
    for expected in ("layer2.0.conv2", "conv 3×3 /2", "kernel", "stride", "layer2.0.relu 128×56×56", "128×28×28",
                     f"{conv2['params']:,}", f"{conv2['macs']:,}", "resnet50.yaml:"):
        assert expected in text, expected


def test_errors_are_marked(pages, tmp_path):
    dom, console = open_page(pages["broken"], tmp_path / "profile")
    assert console == []
    assert ("unit node op-conv error", "conv2") in units(dom)
    assert 'class="cluster error" data-id="block1"' in dom
    assert "must be divisible by groups" in dom and "shortcut is identity" in dom


def test_the_screenshot_shows_the_graph(pages, tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    shot = tmp_path / "highway.png"
    _, console = open_page(pages["highway"], tmp_path / "profile", "#scale=1&focus=hw1.mul", screenshot=shot)
    assert console == []
    image = image_module.open(shot).convert("RGB")
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 24)}
    assert (0xE0, 0x7B, 0x00) in colours  # the highway gate edges
    assert (0xFD, 0xE8, 0xCC) in colours  # the gate merge boxes
