"""Models: the fully connected baselines and the starter code's references (``baselines``),
Attend-Fusion (``attend_fusion``), the registry and profiles (``registry``), and the 341M / 72M
parameter reconstruction (``reconstruction``). Models do no I/O.

The registry's API is importable from here (``afkit.models.build``, ``list_models``,
``count_parameters``, ...).

May import: core (and torch).
"""

from afkit.models.registry import (  # noqa: F401  (the registry's public API)
    PROFILES,
    build,
    config_class,
    config_dict,
    count_parameters,
    describe_models,
    example_inputs,
    forward_flops,
    input_kind,
    list_models,
    model_config,
    model_from_config,
    parameter_breakdown,
    scaled_profile,
)
