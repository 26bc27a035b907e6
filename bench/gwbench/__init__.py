"""Gateway benchmark harness: upstream, load generator, contenders, report.

The entry point is ``bench/gateway_bench.py`` (``make bench``); this package holds its parts,
one job per module:

- :mod:`gwbench.procs`: start, probe, measure and stop child processes (process groups).
- :mod:`gwbench.upstream`: the static nginx upstream and the nginx ``proxy_pass`` floor.
- :mod:`gwbench.wrk`: the wrk load generator, its Lua script and its JSON output.
- :mod:`gwbench.ttfb`: a raw-socket time-to-first-body-byte measurer for SSE streams.
- :mod:`gwbench.contenders`: direct, nginx, skyrelay gateway and LiteLLM, behind one interface.
- :mod:`gwbench.litellm`: the pinned LiteLLM proxy in its own virtual environment.
- :mod:`gwbench.report` and :mod:`gwbench.plot`: the Markdown table, targets and the PNG plot.
- :mod:`gwbench.runner`: one run (every contender, every concurrency) and the soak.
"""
