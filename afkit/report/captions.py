"""The caption of each table and figure the notebooks write: what it shows and on what data.

``{data}`` is filled with the run's data ("the synthetic set", "the YouTube-8M release"); a
caption without it is arithmetic (parameter counts), true of any data. A stem missing here gets
its words and the data (:func:`caption`), so a new output is never shown without one.
"""

from __future__ import annotations

from afkit.report.columns import stem_words

CAPTIONS = {
    # 00 the data
    "00_splits": "Videos, files, labels and frames per split of {data}",
    "00_class_modalities": "Classes and labels per evidence modality (ground truth of {data})",
    "00_frame_counts": "Frames per video, {data}",
    "00_label_frequency": "Videos per class, most frequent first (train split of {data})",
    "00_vertical_counts": "Classes per vertical, {data}",
    # 01 features
    "01_build": "The feature store build per split ({data})",
    "01_verify": "The store checked against its manifest, per split ({data})",
    "01_mean_agreement": "Our frame means against the release's video-level means ({data})",
    "01_feature_distributions": "Distributions of the MF+STD features per modality ({data})",
    # 02 one run
    "02_history": "One training run, epoch by epoch: loss and validation metrics ({data})",
    "02_final_metrics": "Every metric of the run's final model on the validation split ({data})",
    "02_learning_curves": "Training loss and validation GAP@20 per epoch ({data})",
    # 03 parameters (arithmetic)
    "03_fc_late_hypotheses": "FC late fusion's parameters under each input hypothesis (arithmetic)",
    "03_attend_fusion_search": "Attend-Fusion configurations within 1% of 72M (arithmetic)",
    "03_models_paper": "Every model at paper size: parameters and FLOPs (arithmetic)",
    "03_models_cpu": "Every model at cpu-profile size: parameters and FLOPs (arithmetic)",
    "03_profile_widths": "The widths of each profile, derived from the paper's (arithmetic)",
    "03_readings": "Each reading of the paper's attention at paper size (arithmetic)",
    "03_width_sweep": "Parameters against width at paper size (arithmetic)",
    "03_parameters_vs_width": "Parameters against width at paper size, with the paper's two "
    "sizes marked (arithmetic)",
    # 04 comparison
    "04_comparison": "Every arm on the test split of {data}: size, tuned learning rate, "
    "seeds and metrics (mean and spread over seeds)",
    "04_intervals": "Paired bootstrap differences on the test videos of {data}, "
    "Attend-Fusion minus FC late fusion (95% intervals)",
    "04_runs": "Every training run of notebook 04 (each seed and learning rate; {data})",
    "04_search": "The learning-rate search at seed 0 on the validation split ({data})",
    "04_comparison_f1": "Test micro-F1 per arm (validate-chosen threshold) on {data}, "
    "mean over seeds with the spread",
    # 05 ablation
    "05_fusion_ablation": "Fusion variants with and without attention, test split of {data}",
    "05_runs": "Every training run of notebook 05 ({data})",
    # 06 attention configurations
    "06_attention_config": "Attention configurations on the test split of {data}",
    "06_runs": "Every training run of notebook 06 ({data})",
    "06_pareto_params": "Test GAP@20 against parameters per attention configuration ({data}); "
    "the Pareto front is drawn only where a member of it differs from the default Attend-Fusion "
    "beyond notebook 04's seed noise (the figure says which)",
    "06_pareto_flops": "Test GAP@20 against FLOPs per attention configuration ({data})",
    "06_pareto_paper_size": "Test GAP@20 against the parameters each configuration would have "
    "at paper size ({data} for the scores)",
    # 07 vocabulary
    "07_vocabulary_scaling": "Size, head share, F1 and GAP@20 per vocabulary size ({data})",
    "07_vocabulary_f1": "Test micro-F1 per vocabulary size ({data})",
    "07_vocabulary_gap": "Test GAP@20 per vocabulary size ({data})",
    "07_vocabulary_head_share": "The classifier head's share of parameters per vocabulary size "
    "(arithmetic)",
    # 08 interpretability
    "08_models": "The frame world's models: the frame-level attention model, its mean-pooling "
    "control, the video-level Attend-Fusion and the learned rule's reference ({data})",
    "08_evidence_auroc": "How well each explanation finds the true evidence frames: mean AUROC "
    "with intervals over videos, beside the uniform and random baselines, against the ground "
    "truth of {data}",
    "08_deletion": "Deleting the top-ranked frames against as many random ones, per number of "
    "frames deleted ({data})",
    "08_attention_entropy": "Entropy of the attention per head and modality ({data})",
    "08_modality_agreement": "Attributed modality against the true one, frame level: balanced "
    "accuracy (chance 0.5) with the base rate beside it ({data})",
    "08_modality_agreement_video_level": "Attributed modality against the true one, video level "
    "({data})",
    "08_timeline": "Attention over the frames of three videos (the 25th, 50th and 75th percentile "
    "of per-video attention AUROC) against the frames that carry their evidence ({data})",
    "08_modality_share": "Visual share of the attribution per true modality, frame level ({data})",
    "08_modality_share_video_level": "Visual share of the attribution per true modality, video "
    "level ({data})",
    "08_token_readings": "The video-level attention weights that read directly (modality tokens, "
    "MF/STD tokens) per class, against the truth ({data})",
    # 09 claim map
    "09_claim_map": "Attend-Fusion minus FC late fusion (test micro-F1 and GAP@20, points, 95% "
    "paired intervals) against training videos a class, one row per world and baseline "
    "(synthetic worlds only)",
    "09_claim_map_worlds": "The synthetic worlds: training-set size, batch and generator settings",
    "09_claim_map_prediction": "The size axis read at the data at hand's videos a class, beside "
    "the difference notebook 04 measured on {data}",
    # 10 readings
    "10_readings": "Each reading of the paper's attention, on against off, test split of {data}",
    "10_arms": "Every arm of notebook 10 on the test split of {data}",
    "10_runs": "Every training run of notebook 10 ({data})",
    "10_readings_paper": "Each reading at paper size: parameters against the paper's 72M "
    "(arithmetic)",
    "10_readings_gap_vs_params": "Test GAP@20 against parameters per reading, attention on and "
    "off ({data})",
}

DATA_WORDS = {
    "synthetic": "the synthetic set",
    "real": "the YouTube-8M release",
}


def caption(stem: str, source: str | None) -> str:
    """What the table or figure ``stem`` shows, and on what data (``source`` of run.json)."""
    data = DATA_WORDS.get(source or "", "data of an unrecorded source")
    text = CAPTIONS.get(stem)
    if text is None:
        return f"{stem_words(stem).capitalize()} ({data})"
    return text.format(data=data)
