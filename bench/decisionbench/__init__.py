"""The decision benchmark behind ``bench/decisions.py`` (see ``bench/README.md``).

One module per part of a run:

- ``common``: paths, sizes, targets, the children's environment, percentiles;
- ``procs``: child processes and ``/proc`` accounting (CPU, memory, readiness);
- ``home``: the temporary home (fixtures, models, secrets), request bodies, an API key;
- ``wrk`` and ``loadgen``: the load generators (wrk's Lua script; the Python generator child);
- ``scenarios``: glassbox and mlflow servers driven and measured;
- ``rss`` and ``micro``: the child modes (RSS per model; the service timed in-process);
- ``logcheck``: verify-log on the run's log and on a tampered copy;
- ``report``: the Markdown table;
- ``main``: the command line and the dispatch to the child modes.
"""

__all__: list[str] = []
