"""Long work shows a bar on stderr where someone watches (a terminal, or TEXTGAN_PROGRESS=1) and
stays silent in logs and pipes (or with TEXTGAN_PROGRESS=0)."""

import pytest
import torch

from textgan.metrics.lm_score import train_language_model
from textgan.progress import progress, progress_enabled


# pytest's stderr: no TTY
@pytest.mark.parametrize(("setting", "shown"), [("1", True), ("0", False), ("", False)])
def test_progress_follows_the_setting(monkeypatch, setting, shown):
    monkeypatch.setenv("TEXTGAN_PROGRESS", setting)
    assert progress_enabled() is shown


def test_bars_go_to_stderr_and_leave_the_items_unchanged(monkeypatch, capsys):
    monkeypatch.setenv("TEXTGAN_PROGRESS", "1")
    assert list(progress([0.5, 1.0, 1.5], "sweep", unit="T")) == [0.5, 1.0, 1.5]
    rows = torch.randint(0, 7, (20, 6))
    train_language_model(rows, 7, None, desc="an LM of the samples")
    out, err = capsys.readouterr()
    assert out == "" and "sweep:" in err and "an LM of the samples:" in err
