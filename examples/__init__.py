"""Example platform specs, shipped with the package (``skyrelay.examples``).

``platform.yaml`` is the default spec of this repository (what ``make synth`` builds);
``minimal.yaml`` is the smallest useful one. From an installed skyrelay::

    from importlib import resources
    text = resources.files("skyrelay.examples").joinpath("minimal.yaml").read_text()
"""
