"""The report page: one row per file, every link resolves, and a browser loads it all."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from inverters import cli, report
from tests.test_invert import setup  # noqa: F401  (fixture)

LAYERS = ("fc8", "conv5")
CHECK = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const broken = images.filter((i) => !(i.complete && i.naturalWidth > 0)).length;
  const sounds = [...document.querySelectorAll("audio")];
  Promise.all(sounds.map((a) => a.readyState >= 1 ? 1 : new Promise((done) => {
    a.onloadedmetadata = () => done(1);
    a.onerror = () => done(0);
  }))).then((ok) => document.body.setAttribute("data-check", JSON.stringify({
    images: images.length, broken: broken, sounds: sounds.length,
    loaded: ok.reduce((x, y) => x + y, 0)})));
});
</script>"""


class Links(HTMLParser):
    """Every src and href of a page, and its table rows."""

    def __init__(self):
        super().__init__()
        self.links, self.rows = [], 0

    def handle_starttag(self, tag, attrs):
        self.rows += tag == "tr"
        self.links += [value for name, value in attrs if name in ("src", "href")]


@pytest.fixture
def results(setup):  # noqa: F811
    """invert.py --save-arrays --audio for two layers, each into results/<layer>/."""
    for layer in LAYERS:
        argv = [str(setup / "classifier.npz"), str(setup / f"inv_{layer}.npz"), str(setup)]
        argv += [str(setup / "results" / layer), "--dataset", "tiny", "--layer", layer]
        argv += ["--meanstd", str(setup / "meanstd.npz"), "--time-index", "0", "--format", "png"]
        cli.main([*argv, "--save-arrays", "--audio", "--device", "cpu"])
    return setup / "results"


def test_the_page_has_a_row_per_file_and_every_link_resolves(results):
    page = report.write_report(results)
    parser = Links()
    parser.feed(page.read_text())
    n_files = len(list((results / "fc8").glob("*.npz")))
    assert n_files >= 3 and parser.rows == n_files + 1  # and the header
    # Per file: input thumbnail and plot, two layers' thumbnails and plots, four sounds.
    assert len(parser.links) == n_files * (2 + 2 * len(LAYERS) + 2 + len(LAYERS))
    for link in parser.links:
        assert not re.match(r"[a-z]+:", link), link  # relative, nothing from the network
        assert (results / link).is_file(), link


def test_without_saved_arrays_the_report_is_one_error_line(tmp_path, capsys):
    (tmp_path / "fc8").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        report.main([str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no <layer>/plot_fileid_*.npz found" in err[0]


def chromium(*args, timeout=90):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    flags += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    binary = shutil.which("chromium")
    return subprocess.run(
        [binary, *flags, *args], capture_output=True, text=True, timeout=timeout, check=True
    )


@pytest.mark.subprocess
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_a_real_browser_loads_every_image_and_sound(results, tmp_path):
    page = report.write_report(results)
    check = page.with_name("check.html")  # beside it, so the relative links hold
    check.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    dom = chromium(profile, "--virtual-time-budget=20000", "--dump-dom", check.as_uri()).stdout
    found = json.loads(re.search(r"data-check=\"([^\"]*)\"", dom).group(1).replace("&quot;", '"'))
    n_files = len(list((results / "fc8").glob("*.npz")))
    assert found["images"] == n_files * (1 + len(LAYERS)) and found["broken"] == 0
    assert found["sounds"] == n_files * (2 + len(LAYERS)) == found["loaded"]
    shot = tmp_path / "report.png"
    chromium(profile, "--window-size=1200,800", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 10_000
