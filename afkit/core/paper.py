"""Every number the paper reports, once, each with where the paper says it.

The paper: arXiv 2408.14441 (Aug 2024), "Attend-Fusion: Efficient Audio-Visual Fusion for Video
Classification" (Awan, Nadeem, Awan, Mustafa, Husain). Its full text is not at hand: what we
hold is its reported results and the summary of its method, as ``PAPER.md`` (the project's
notes on the paper) records them. So "where" names the part of the paper a number comes from
as far as we know it (its reported results, its method summary), never a page or a table
number we have not seen.

Everything else with a number in afkit is *our reconstruction* (widths, the parameter counts
that round to the reported ones, the tuning protocol): see :mod:`afkit.models.reconstruction` and
:mod:`afkit.training.protocol`. This module imports no other module.
"""

from __future__ import annotations

#: the paper's two reported models, by the registry names of our reconstruction of them
MODEL_NAMES = {"attend_fusion": "Attend-Fusion", "fc_late": "FC late fusion"}

#: F1 (%) on YouTube-8M (audio + visual), the paper's reported results
F1_PCT = {"attend_fusion": 75.64, "fc_late": 75.96}

#: parameters as reported (rounded by the paper to 72M and 341M), the paper's reported results
PARAMETERS = {"attend_fusion": 72_000_000, "fc_late": 341_000_000}

#: Attend-Fusion minus FC late fusion, F1 points (-0.32): the difference of the reported F1
F1_DIFF = round(F1_PCT["attend_fusion"] - F1_PCT["fc_late"], 2)

#: the training recipe, as the paper's method summary states it (nothing else of it is given:
#: batch size, weight decay, schedule and early stopping are our reconstruction,
# afkit.training.train)
EPOCHS = 20
OPTIMIZER = "AdamW"
LEARNING_RATE = 1e-4
DROPOUT = 0.4

#: the one attention size the method summary mentions (the width of Q, K and V in our reading)
ATTENTION_SIZE = 1024

#: where each number above is stated
WHERE = {
    "F1_PCT": "the paper's reported results (arXiv 2408.14441): F1 of Attend-Fusion and of the "
    "fully-connected late-fusion baseline, audio + visual, YouTube-8M",
    "PARAMETERS": "the paper's reported results: 72M (Attend-Fusion) and 341M (FC late fusion); "
    "its summary: 'nearly 80%' fewer parameters (1 - 72/341 = 78.9%)",
    "F1_DIFF": "arithmetic on the reported F1 (not a number the paper prints)",
    "EPOCHS": "the paper's method summary: 20 epochs, AdamW, learning rate 1e-4, dropout 0.4",
    "OPTIMIZER": "the paper's method summary (see EPOCHS)",
    "LEARNING_RATE": "the paper's method summary (see EPOCHS)",
    "DROPOUT": "the paper's method summary (see EPOCHS)",
    "ATTENTION_SIZE": "the paper's method summary: 'an attention size of 1024'",
}


def millions(model: str) -> str:
    """The reported parameter count of ``model`` as the paper writes it (e.g. ``"72M"``)."""
    return f"{PARAMETERS[model] / 1e6:.0f}M"
