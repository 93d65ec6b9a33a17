"""Every example notebook runs top to bottom on a tiny configuration.

Each notebook's first code cell is tagged ``parameters``; the test inserts a
cell right after it that overrides those values with a tiny configuration
(the papermill convention), executes the notebook in a fresh ``python3``
kernel with the working directory in a temporary folder, and fails if a cell
raises or if no cell produced a PNG figure. Notebooks are stored without
outputs, which is checked too.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

#: one tiny KA sweep shared by notebooks 02 and 03 (03 reuses 02's files when
#: both run in one process, and simulates them itself otherwise)
TINY_SWEEP = """
sweep_dir = {sweep!r}
temperatures = [2.0, 1.5]
num_particles = 64
dim = 2
equilibration_time = 0.2
production_time = 10.0
block_steps = 100
log_frames_per_block = 3
"""

#: tiny configurations injected after each notebook's parameters cell
TINY = {
    "01_cyclic_loss_spectra": """
width = 4
num_per_class = 10
amplitudes = [1.0, 20.0]
period = 20
num_steps = 40
record_every = 10
ntk_subset = 5
""",
    "02_lj_vs_wca": TINY_SWEEP,
    "03_softness": TINY_SWEEP
    + """
out_dir = "softness"
window = 2
p_c = 0.08
p_low = 0.02
min_per_class = 2
folds = 2
vibrations = False
""",
    "04_pnn_training": """
methods = ["in_silico"]
hidden = [4]
seeds = 1
epochs = 1
side_studies = False
""",
}


@pytest.fixture(scope="module")
def shared_sweep(tmp_path_factory):
    return tmp_path_factory.mktemp("sweep")


def _notebooks() -> list[Path]:
    return sorted(EXAMPLES.glob("*.ipynb"))


def test_every_notebook_has_a_tiny_configuration():
    names = {p.stem for p in _notebooks()}
    assert names == set(TINY), (
        f"notebooks {sorted(names)} vs tiny configs {sorted(TINY)}"
    )


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_notebook_is_stored_clean(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, (
            f"{path.name} is stored with outputs; clear them before committing"
        )


@pytest.mark.slow
@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_and_draws(path, tmp_path, shared_sweep):
    book = nbformat.read(path, as_version=4)
    index = next(
        i
        for i, cell in enumerate(book.cells)
        if "parameters" in cell.metadata.get("tags", [])
    )
    tiny = TINY[path.stem].format(sweep=str(shared_sweep)).strip()
    injected = nbformat.v4.new_code_cell(
        "# injected by tests/test_notebooks.py\n" + tiny
    )
    injected.metadata["tags"] = ["injected-parameters"]
    book.cells.insert(index + 1, injected)

    client = NotebookClient(
        book,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell

    figures = [
        out
        for cell in book.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "image/png" in out.get("data", {})
    ]
    assert figures, f"{path.name} produced no figure"
    errors = [
        out
        for cell in book.cells
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
