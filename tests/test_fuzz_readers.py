"""Every reader of untrusted input turns every failure into ganzoo's own error (one line
at the CLI's boundary, exit 1 or 2), never another exception, and changes no file:
checkpoints, exported safetensors generators, recipe YAML, a run's config.yaml, IDX
data files, each fed generated damage (random bytes, truncations, bit flips, wrong types,
deep nesting, huge declared sizes) by hypothesis. The last test checks the boundary
itself with real processes."""

from __future__ import annotations

import ganzoo
import gzip
import json
import shutil
import struct
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ganzoo.errors import GanzooError
from ganzoo.recipes import load_recipe, resolve
from ganzoo.plugins import get_host
from ganzoo.runs.checkpoint import load_checkpoint
from ganzoo.runs.folder import read_config
from ganzoo.artifacts import load_generator
from ganzoo.train.session import train_run

from conftest import run_cli, write_mnist_like

# No shrinking (it can take minutes on these inputs): a failure reports the input as generated.
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                database=None, phases=(Phase.explicit, Phase.generate), report_multiple_bugs=False)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def real_files(tmp_path_factory):
    """A real checkpoint and a real exported generator of a tiny acgan run."""
    root = tmp_path_factory.mktemp("fuzz")
    data = write_mnist_like(root / "data", per_class=4)
    run = train_run("acgan", "mnist", overrides=["max_steps=1", "batch_size=8", "latent_dim=8", "precision=fp32"],
                    data_dir=data, runs_dir=root / "runs", device="cpu", progress=False)
    exported = root / "g.safetensors"
    assert run_cli("export", "acgan", "--run", str(run), "--out", str(exported)).returncode == 0
    return Originals(checkpoint=run / "checkpoints" / "last.pt", safetensors=exported, config=run / "config.yaml",
                     data=data)


class Originals(dict):
    """The real files' paths; short in hypothesis's report of a failing case."""

    def __init__(self, **paths: Path):
        super().__init__(paths)

    def __repr__(self) -> str:
        return "Originals(...)"

    def bytes(self, name: str) -> bytes:
        return self[name].read_bytes()


def damaged(original: bytes):
    """Random bytes, a truncation, or a few flipped bits of ``original``."""
    flips = st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(0, 7)), min_size=1, max_size=8)
    return st.one_of(
        st.binary(max_size=4096),
        st.integers(0, len(original) - 1).map(lambda n: original[:n]),
        flips.map(lambda fs: _flip(original, fs)),
    )


def _flip(original: bytes, flips) -> bytes:
    data = bytearray(original)
    for at, bit in flips:
        data[at] ^= 1 << bit
    return bytes(data)


def reads_cleanly(read, path: Path) -> None:
    """``read(path)`` returns or raises a GanzooError; anything else fails the test, as
    does a change to the file."""
    before = path.read_bytes()
    try:
        read(path)
    except GanzooError as exc:
        assert str(exc) and "\n" not in str(exc).strip(), repr(exc)
    assert path.read_bytes() == before


@given(data=st.data())
@FUZZ
def test_checkpoints(real_files, tmp_path_factory, data):
    path = tmp_path_factory.mktemp("ckpt") / "c.pt"
    path.write_bytes(data.draw(damaged(real_files.bytes("checkpoint"))))
    reads_cleanly(lambda p: load_checkpoint(p), path)
    reads_cleanly(lambda p: load_generator(p, "acgan", CPU), path)


def _safetensors(header: object, body: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


headers = st.fixed_dictionaries({
    "__metadata__": st.one_of(st.none(), st.dictionaries(st.sampled_from(["format", "config", "model"]),
                                                         st.one_of(st.text(max_size=20),
                                                                   st.just("ganzoo-generator-v1"),
                                                                   st.just(json.dumps([1, 2])),
                                                                   st.just(json.dumps({"settings": None}))))),
    "w": st.fixed_dictionaries({"dtype": st.sampled_from(["F32", "I8", "BF16", "XX"]),
                                "shape": st.lists(st.integers(-2, 2**40), max_size=3),
                                "data_offsets": st.lists(st.integers(-5, 2**62), min_size=2, max_size=2)}),
})


@given(data=st.data())
@FUZZ
def test_exported_generators(real_files, tmp_path_factory, data):
    path = tmp_path_factory.mktemp("st") / "g.safetensors"
    content = data.draw(st.one_of(damaged(real_files.bytes("safetensors")),
                                  headers.map(lambda h: _safetensors(h, b"\0" * 64))))
    path.write_bytes(content)
    reads_cleanly(lambda p: load_generator(p, "acgan", CPU), path)


def unsealed(metadata: dict) -> dict:
    """An export's metadata without its checksum: a file another tool wrote, or ganzoo before 0.6."""
    return {key: value for key, value in metadata.items() if key != "sha256"}


def test_exported_int8_weights_are_refused_not_cast(real_files, tmp_path):
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    good = tmp_path / "good.safetensors"
    good.write_bytes(real_files.bytes("safetensors"))
    with safe_open(str(good), framework="pt") as f:
        metadata = f.metadata()
    tensors = {k: (v.to(torch.int8) if v.is_floating_point() else v) for k, v in load_file(str(good)).items()}
    bad = tmp_path / "int8.safetensors"
    save_file(tensors, str(bad), metadata=unsealed(metadata))
    with pytest.raises(GanzooError, match="is int8, not floating point"):
        load_generator(bad, "acgan", CPU)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_exported_non_finite_weights_are_refused(real_files, tmp_path, value):
    """An export whose weights were all NaN sampled an all-black image with exit 0."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    good = tmp_path / "good.safetensors"
    good.write_bytes(real_files.bytes("safetensors"))
    with safe_open(str(good), framework="pt") as f:
        metadata = f.metadata()
    tensors = {k: (torch.full_like(v, value) if v.is_floating_point() else v) for k, v in load_file(str(good)).items()}
    bad = tmp_path / "nan.safetensors"
    save_file(tensors, str(bad), metadata=unsealed(metadata))
    with pytest.raises(GanzooError, match=r"more holds NaN or infinite values; such a generator draws no image"):
        load_generator(bad, "acgan", CPU)
    load_generator(good, "acgan", CPU)  # finite weights load as before


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20,
)
recipe_like = st.dictionaries(
    st.sampled_from(["dataset", "epochs", "lr", "betas", "batch_size", "models", "preset", "loss", "image_size",
                     "channels", "max_steps", "ema", "augment", "unknown"]), yaml_values, max_size=6)


@given(text=st.one_of(st.text(max_size=300), recipe_like.map(lambda d: yaml.safe_dump(d)),
                      st.integers(1, 3000).map(lambda n: "a: " + "[" * n + "]" * n),
                      st.just("a: &x [*x]"), st.just("dataset: mnist\ndataset: cifar10\n"),
                      st.sampled_from(["1: 2", "null: x", "dataset: mnist\nmodels:\n  acgan:\n    3: 4\n",
                                       "dataset: mnist\nspeed: {1.5: fp32}\n"])))
@FUZZ
def test_recipes(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("recipe") / "r.yaml"
    path.write_text(text, encoding="utf-8")
    host = get_host()

    def read(p):
        name, raw = load_recipe(str(p), host.recipes)
        resolve(ganzoo.get_model_spec("acgan"), name, raw, {})

    reads_cleanly(read, path)


@given(data=st.data())
@FUZZ
def test_run_configs(real_files, tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("run")
    text = data.draw(st.one_of(damaged(real_files.bytes("config")),
                               recipe_like.map(lambda d: yaml.safe_dump(d).encode())))
    (folder / "config.yaml").write_bytes(text)
    reads_cleanly(lambda p: read_config(p.parent), folder / "config.yaml")


@given(data=st.data())
@FUZZ
def test_idx_files(real_files, tmp_path_factory, data):
    from ganzoo.data import load_dataset

    root = tmp_path_factory.mktemp("idx")
    shutil.copytree(real_files["data"], root, dirs_exist_ok=True)
    raw = root / "MNIST" / "raw"
    name = data.draw(st.sampled_from(sorted(p.name for p in raw.iterdir())))
    original = (raw / name).read_bytes()
    plain = gzip.decompress(original) if name.endswith(".gz") else original
    damage = data.draw(st.one_of(
        damaged(plain),
        st.just(struct.pack(">IIII", 0x803, 2**31 - 1, 28, 28) + plain[16:]),  # a huge declared count
        st.just(b""),
    ))
    (raw / name).write_bytes(gzip.compress(damage) if name.endswith(".gz") else damage)
    reads_cleanly(lambda p: load_dataset("mnist", root, train="train" in name), raw / name)


def _npz_bytes(**arrays) -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def good_npz() -> bytes:
    import numpy as np

    images = np.random.default_rng(0).integers(0, 256, (20, 16, 16), dtype=np.uint8)
    return _npz_bytes(images=images, labels=np.arange(20) % 10)


arrays = st.one_of(
    st.tuples(st.sampled_from(["uint8", "float32", "int64", "bool"]),
              st.lists(st.integers(0, 12), min_size=0, max_size=4)),
)


@given(data=st.data())
@FUZZ
def test_npz_image_sets(good_npz, tmp_path_factory, data):
    import numpy as np

    from ganzoo.evaluate.images import read_image_set

    path = tmp_path_factory.mktemp("npz") / "x.npz"
    made = data.draw(st.one_of(
        damaged(good_npz),
        st.builds(lambda image, label: _npz_bytes(images=np.zeros(image[1], image[0]), labels=np.zeros(label[1], label[0])),
                  arrays, arrays),
        st.just(_npz_bytes(images=np.array([1, "x"], dtype=object))),
    ))
    path.write_bytes(made)
    names = [str(k) for k in range(10)]
    reads_cleanly(lambda p: read_image_set(p, progress=False).labels_for(names), path)


@given(data=st.data())
@FUZZ
def test_image_folders(good_npz, tmp_path_factory, data):
    import io

    import numpy as np
    from PIL import Image

    from ganzoo.evaluate.images import read_image_set

    folder = tmp_path_factory.mktemp("pngs")
    picture = io.BytesIO()
    Image.fromarray(np.full((16, 16), 200, np.uint8)).save(picture, format="PNG")
    good = picture.getvalue()
    names = data.draw(st.lists(st.sampled_from(["0", "1", "9", "10", "seven", "x"]), min_size=1, max_size=3, unique=True))
    for name in names:
        (folder / name).mkdir()
        (folder / name / "a.png").write_bytes(good)
        (folder / name / "b.png").write_bytes(data.draw(damaged(good)))
    reads_cleanly(lambda p: read_image_set(p.parent, progress=False).labels_for([str(k) for k in range(10)]),
                  folder / names[0] / "b.png")


@pytest.mark.parametrize("command", [
    ["sample", "acgan", "--checkpoint", "{bad}"],
    ["sample", "acgan", "--checkpoint", "{bad_st}"],
    ["train", "acgan", "--recipe", "{bad_yaml}"],
])
def test_the_cli_says_one_line(tmp_path, command):
    files = {"bad": tmp_path / "x.pt", "bad_st": tmp_path / "x.safetensors", "bad_yaml": tmp_path / "x.yaml"}
    files["bad"].write_bytes(b"\x80\x02garbage" * 10)
    files["bad_st"].write_bytes(_safetensors({"__metadata__": None, "w": {"dtype": "F32", "shape": [2**40],
                                                                         "data_offsets": [0, 4]}}))
    files["bad_yaml"].write_text("dataset: mnist\nlr: [1, 2\n")
    result = run_cli(*[part.format(**files) for part in command], "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode in (1, 2), result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganzoo: error: "), result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def multiplying_aliases(levels: int = 8) -> str:
    """'Billion laughs': each anchor a list of nine of the one before, 9**levels values."""
    lines, previous = ["x0: &x0 [a, a, a, a, a, a, a, a, a]"], "x0"
    for level in range(1, levels + 1):
        lines.append(f"x{level}: &x{level} [{', '.join(['*' + previous] * 9)}]")
        previous = f"x{level}"
    return "\n".join(lines + ["dataset: mnist", f"augment: *{previous}"]) + "\n"


@pytest.mark.parametrize("case", ["dev-zero", "aliases", "name-not-text", "long-value"])
def test_settings_files_and_errors_are_bounded(tmp_path, case):
    """--recipe /dev/zero read until the kernel killed it; aliases that multiply ran for
    minutes and printed a line of gigabytes; a key that is not text was an internal
    TypeError; an error quoting a long value printed all of it."""
    recipe = tmp_path / "r.yaml"
    args = {"dev-zero": ["--recipe", "/dev/zero"], "aliases": ["--recipe", str(recipe)],
            "name-not-text": ["--recipe", str(recipe)],
            "long-value": ["--recipe", "mnist", "--set", "dataset=" + "x" * 5000]}[case]
    if case == "aliases":
        recipe.write_text(multiplying_aliases(), encoding="utf-8")
    if case == "name-not-text":
        recipe.write_text("dataset: mnist\n1: 2\n", encoding="utf-8")
    if case == "dev-zero" and not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    result = run_cli("train", "acgan", *args, "--runs-dir", str(tmp_path / "runs"), timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and len(lines[0]) <= 500, result.stderr[:1000]
    assert "internal error" not in lines[0]
    expected = {"dev-zero": "larger than 1 MiB", "aliases": "more than 100,000 values",
                "name-not-text": "the name 1 (int) is not text", "long-value": "characters)...x"}[case]
    assert expected in lines[0]
    assert not (tmp_path / "runs").exists()


def test_a_run_config_past_the_size_limit_is_refused(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.yaml").write_text("model: acgan\nnote: '" + "x" * (1 << 20) + "'\n", encoding="utf-8")
    with pytest.raises(GanzooError, match="larger than 1 MiB"):
        read_config(folder)


def test_whole_file_reads_are_bounded(tmp_path, monkeypatch):
    """A run's lock, metrics.jsonl and reports are read within limits: a lock file of
    100,000 digits was int()'ed (Python's own limit: an internal ValueError), a line of
    megabytes in metrics.jsonl was read whole, any report.json was read whatever its size."""
    from ganzoo.runs import listing, lock
    from ganzoo.runs.folder import RunFolder, read_metrics

    run = tmp_path / "run"
    (run / "reports" / "step_1").mkdir(parents=True)
    (run / lock.LOCK_NAME).write_text("7" * 100_000)
    assert lock.recorded_process(run) is None
    good = '{"step": 1, "d_loss": 1.0}\n'
    RunFolder(run).metrics.write_text(good * 2 + '{"step": 2, "x": "' + "y" * (2 << 20) + '"}\n' + good)
    assert [record["step"] for _, record in read_metrics(run)] == [1, 1]  # stops at the line no log of ours has
    (run / "reports" / "step_1" / "report.json").write_text('{"step": 1, "pad": "' + "z" * 1000 + '"}')
    assert listing.newest_report(RunFolder(run)) is not None
    monkeypatch.setattr(listing, "REPORT_LIMIT", 100)
    assert listing.newest_report(RunFolder(run)) is None  # past the limit: not read


@pytest.mark.parametrize("kind", ["checkpoint", "safetensors"])
def test_a_byte_changed_anywhere_in_a_checkpoint_or_export_is_found_on_load(real_files, tmp_path, kind):
    """A checkpoint with one byte flipped in the middle loaded and sampled with exit 0: the
    zip's CRCs were never checked. Each file is sealed with its checksum now (runs/seal.py,
    an export's metadata); one bit flipped at each of 20 positions, from the first byte to
    the last, is refused on load every time."""
    original = real_files.bytes(kind)
    load = (lambda p: load_checkpoint(p)) if kind == "checkpoint" else (lambda p: load_generator(p, "acgan", CPU))
    good = tmp_path / ("good.pt" if kind == "checkpoint" else "good.safetensors")
    good.write_bytes(original)
    load(good)  # intact, it loads
    positions = sorted({round(i * (len(original) - 1) / 19) for i in range(20)} | {len(original) // 2})
    for position in positions:
        damaged_file = tmp_path / ("x.pt" if kind == "checkpoint" else "x.safetensors")
        flipped = bytearray(original)
        flipped[position] ^= 0x04
        damaged_file.write_bytes(bytes(flipped))
        with pytest.raises(GanzooError):
            load(damaged_file)
