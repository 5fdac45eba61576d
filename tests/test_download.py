"""The download paths, run against a local HTTP server holding small fake files."""

import dataclasses
import hashlib
import http.server
import importlib.util
import io
import socket
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from svdnet.download import DownloadError, download, extract_archive
from tests.conftest import REFERENCE

REPO_ROOT = Path(__file__).resolve().parents[1]
SONGS = {"train": "01 - Alpha.ogg", "valid": "02 - Beta.mp3", "test": "03 - Gamma.ogg"}


def load_script(relative_path, module_name):
    """Import a script that is not part of a package."""
    spec = importlib.util.spec_from_file_location(module_name, REPO_ROOT / relative_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus_script = load_script("datasets/jamendo/download.py", "jamendo_download")
weights_script = load_script("scripts/download_published_weights.py", "weights_download")


@pytest.fixture
def server(tmp_path):
    """Serve ``tmp_path/www`` on 127.0.0.1; yield (base URL, folder, list of requested paths)."""
    www = tmp_path / "www"
    www.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            if self.path == "/cut-short":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"only ten b")
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval keeps shutdown (and so each test) quick.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www, requests
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def write_tar_gz(path, members):
    """Write a .tar.gz holding ``members`` (archive name -> bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))


def write_fake_corpus(www, macos_metadata=False):
    """Publish the split archives and the annotation archive the way the corpus does."""
    for split, song in SONGS.items():
        members = {f"{split}/{song}": f"audio of {song}".encode()}
        if macos_metadata:
            members[f"{split}/._{song}"] = b"resource fork"
        write_tar_gz(www / f"jam_{split}_audio.tar.gz", members)
    labels = {
        f"jamendo_lab/{Path(song).stem}.lab": b"0.0 10.5 nosing\n10.5 20.0 sing\n"
        for song in SONGS.values()
    }
    write_tar_gz(www / "jam_annote.tar.gz", labels)


def write_fake_weights(www):
    """Publish a small stand-in for every weight file; return name -> SHA-256 digest."""
    digests = {}
    for i, entry in enumerate(weights_script.WEIGHT_FILES):
        path = www / entry.name
        path.parent.mkdir(parents=True, exist_ok=True)
        if entry.kind == "meanstd":
            np.savez(path, mean=np.zeros(80), std=np.ones(80))
        else:
            np.savez(path, param0=np.full((3, 2), i, np.float32), param1=np.zeros(2, np.float32))
        digests[entry.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


@pytest.fixture
def fake_weights(server, monkeypatch):
    """Publish fake weights and make the script expect their digests where it checks any."""
    base_url, www, requests = server
    digests = write_fake_weights(www)
    entries = tuple(
        dataclasses.replace(e, sha256=digests[e.name] if e.sha256 else None)
        for e in weights_script.WEIGHT_FILES
    )
    monkeypatch.setattr(weights_script, "WEIGHT_FILES", entries)
    return base_url, www, requests


def run_main(main, argv, capsys):
    """Run a script's main; return (exit status, stderr lines)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code, capsys.readouterr().err.strip().splitlines()


# --- svdnet.download.download ---------------------------------------------------


def test_download_writes_the_served_bytes(server, tmp_path):
    base_url, www, _ = server
    (www / "file.bin").write_bytes(b"x" * 200_000)
    dest = tmp_path / "out" / "file.bin"
    download(f"{base_url}/file.bin", dest, progress=False)
    assert dest.read_bytes() == b"x" * 200_000


def test_download_checksum_mismatch_raises_and_leaves_no_file(server, tmp_path):
    base_url, www, _ = server
    (www / "file.bin").write_bytes(b"served bytes")
    found = hashlib.sha256(b"served bytes").hexdigest()
    expected = "0" * 64
    out = tmp_path / "out"
    with pytest.raises(DownloadError) as error:
        download(f"{base_url}/file.bin", out / "file.bin", sha256=expected, progress=False)
    message = str(error.value)
    assert str(out / "file.bin") in message and expected in message and found in message
    assert list(out.iterdir()) == []


def test_download_http_404_names_the_url(server, tmp_path):
    base_url, _, _ = server
    url = f"{base_url}/missing.bin"
    with pytest.raises(DownloadError, match="missing.bin.*404"):
        download(url, tmp_path / "missing.bin", progress=False)
    assert not (tmp_path / "missing.bin").exists()


def test_download_unreachable_host_names_the_url(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/file.bin"
    with pytest.raises(DownloadError, match=f"127.0.0.1:{port}/file.bin: cannot be reached"):
        download(url, tmp_path / "file.bin", progress=False)


def test_download_cut_short_raises_and_leaves_no_file(server, tmp_path):
    base_url, _, _ = server
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match="cut-short"):
        download(f"{base_url}/cut-short", out / "file.bin", progress=False)
    assert list(out.iterdir()) == []


def test_download_keeps_an_existing_file_with_matching_checksum(server, tmp_path):
    base_url, www, requests = server
    (www / "file.bin").write_bytes(b"new")
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"old")
    download(f"{base_url}/file.bin", dest, sha256=hashlib.sha256(b"old").hexdigest())
    assert requests == [] and dest.read_bytes() == b"old"


def test_download_replaces_an_existing_file_with_wrong_checksum(server, tmp_path):
    base_url, www, requests = server
    (www / "file.bin").write_bytes(b"good")
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"stale")
    download(f"{base_url}/file.bin", dest, sha256=hashlib.sha256(b"good").hexdigest())
    assert requests == ["/file.bin"] and dest.read_bytes() == b"good"


# --- svdnet.download.extract_archive --------------------------------------------


def test_extract_archive_unpacks_zip_and_tar_gz(tmp_path):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.writestr("dir/one.lab", "1")
    write_tar_gz(tmp_path / "b.tar.gz", {"dir/two.lab": b"2"})
    zip_files = extract_archive(tmp_path / "a.zip", tmp_path / "out")
    tar_files = extract_archive(tmp_path / "b.tar.gz", tmp_path / "out")
    assert zip_files == [tmp_path / "out" / "dir" / "one.lab"]
    assert tar_files == [tmp_path / "out" / "dir" / "two.lab"]
    assert (tmp_path / "out" / "dir" / "two.lab").read_bytes() == b"2"


@pytest.mark.parametrize("member", ["../escape.txt", "dir/../../escape.txt", "/tmp/escape.txt"])
def test_extract_archive_rejects_tar_members_outside_the_folder(tmp_path, member):
    write_tar_gz(tmp_path / "bad.tar.gz", {"fine.txt": b"ok", member: b"evil"})
    with pytest.raises(DownloadError, match="refusing to unpack"):
        extract_archive(tmp_path / "bad.tar.gz", tmp_path / "out" / "inner")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").rglob("*.txt")) == []
    assert not (tmp_path / "escape.txt").exists()


def test_extract_archive_rejects_zip_members_with_dotdot(tmp_path):
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as archive:
        archive.writestr("fine.txt", "ok")
        archive.writestr("../escape.txt", "evil")
    with pytest.raises(DownloadError, match="refusing to unpack"):
        extract_archive(tmp_path / "bad.zip", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_extract_archive_rejects_tar_links(tmp_path):
    with tarfile.open(tmp_path / "link.tar.gz", "w:gz") as archive:
        info = tarfile.TarInfo("innocent.lab")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        archive.addfile(info)
    with pytest.raises(DownloadError, match="link or special file"):
        extract_archive(tmp_path / "link.tar.gz", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


# --- datasets/jamendo/download.py -----------------------------------------------


def test_corpus_lands_in_the_project_layout(server, tmp_path):
    base_url, www, _ = server
    write_fake_corpus(www)
    dest = tmp_path / "datasets" / "jamendo"
    corpus_script.main([str(dest), "--base-url", base_url, "--no-progress"])
    assert sorted(p.name for p in (dest / "audio").iterdir()) == sorted(SONGS.values())
    assert (dest / "audio" / "02 - Beta.mp3").read_bytes() == b"audio of 02 - Beta.mp3"
    for split, song in SONGS.items():
        assert (dest / "filelists" / split).read_text() == f"{song}\n"
        label = (dest / "labels" / f"{Path(song).stem}.lab").read_text()
        assert label == "0.0 10.5 nosing\n10.5 20.0 sing\n"
    assert sorted(p.name for p in dest.iterdir()) == ["audio", "filelists", "labels"]


def test_corpus_skips_macos_metadata_files(server, tmp_path):
    base_url, www, _ = server
    write_fake_corpus(www, macos_metadata=True)
    dest = tmp_path / "jamendo"
    corpus_script.main([str(dest), "--base-url", base_url, "--no-progress"])
    assert sorted(p.name for p in (dest / "audio").iterdir()) == sorted(SONGS.values())
    assert (dest / "filelists" / "train").read_text() == f"{SONGS['train']}\n"


def test_corpus_already_present_is_not_downloaded_again(server, tmp_path):
    base_url, www, requests = server
    write_fake_corpus(www)
    dest = tmp_path / "jamendo"
    corpus_script.main([str(dest), "--base-url", base_url, "--no-progress"])
    assert len(requests) == 4
    corpus_script.main([str(dest), "--base-url", base_url, "--no-progress"])
    assert len(requests) == 4


def test_corpus_refetches_only_an_incomplete_split(server, tmp_path):
    base_url, www, requests = server
    write_fake_corpus(www)
    dest = tmp_path / "jamendo"
    corpus_script.main([str(dest), "--base-url", base_url, "--no-progress"])
    (dest / "audio" / SONGS["valid"]).unlink()
    requests.clear()
    corpus_script.main([str(dest), "--base-url", base_url, "--no-progress"])
    assert requests == ["/jam_valid_audio.tar.gz"]
    assert (dest / "audio" / SONGS["valid"]).is_file()


def test_corpus_missing_archive_exits_2_naming_the_url(server, tmp_path, capsys):
    base_url, www, _ = server
    write_fake_corpus(www)
    (www / "jam_test_audio.tar.gz").unlink()
    status, err = run_main(
        corpus_script.main, [str(tmp_path / "j"), "--base-url", base_url, "--no-progress"], capsys
    )
    assert status == 2 and len(err) == 1
    assert f"{base_url}/jam_test_audio.tar.gz" in err[0] and "404" in err[0]


def test_corpus_song_without_label_exits_2(server, tmp_path, capsys):
    base_url, www, _ = server
    write_fake_corpus(www)
    write_tar_gz(www / "jam_annote.tar.gz", {"jamendo_lab/01 - Alpha.lab": b"0 1 sing\n"})
    status, err = run_main(
        corpus_script.main, [str(tmp_path / "j"), "--base-url", base_url, "--no-progress"], capsys
    )
    assert status == 2 and len(err) == 1
    assert "jam_annote.tar.gz" in err[0] and "no .lab file for 2 songs" in err[0]


def test_corpus_archive_with_dotdot_member_exits_2(server, tmp_path, capsys):
    base_url, www, _ = server
    write_fake_corpus(www)
    write_tar_gz(www / "jam_train_audio.tar.gz", {"../../evil.ogg": b"x"})
    dest = tmp_path / "a" / "b" / "jamendo"
    status, err = run_main(
        corpus_script.main, [str(dest), "--base-url", base_url, "--no-progress"], capsys
    )
    assert status == 2 and "refusing to unpack" in err[0]
    assert list(tmp_path.rglob("evil.ogg")) == []


# --- scripts/download_published_weights.py --------------------------------------


def test_weights_land_under_the_names_the_seed_commands_use(fake_weights, tmp_path):
    base_url, _, _ = fake_weights
    dest = tmp_path / "repo"
    weights_script.main(["--dest", str(dest), "--base-url", base_url, "--no-progress"])
    layers = ["fc8_a26", "fc7_a3", "mp6_a3", "conv5_a7", "conv4_a25", "mp3_a16"]
    layers += ["conv2_a15", "conv1_a1"]
    expected = ["jamendo_augment.npz", "jamendo_meanstd.npz"]
    expected += [f"models/jamendo_augment_gen_{layer}.npz" for layer in layers]
    found = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert found == sorted(expected)
    with np.load(dest / "models" / "jamendo_augment_gen_fc8_a26.npz") as f:
        assert sorted(f.files) == ["param0", "param1"]


def test_weights_already_present_are_not_downloaded_again(fake_weights, tmp_path):
    base_url, _, requests = fake_weights
    argv = ["--dest", str(tmp_path), "--base-url", base_url, "--no-progress"]
    weights_script.main(argv)
    assert len(requests) == len(weights_script.WEIGHT_FILES)
    weights_script.main(argv)
    assert len(requests) == len(weights_script.WEIGHT_FILES)


def test_weights_checksum_mismatch_exits_2_and_leaves_no_file(fake_weights, tmp_path, capsys):
    base_url, www, _ = fake_weights
    name = "models/jamendo_augment_gen_conv5_a7.npz"
    np.savez(www / name, param0=np.ones(3))
    status, err = run_main(
        weights_script.main,
        ["--dest", str(tmp_path), "--base-url", base_url, "--no-progress"],
        capsys,
    )
    assert status == 2 and len(err) == 1
    assert str(tmp_path / name) in err[0] and "checksum mismatch" in err[0]
    assert not (tmp_path / name).exists()
    assert [p.name for p in (tmp_path / "models").iterdir() if "conv5" in p.name] == []


def test_weights_non_lasagne_npz_is_rejected_and_removed(fake_weights, tmp_path, capsys):
    base_url, www, _ = fake_weights
    np.savez(www / "jamendo_augment.npz", W=np.ones(3), b=np.zeros(1))
    status, err = run_main(
        weights_script.main,
        ["--dest", str(tmp_path), "--base-url", base_url, "--no-progress"],
        capsys,
    )
    assert status == 2 and len(err) == 1
    assert str(tmp_path / "jamendo_augment.npz") in err[0] and "not a Lasagne" in err[0]
    assert not (tmp_path / "jamendo_augment.npz").exists()


def test_weights_file_that_is_not_npz_is_rejected_and_removed(fake_weights, tmp_path, capsys):
    base_url, www, _ = fake_weights
    (www / "jamendo_augment.npz").write_text("<html>Not Found</html>")
    status, err = run_main(
        weights_script.main,
        ["--dest", str(tmp_path), "--base-url", base_url, "--no-progress"],
        capsys,
    )
    assert status == 2 and "not a readable .npz" in err[0]
    assert not (tmp_path / "jamendo_augment.npz").exists()


def test_weights_without_a_known_address_are_skipped(fake_weights, tmp_path, monkeypatch):
    base_url, _, requests = fake_weights
    entries = tuple(
        dataclasses.replace(e, url=f"{base_url}/{e.name}" if e.url else None)
        for e in weights_script.WEIGHT_FILES
    )
    monkeypatch.setattr(weights_script, "WEIGHT_FILES", entries)
    weights_script.main(["--dest", str(tmp_path), "--no-progress"])
    assert "/jamendo_augment.npz" not in requests
    assert not (tmp_path / "jamendo_augment.npz").exists()
    assert (tmp_path / "jamendo_meanstd.npz").is_file()
    assert len(list((tmp_path / "models").iterdir())) == 8


def test_published_checksums_match_the_reference_copies_of_the_inverters():
    reference = REFERENCE / "original_weights"
    if not reference.is_dir():
        pytest.skip("no reference copies of the original weights next to the project")
    inverters = [e for e in weights_script.WEIGHT_FILES if e.name.startswith("models/")]
    assert len(inverters) == 8
    for entry in inverters:
        digest = hashlib.sha256((reference / Path(entry.name).name).read_bytes()).hexdigest()
        assert entry.sha256 == digest, entry.name
