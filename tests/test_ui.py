"""``ganzoo ui``: the page's logic (no Gradio needed), its refusal of anything outside the
runs folder, and the page itself in headless Chromium where Gradio and a browser are
installed (``pip install 'ganzoo[ui]'``; skipped with the reason elsewhere)."""

from __future__ import annotations

import socket
import time

import pytest
import torch

import ganzoo.api as gz
from ganzoo.errors import UsageError
from ganzoo.train.session import train_run
from ganzoo.ui import Gallery, scan

from conftest import headless_chromium, run_cli, write_mnist_like


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A runs folder with an acgan run, its exported generator and its Hub folder."""
    base = tmp_path_factory.mktemp("ui")
    data = write_mnist_like(base / "data", per_class=6)
    run = train_run("acgan", "mnist", overrides=["max_steps=2", "batch_size=16"], data_dir=data,
                    runs_dir=base / "runs", device="cpu", progress=False)
    exported = base / "runs" / "exports" / "acgan.safetensors"
    exported.parent.mkdir()
    assert run_cli("export", "acgan", "--run", str(run), "--out", str(exported)).returncode == 0
    return base / "runs", run


def test_the_gallery_offers_what_the_runs_folder_holds_and_samples_like_the_api(runs):
    root, run = runs
    labels = [choice.label for choice in scan(root)]
    assert sorted(labels) == sorted([run.name, "exports/acgan.safetensors"])
    gallery = Gallery(root)
    assert gallery.classes(run.name)[7] == "7 - seven" and "acgan, step 2" in gallery.describe(run.name)
    grid, walk = gallery.render(run.name, "7 - seven", seed=3, n=4, truncation=1.0, seed_to=4)
    assert grid.size == (4 * 28 + 5 * 2, 28 + 2 * 2) and walk.size == (9 * 28 + 10 * 2, 28 + 2 * 2)
    expected = gz.load(run, device="cpu").sample("7 - seven", n=4, seed=3)
    first_tile = torch.frombuffer(bytearray(grid.crop((2, 2, 30, 30)).getchannel(0).tobytes()), dtype=torch.uint8).view(28, 28)
    assert torch.equal(first_tile, expected[0, 0])  # the page shows what the API samples
    # the exported file renders the same images as its run
    from_export, _ = gallery.render("exports/acgan.safetensors", "7 - seven", seed=3, n=4, truncation=1.0, seed_to=4)
    assert from_export.mode == grid.mode and from_export.tobytes() == grid.tobytes()


@pytest.mark.parametrize("label", ["../../etc/passwd", "/etc/passwd", "exports/../../x.safetensors"])
def test_the_gallery_reads_nothing_outside_the_runs_folder(runs, label):
    gallery = Gallery(runs[0])
    with pytest.raises(UsageError, match="is not a generator under"):
        gallery.render(label, None, seed=0, n=1, truncation=1.0, seed_to=1)


@pytest.mark.parametrize("seed, seed_to", [(-1, 1), (0, None), (2**63, 1)])
def test_the_gallery_refuses_a_seed_out_of_range_in_one_line(runs, seed, seed_to):
    root, run = runs
    with pytest.raises(UsageError, match="must be a whole number from 0 to 4611686018427387903"):
        Gallery(root).render(run.name, "7 - seven", seed=seed, n=1, truncation=1.0, seed_to=seed_to)


def test_ui_without_gradio_or_runs_is_one_clear_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("ui", "--runs-dir", str(empty))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    try:
        import gradio  # noqa: F401
    except ImportError:
        assert "ganzoo ui needs Gradio: pip install 'ganzoo[ui]'" in result.stderr
    else:
        assert "no run with a checkpoint" in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_page_draws_samples_for_a_chosen_class_in_a_browser(runs, tmp_path):
    pytest.importorskip("gradio", reason="Gradio (the [ui] extra) is not installed")
    driver = headless_chromium("1280,1400")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from ganzoo.ui import build_app

    app = build_app(Gallery(runs[0]))
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, share=False, quiet=True)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sample"))
        driver.find_element(By.CSS_SELECTOR, "#sample").click()

        def decoded(d):
            return d.execute_script(
                "return Array.from(document.querySelectorAll('#samples img, #walk img'))"
                ".map(i => i.complete && i.naturalWidth > 0 ? [i.naturalWidth, i.naturalHeight] : null)")

        WebDriverWait(driver, 120).until(lambda d: len(decoded(d)) == 2 and all(decoded(d)))
        sizes = decoded(driver)
        driver.save_screenshot(str(tmp_path / "ui.png"))
        assert sizes[0] == [8 * 28 + 9 * 2, 2 * 28 + 3 * 2]  # 16 samples of the first class, 8 a row
        assert sizes[1] == [9 * 28 + 10 * 2, 28 + 2 * 2]  # the walk: 9 frames
    finally:
        driver.quit()
        app.close()
        time.sleep(0.5)


def test_an_address_the_page_cannot_listen_on_is_said_in_words():
    """A port in use and a host that does not resolve were internal errors pointing at
    GRADIO_SERVER_PORT (the bad host blamed on the port)."""
    import socket

    from ganzoo.errors import UsageError
    from ganzoo.ui import check_address

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {taken} on 127.0.0.1 is in use by another program; pick another"):
            check_address("127.0.0.1", taken)
    with pytest.raises(UsageError, match="--host 'no.such.host.invalid' is neither an address nor a name that resolves"):
        check_address("no.such.host.invalid", 7860)
    with pytest.raises(UsageError, match="--host 192.0.2.1 is not an address of this machine"):
        check_address("192.0.2.1", 7860)  # TEST-NET-1: never a local address
    check_address("127.0.0.1", 0)  # a free port: no error


def test_serving_on_every_address_is_said(monkeypatch, capsys, tmp_path):
    """--host 0.0.0.0 served every address with no word that it did."""
    pytest.importorskip("gradio")
    from ganzoo import ui

    monkeypatch.setattr(ui, "Gallery", lambda root, device: (_ for _ in ()).throw(SystemExit(0)))
    with pytest.raises(SystemExit):
        ui.serve(tmp_path, host="0.0.0.0", port=0)
    assert "serving on every network address of this machine (--host 0.0.0.0)" in capsys.readouterr().err
