"""Studies: the notebooks' experiments. Running arms under the protocol (``experiments``), the
arms of each notebook (``arms``), the computed answer sentences (``answers``), and the claim map
over synthetic worlds (``claim_map``).

May import: every layer below report.
"""
